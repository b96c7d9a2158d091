// A 3-replica cluster of real processes: clients write through every
// replica while the leader is killed with SIGKILL. A new leader must serve
// writes within 2 s (the figure is printed), no acknowledged write may be
// lost, the old leader rejoins and catches up, and every replica ends with
// the same digest at the same zxid. Then the whole cluster is stopped and
// started again, and keeps everything.
import { afterAll, expect, it } from 'vitest'
import { TestCluster, missingOn, writer, type Acked } from '../support/cluster-process.ts'

let cluster: TestCluster | null = null
afterAll(async () => {
  await cluster?.stop()
})

it('survives SIGKILL of the leader under writes: a new leader within 2 s, nothing acknowledged lost, the old leader catches up', async () => {
  cluster = await TestCluster.start({ size: 3, args: ['--snapshot-entries-interval', '500'] })
  const first = await cluster.leader()
  expect((await fetch(`${cluster.url(first)}/znodes/fo`, { method: 'PUT', body: '' })).status).toBe(201)

  const acked: Acked[] = []
  const dead = new Set<number>()
  let isDone = false
  const live = (): string[] => (cluster as TestCluster).ids.filter((id) => !dead.has(id)).map((id) => (cluster as TestCluster).url(id))
  const writers = Array.from({ length: 8 }, (_, c) => writer(c, '/fo', live, acked, () => isDone, 5000))
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const ackedBeforeKill = acked.length
  expect(ackedBeforeKill).toBeGreaterThan(0)

  await (cluster.nodes.get(first) as { kill(): Promise<void> }).kill()
  dead.add(first)
  const killedAt = Date.now()
  const survivors = cluster.ids.filter((id) => id !== first)
  const second = await cluster.leader(survivors)
  // The new leader serves a write.
  const probe = await fetch(`${cluster.url(second)}/znodes/fo/probe`, { method: 'PUT', body: 'p' })
  expect(probe.status).toBe(201)
  const failoverMs = Date.now() - killedAt
  console.log(`leader ${first} killed: replica ${second} leads and has served a write ${failoverMs} ms later; ${ackedBeforeKill} writes acknowledged before the kill`)
  expect(failoverMs).toBeLessThan(2000)

  await new Promise((resolve) => setTimeout(resolve, 1000))
  // The old leader comes back on its data and catches up.
  await cluster.startReplica(first)
  dead.delete(first)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  isDone = true
  await Promise.all(writers)
  console.log(`${acked.length} writes acknowledged in all`)

  const statuses = await cluster.converged()
  expect(new Set(statuses.map((status) => status.digest)).size).toBe(1)
  expect(statuses.filter((status) => status.role === 'leader')).toHaveLength(1)
  // Every acknowledged write is on every replica, with its own data.
  for (const id of cluster.ids) {
    const missing = await missingOn(cluster.url(id), acked)
    expect(missing.slice(0, 5), `replica ${id} lacks ${missing.length} acknowledged writes`).toEqual([])
  }

  // The whole cluster stops and starts again, and keeps everything.
  await Promise.all([...cluster.nodes.values()].map((node) => node.stop()))
  await Promise.all(cluster.ids.map((id) => (cluster as TestCluster).startReplica(id)))
  await cluster.leader()
  const restarted = await cluster.converged()
  expect(new Set(restarted.map((status) => status.digest))).toEqual(new Set([statuses[0]?.digest]))
  for (const { path, data } of acked.slice(-20)) {
    expect(await (await fetch(`${cluster.url(first)}/znodes${path}?raw`)).text()).toBe(data)
  }
}, 90_000)
