// InstallSnapshot on real processes: a follower is killed (SIGKILL) while
// the other two take enough writes to snapshot several times and compact
// their logs far past it (--snapshot-entries-interval 200 keeps
// min(10000, 200 / 2) = 100 entries below each snapshot), then restarted on
// its data. The entries it lacks are gone from the leader's log, so it can
// only catch up by the leader's snapshot: its log says it installed one past
// where it stopped, it converges on the others' zxid and digest, every write
// acknowledged while it was down (and after) is readable on it, and killed
// once more it restarts from the snapshot it saved.
import { afterAll, expect, it } from 'vitest'
import { TestCluster, missingOn, type Acked } from '../support/cluster-process.ts'

let cluster: TestCluster | null = null
afterAll(async () => {
  await cluster?.stop()
})

/** Writes `count` znodes through `urls` in turn, `parallel` at a time; answers the acknowledged ones. */
async function writeMany(urls: readonly string[], prefix: string, count: number, parallel: number): Promise<Acked[]> {
  const acked: Acked[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const path = `/sc/${prefix}-${i}`
      const data = `${prefix}:${i}`
      const response = await fetch(`${urls[i % urls.length] as string}/znodes${path}`, { method: 'PUT', body: data, signal: AbortSignal.timeout(10_000) })
      await response.arrayBuffer()
      expect(response.status, `${path}`).toBe(201)
      acked.push({ path, data })
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  return acked
}

it('a follower that missed compacted entries catches up by the leader snapshot, with equal digests and every acknowledged write', async () => {
  cluster = await TestCluster.start({ size: 3, args: ['--snapshot-entries-interval', '200'] })
  const leader = await cluster.leader()
  const [behind, other] = cluster.ids.filter((id) => id !== leader) as [number, number]
  expect((await fetch(`${cluster.url(leader)}/znodes/sc`, { method: 'PUT', body: '' })).status).toBe(201)
  const before = await writeMany([cluster.url(leader), cluster.url(behind)], 'before', 50, 4)
  const atKill = await cluster.converged()
  const stoppedAt = atKill.find((status) => status.id === behind)?.appliedZxid ?? 0
  expect(cluster.nodes.get(behind)?.output() ?? '').not.toContain('installed the leader\'s snapshot')

  await cluster.nodes.get(behind)?.kill()
  // 1500 writes: seven snapshots at least, each compacting the log to 100 entries below it.
  const during = await writeMany([cluster.url(leader), cluster.url(other)], 'during', 1500, 8)
  const [leaderStatus] = await cluster.converged([leader, other])
  expect(leaderStatus?.appliedZxid).toBeGreaterThanOrEqual(stoppedAt + 1500)

  // Back on its data, with writes still coming: it must take a snapshot, then the entries after it.
  const restartedAt = Date.now()
  const node = await cluster.startReplica(behind)
  const after = writeMany([cluster.url(leader), cluster.url(other), cluster.url(behind)], 'after', 300, 4)
  const installed = await (async () => {
    const deadline = Date.now() + 20_000
    for (;;) {
      const match = /installed the leader's snapshot at zxid (\d+)/.exec(node.output())
      if (match !== null) return Number(match[1])
      if (Date.now() > deadline) throw new Error(`replica ${behind} installed no snapshot within 20 s:\n${node.output().slice(-3000)}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })()
  const installedMs = Date.now() - restartedAt
  const acked = [...before, ...during, ...(await after)]
  const statuses = await cluster.converged()
  console.log(
    `replica ${behind} stopped at zxid ${stoppedAt}, restarted ${(leaderStatus?.appliedZxid ?? 0) - stoppedAt} entries behind, ` +
      `installed the leader's snapshot at zxid ${installed} within ${installedMs} ms of its restart; all at zxid ${statuses[0]?.appliedZxid} ${Date.now() - restartedAt} ms after it`,
  )
  // The snapshot starts past everything the follower had, and past the leader's compacted log.
  expect(installed).toBeGreaterThan(stoppedAt + 100)
  expect(new Set(statuses.map((status) => status.digest)).size).toBe(1)
  expect(new Set(statuses.map((status) => status.znodes)).size).toBe(1)

  // Every acknowledged write is on the restarted follower, with its data.
  const missing = await missingOn(cluster.url(behind), acked)
  expect(missing.slice(0, 5), `replica ${behind} lacks ${missing.length} of ${acked.length} acknowledged writes`).toEqual([])

  // The installed snapshot was saved with the log after it: killed again, the follower restarts from its own disk.
  await node.kill()
  await cluster.startReplica(behind)
  const again = await cluster.converged()
  expect(new Set(again.map((status) => status.digest))).toEqual(new Set([statuses[0]?.digest]))
  expect(again[0]?.appliedZxid).toBe(statuses[0]?.appliedZxid)
}, 60_000)
