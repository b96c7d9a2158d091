// 504 OperationTimeout for writes, on a node whose writes must be committed
// within 10 ms and whose disk (a failpoint) takes 30 ms per sync, so that a
// burst makes them late. The contract says a late write's outcome is unknown; what must
// never happen is that the replica stops or its log breaks. Regression: a
// late write used to be dropped from the queue after it had taken its zxid,
// leaving a gap in the log that the store refused, which stopped the process.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { call, type Reply } from '../support/http.ts'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'

const nodes: NodeProcess[] = []
let base = ''
beforeAll(async () => {
  nodes.push(await startNode())
  base = (nodes[0] as NodeProcess).url
})
afterAll(() => stopAll(nodes))

it('late writes of every kind are 504 OperationTimeout, and the replica and its log stay whole', async () => {
  expect((await call(base, 'PUT', '/znodes/late', { body: '' })).status).toBe(201)
  for (let i = 0; i < 25; i++) expect((await call(base, 'PUT', `/znodes/late/old${i}`, { body: '' })).status).toBe(201)
  const sessions: Array<{ id: number; secret: string }> = []
  for (let i = 0; i < 25; i++) sessions.push((await call(base, 'POST', '/sessions', { body: { timeoutMs: 40_000 } })).json)

  // The same node on a disk that takes 40 ms per sync, with writes due in 10 ms.
  const slow = await (nodes[0] as NodeProcess).restart({ args: ['--write-timeout-ms', '10'], env: { HERD_FAILPOINTS: 'sync-delay-ms=40' } })
  nodes.push(slow)
  base = slow.url
  // Warm connections, so that the burst arrives together.
  await Promise.all(Array.from({ length: 100 }, () => call(base, 'GET', '/health')))
  const kinds = ['PUT', 'DELETE', 'multi', 'createSession', 'closeSession'] as const
  const requests: Array<Promise<[string, Reply]>> = []
  for (let i = 0; i < 25; i++) {
    const session = sessions[i] as { id: number; secret: string }
    requests.push(call(base, 'PUT', `/znodes/late/new${i}`, { body: 'x' }).then((r) => ['PUT', r]))
    requests.push(call(base, 'DELETE', `/znodes/late/old${i}`).then((r) => ['DELETE', r]))
    requests.push(call(base, 'POST', '/multi', { body: { ops: [{ op: 'create', path: `/late/m${i}` }] } }).then((r) => ['multi', r]))
    requests.push(call(base, 'POST', '/sessions', { body: {} }).then((r) => ['createSession', r]))
    requests.push(call(base, 'POST', `/sessions/${session.id}/close`, { headers: { 'herd-session-secret': session.secret } }).then((r) => ['closeSession', r]))
  }
  const replies = await Promise.all(requests)
  for (const kind of kinds) {
    const statuses = replies.filter(([k]) => k === kind).map(([, r]) => r.status)
    expect(statuses, kind).toContain(504)
    for (const status of statuses) expect([200, 201, 504], kind).toContain(status)
  }
  for (const [, reply] of replies.filter(([, r]) => r.status === 504)) expect(reply.json.code).toBe('OperationTimeout')

  // The replica still answers; the late writes it kept are still written,
  // behind the burst. Once they have drained, a restart on a normal disk
  // replays the log to the same tree (plus the new leader's noop) and writes.
  let before = (await call(base, 'GET', '/cluster')).json
  for (let attempt = 0; attempt < 50; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    const now = (await call(base, 'GET', '/cluster')).json
    if (now.appliedZxid === before.appliedZxid) break
    before = now
  }
  const restarted = await slow.restart({ args: [], env: {} })
  nodes.push(restarted)
  const status = (await call(restarted.url, 'GET', '/cluster')).json
  expect({ appliedZxid: status.appliedZxid, digest: status.digest, znodes: status.znodes }).toEqual({
    appliedZxid: before.appliedZxid + 1,
    digest: before.digest,
    znodes: before.znodes,
  })
  expect([200, 201]).toContain((await call(restarted.url, 'PUT', '/znodes/late/after', { body: 'x' })).status)
})
