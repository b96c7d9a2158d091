// GET /cluster on a 3-replica cluster: every replica shows every member with
// its role, term, zxids, lag and digest (a stopped one as unreachable); and a
// linearizable read on a follower sees a write acknowledged by the leader
// just before, as sync does.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { TestCluster } from '../support/cluster-process.ts'
import { openStream } from '../support/http.ts'

let cluster: TestCluster
let leader = 0
beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 })
  leader = await cluster.leader()
})
afterAll(() => cluster?.stop())

interface Report {
  id: number
  clientUrl: string
  role: string
  term: number
  commitZxid: number
  appliedZxid: number
  lag: number
  digest: string | null
  cutOff: boolean | null
}

it('lists every member from any replica, with one leader and equal digests once converged', async () => {
  await fetch(`${cluster.url(leader)}/znodes/status`, { method: 'PUT', body: 'x' })
  await cluster.converged()
  for (const id of cluster.ids) {
    const body = (await (await fetch(`${cluster.url(id)}/cluster`)).json()) as { id: number; replicas: Report[] }
    expect(body.id).toBe(id)
    expect(body.replicas.map((report) => report.id).sort()).toEqual([1, 2, 3])
    expect(body.replicas[0]?.id).toBe(id)
    expect(body.replicas.filter((report) => report.role === 'leader').map((report) => report.id)).toEqual([leader])
    expect(new Set(body.replicas.map((report) => report.digest)).size).toBe(1)
    for (const report of body.replicas) {
      expect(report.clientUrl).toBe(cluster.url(report.id))
      expect(report.lag).toBe(0)
      expect(report.cutOff).toBe(false)
    }
  }
})

it('reads linearizably on a follower: a write acknowledged anywhere before is seen', async () => {
  const follower = cluster.ids.find((id) => id !== leader) as number
  for (let i = 0; i < 20; i++) {
    const written = await fetch(`${cluster.url(leader)}/znodes/lin`, { method: 'PUT', body: `v${i}` })
    expect([200, 201]).toContain(written.status)
    const read = await fetch(`${cluster.url(follower)}/znodes/lin?raw&linearizable`)
    expect(await read.text()).toBe(`v${i}`)
  }
  const before = await cluster.status(leader)
  const synced = (await (await fetch(`${cluster.url(follower)}/sync`, { method: 'POST' })).json()) as { zxid: number }
  expect(synced.zxid).toBeGreaterThanOrEqual(before?.commitZxid ?? Infinity)
})

it('fires a watch held by a follower when the follower applies a write made through the leader', async () => {
  const follower = cluster.ids.find((id) => id !== leader) as number
  await fetch(`${cluster.url(leader)}/znodes/watched`, { method: 'PUT', body: 'v0' })
  const read = await fetch(`${cluster.url(follower)}/znodes/watched?linearizable`)
  const zxid = Number(read.headers.get('herd-zxid'))
  const stream = await openStream(cluster.url(follower), `/znodes/watched?watch=data&zxid=${zxid}`)
  expect(stream.status).toBe(200)
  const written = (await (await fetch(`${cluster.url(leader)}/znodes/watched`, { method: 'PUT', body: 'v1' })).json()) as { zxid: number }
  const text = await stream.ended()
  expect(text).toContain('event: NodeDataChanged')
  expect(text).toContain(`id: ${written.zxid}\n`)
})

it('shows a stopped replica as unreachable', async () => {
  const follower = cluster.ids.find((id) => id !== leader) as number
  await cluster.nodes.get(follower)?.kill()
  const body = (await (await fetch(`${cluster.url(leader)}/cluster`)).json()) as { replicas: Report[] }
  const report = body.replicas.find((each) => each.id === follower)
  expect(report).toMatchObject({ role: 'unreachable', digest: null, cutOff: null })
  // The other two still commit.
  expect((await fetch(`${cluster.url(leader)}/znodes/after-stop`, { method: 'PUT', body: 'x' })).status).toBe(201)
})

it('answers ?local with its own figures alone, at once, while a peer does not answer', async () => {
  const paused = cluster.ids.find((id) => id !== leader && cluster.nodes.get(id)?.child.exitCode === null) as number
  const child = cluster.nodes.get(paused)?.child
  child?.kill('SIGSTOP')
  try {
    const startedMs = performance.now()
    const response = await fetch(`${cluster.url(leader)}/cluster?local`)
    const elapsedMs = performance.now() - startedMs
    const body = (await response.json()) as { id: number; role: string; appliedZxid: number; digest: string; replicas: Report[] }
    expect(response.status).toBe(200)
    expect(body.replicas).toEqual([{ id: leader, clientUrl: cluster.url(leader), role: 'leader', term: expect.any(Number), commitZxid: expect.any(Number), appliedZxid: body.appliedZxid, lag: expect.any(Number), digest: body.digest, cutOff: false }])
    // The full answer waits up to a second for the paused peer; ?local asks nobody.
    expect(elapsedMs).toBeLessThan(900)
    const full = (await (await fetch(`${cluster.url(leader)}/cluster`)).json()) as { replicas: Report[] }
    expect(full.replicas.find((report) => report.id === paused)?.role).toBe('unreachable')
    expect((await fetch(`${cluster.url(leader)}/cluster?local=maybe`)).status).toBe(400)
  } finally {
    child?.kill('SIGCONT')
  }
})
