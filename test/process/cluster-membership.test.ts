// Membership at run time, one replica at a time through the log: a 3-voter
// cluster grows to 5 (each new replica started with --join, then added with
// POST /cluster/members on any replica; one not running is refused, as the
// leader cannot catch it up first) and shrinks back to 3 (the leader
// itself removed first), while clients keep writing. Every acknowledged write
// is on every remaining replica and their digests agree.
import { afterAll, expect, it } from 'vitest'
import { TestCluster } from '../support/cluster-process.ts'

let cluster: TestCluster | null = null
afterAll(async () => {
  await cluster?.stop()
})

interface Members {
  zxid: number
  members: Array<{ id: number; host: string; port: number }>
}

async function change(url: string, method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<Members> {
  // Another change (or a new leader's first entry) may still be committing: 429, retry.
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const json = (await response.json()) as Members & { code?: string }
    if (response.status === 200) return json
    if (attempt > 50 || !['Throttled', 'ConnectionLoss'].includes(json.code ?? '')) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

it('grows from 3 voters to 5 and back to 3 without stopping writes', async () => {
  // A shorter write timeout bounds how long the leader tries to catch up a replica that is not running.
  cluster = await TestCluster.start({ size: 3, spares: 2, args: ['--write-timeout-ms', '3000'] })
  const c = cluster
  const first = await c.leader()
  const acked: string[] = []
  let failed = 0
  let isDone = false
  const removed = new Set<number>()
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; !isDone; i++) {
      const live = c.ids.filter((id) => !removed.has(id))
      const url = c.url(live[(w + i) % live.length] as number)
      try {
        const response = await fetch(`${url}/znodes/m-${w}-${i}`, { method: 'PUT', body: 'x', signal: AbortSignal.timeout(5000) })
        await response.arrayBuffer()
        if (response.status === 201) acked.push(`/m-${w}-${i}`)
        else failed++
      } catch {
        failed++
      }
    }
  })

  const follower = c.ids.find((id) => id !== first && id <= 3) as number
  // Replica 4 is not running yet: the leader cannot catch it up, so it is
  // not added (through a follower, which passes the refusal on).
  const early = await fetch(`${c.url(follower)}/cluster/members`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 4, host: '127.0.0.1', port: c.peerPort(4) }) })
  expect(early.status).toBe(409)
  expect(((await early.json()) as { code: string }).code).toBe('NewConfigNoQuorum')
  expect(((await c.status(first)) as unknown as { replicas: unknown[] }).replicas).toHaveLength(3)

  await c.join(4)
  const four = await change(c.url(follower), 'POST', '/cluster/members', { id: 4, host: '127.0.0.1', port: c.peerPort(4) })
  expect(four.members.map((member) => member.id).sort()).toEqual([1, 2, 3, 4])
  await c.join(5)
  const five = await change(c.url(first), 'POST', '/cluster/members', { id: 5, host: '127.0.0.1', port: c.peerPort(5) })
  expect(five.members.map((member) => member.id).sort()).toEqual([1, 2, 3, 4, 5])
  const grown = await c.converged([1, 2, 3, 4, 5])
  expect(new Set(grown.map((status) => status.digest)).size, JSON.stringify(grown)).toBe(1)
  const view = (await (await fetch(`${c.url(5)}/cluster`)).json()) as { replicas: Array<{ id: number; role: string }> }
  expect(view.replicas.map((report) => report.id).sort()).toEqual([1, 2, 3, 4, 5])

  // Back to three: the leader goes first, then one of the new ones.
  const removedLeader = await change(c.url(5), 'DELETE', `/cluster/members/${first}`)
  expect(removedLeader.members.map((member) => member.id)).not.toContain(first)
  removed.add(first)
  const remaining = [1, 2, 3, 4, 5].filter((id) => id !== first)
  const second = await c.leader(remaining)
  expect(second).not.toBe(first)
  await c.nodes.get(first)?.stop()
  const other = remaining.find((id) => id !== second) as number
  await change(c.url(second), 'DELETE', `/cluster/members/${other}`)
  removed.add(other)
  await c.nodes.get(other)?.stop()
  const final = remaining.filter((id) => id !== other)
  expect(final).toHaveLength(3)

  await new Promise((resolve) => setTimeout(resolve, 500))
  isDone = true
  await Promise.all(writers)
  console.log(`${acked.length} writes acknowledged while the voters went 3 -> 5 -> 3 (${failed} not acknowledged, retried by the writers)`)
  expect(acked.length).toBeGreaterThan(100)
  const statuses = await c.converged(final)
  expect(new Set(statuses.map((status) => status.digest)).size).toBe(1)
  for (const id of final) {
    const missing: string[] = []
    for (const path of acked) if ((await fetch(`${c.url(id)}/znodes${path}?stat`)).status !== 200) missing.push(path)
    expect(missing.slice(0, 5), `replica ${id} lacks ${missing.length} acknowledged writes`).toEqual([])
  }
  // Still a working cluster of three.
  expect((await fetch(`${c.url(final[0] as number)}/znodes/after`, { method: 'PUT', body: 'x' })).status).toBe(201)
}, 90_000)
