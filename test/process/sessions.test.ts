// Sessions on a real node with a 100 ms tick (timeouts clamped to 200..2000
// ms, as ZooKeeper's [2, 20] ticks): negotiation, heartbeats, the secret,
// getEphemerals, close deleting ephemerals at once, and expiry deleting them
// after the timeout, measured. ZOOKEEPER.md section 10.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { call, expectProblem, openStream, sleep, type Reply } from '../support/http.ts'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { parseSse } from '../support/openapi-validator.ts'

const tickMs = 100
const timeoutMinMs = 2 * tickMs
const timeoutMaxMs = 20 * tickMs
const checkIntervalMs = 50
/**
 * The expiry tests' timeout: well above the minimum, so that a slow start of
 * the test process cannot expire a session before the test heartbeats it.
 */
const leaseMs = 500

let node: NodeProcess
let base = ''
beforeAll(async () => {
  node = await startNode({ args: ['--tick-ms', String(tickMs), '--session-check-interval-ms', String(checkIntervalMs)] })
  base = node.url
})
afterAll(() => stopAll([node]))

interface Session {
  readonly id: number
  readonly secret: string
  readonly timeoutMs: number
  readonly headers: Record<string, string>
}

const post = (target: string, init: { body?: object | string; headers?: Record<string, string> } = {}): Promise<Reply> => call(base, 'POST', target, init)

async function openSession(timeoutMs?: number): Promise<Session> {
  const reply = await post('/sessions', timeoutMs === undefined ? {} : { body: { timeoutMs } })
  expect(reply.status, reply.text).toBe(201)
  const { id, secret } = reply.json
  return { id, secret, timeoutMs: reply.json.timeoutMs, headers: { 'herd-session': String(id), 'herd-session-secret': secret } }
}

const secretOf = (session: Session): Record<string, string> => ({ 'herd-session-secret': session.secret })

async function createEphemeral(session: Session, path: string): Promise<Reply> {
  const reply = await call(base, 'PUT', `/znodes${path}?ephemeral`, { body: '', headers: session.headers })
  expect(reply.status, reply.text).toBe(201)
  return reply
}

describe('open', () => {
  // First in the file: no session of an earlier test can expire meanwhile and move the count.
  it('bad requests are refused and open nothing', async () => {
    const before = (await call(base, 'GET', '/cluster')).json.sessions
    const zxidBefore = (await call(base, 'GET', '/health')).zxid
    await expectProblem(post('/sessions', { body: { timeoutMs: 'long' } }), 400, 'BadArguments')
    await expectProblem(post('/sessions', { body: { timeoutMs: 0 } }), 400, 'BadArguments')
    await expectProblem(post('/sessions', { body: { timeoutMs: 1.5 } }), 400, 'BadArguments')
    await expectProblem(post('/sessions', { body: { timeout: 1000 } }), 400, 'BadArguments')
    await expectProblem(post('/sessions', { body: '{"timeoutMs":1000}', headers: { 'content-type': 'text/plain' } }), 415, 'UnsupportedMediaType')
    await expectProblem(post('/sessions', { body: { timeoutMs: 1000 }, headers: { 'idempotency-key': 'k1' } }), 400, 'BadArguments')
    await expectProblem(post('/sessions?timeoutMs=1000'), 400, 'BadArguments')
    expect((await call(base, 'GET', '/cluster')).json.sessions).toBe(before)
    expect((await call(base, 'GET', '/health')).zxid).toBe(zxidBefore)
  })

  it('the requested timeout is clamped to [2, 20] ticks; without one the session gets the maximum', async () => {
    const cases: Array<[object | undefined, number]> = [
      [{ timeoutMs: 1 }, timeoutMinMs],
      [{ timeoutMs: 500 }, 500],
      [{ timeoutMs: 86_400_000 }, timeoutMaxMs],
      [{}, timeoutMaxMs],
      [undefined, timeoutMaxMs],
    ]
    for (const [body, expected] of cases) {
      const reply = await post('/sessions', body === undefined ? {} : { body })
      expect(reply.status).toBe(201)
      expect(reply.json.timeoutMs, JSON.stringify(body)).toBe(expected)
      expect(reply.header('location')).toBe(`/sessions/${reply.json.id}`)
      // A session id is the zxid of its creation.
      expect(reply.json.zxid).toBe(reply.json.id)
      expect(reply.json.secret.length).toBeGreaterThanOrEqual(16)
    }
  })
})

describe('heartbeat and the secret', () => {
  it('a heartbeat with the secret renews the session and says its timeout', async () => {
    const session = await openSession(1000)
    const reply = await post(`/sessions/${session.id}/heartbeat`, { headers: secretOf(session) })
    expect(reply.status).toBe(200)
    expect(reply.json).toEqual({ id: session.id, timeoutMs: 1000 })
  })

  it('a wrong or missing secret is 401 AuthFailed, on every session route and on writes', async () => {
    const session = await openSession()
    const wrong = { 'herd-session-secret': 'not-the-secret' }
    await expectProblem(post(`/sessions/${session.id}/heartbeat`, { headers: wrong }), 401, 'AuthFailed')
    await expectProblem(post(`/sessions/${session.id}/heartbeat`), 401, 'AuthFailed')
    await expectProblem(call(base, 'GET', `/sessions/${session.id}/ephemerals`, { headers: wrong }), 401, 'AuthFailed')
    await expectProblem(post(`/sessions/${session.id}/close`, { headers: wrong }), 401, 'AuthFailed')
    await expectProblem(call(base, 'PUT', '/znodes/s-auth?ephemeral', { body: '', headers: { 'herd-session': String(session.id), ...wrong } }), 401, 'AuthFailed')
    await expectProblem(call(base, 'PUT', '/znodes/s-auth?ephemeral', { body: '', headers: { 'herd-session': String(session.id) } }), 401, 'AuthFailed')
    await call(base, 'PUT', '/znodes/s-auth-keep', { body: '', headers: { 'if-none-match': '*' } })
    await expectProblem(call(base, 'DELETE', '/znodes/s-auth-keep', { headers: { 'herd-session': String(session.id), ...wrong } }), 401, 'AuthFailed')
    await expectProblem(post('/multi', { body: { ops: [{ op: 'delete', path: '/s-auth-keep' }] }, headers: { 'herd-session': String(session.id), ...wrong } }), 401, 'AuthFailed')
    expect((await call(base, 'GET', '/znodes/s-auth-keep?stat')).status).toBe(200)
    await expectProblem(call(base, 'GET', '/znodes/s-auth'), 404, 'NoNode')
    // The refused close closed nothing.
    expect((await post(`/sessions/${session.id}/heartbeat`, { headers: secretOf(session) })).status).toBe(200)
  })

  it('an unknown session is 410 SessionExpired; a malformed id is 400', async () => {
    const unknown = 9_000_000_000
    await expectProblem(post(`/sessions/${unknown}/heartbeat`, { headers: { 'herd-session-secret': 'x' } }), 410, 'SessionExpired')
    await expectProblem(post(`/sessions/${unknown}/close`, { headers: { 'herd-session-secret': 'x' } }), 410, 'SessionExpired')
    await expectProblem(call(base, 'GET', `/sessions/${unknown}/ephemerals`, { headers: { 'herd-session-secret': 'x' } }), 410, 'SessionExpired')
    await expectProblem(call(base, 'PUT', '/znodes/s-unknown', { body: '', headers: { 'herd-session': String(unknown), 'herd-session-secret': 'x' } }), 410, 'SessionExpired')
    await expectProblem(post('/sessions/abc/heartbeat', { headers: { 'herd-session-secret': 'x' } }), 400, 'BadArguments')
    await expectProblem(post('/sessions/0/heartbeat', { headers: { 'herd-session-secret': 'x' } }), 400, 'BadArguments')
    await expectProblem(post('/sessions/-1/close', { headers: { 'herd-session-secret': 'x' } }), 400, 'BadArguments')
    await expectProblem(call(base, 'GET', '/sessions/1e3/ephemerals', { headers: { 'herd-session-secret': 'x' } }), 400, 'BadArguments')
    await expectProblem(call(base, 'PUT', '/znodes/s-unknown', { body: '', headers: { 'herd-session': '01', 'herd-session-secret': 'x' } }), 400, 'BadArguments')
  })
})

describe('ephemerals', () => {
  it('GET /sessions/{id}/ephemerals lists the session ephemerals, sorted, filtered by prefix', async () => {
    const session = await openSession()
    const other = await openSession()
    await call(base, 'PUT', '/znodes/s-eph', { body: '', headers: { 'if-none-match': '*' } })
    for (const path of ['/s-eph/b', '/s-eph/a', '/s-eph-x']) await createEphemeral(session, path)
    await createEphemeral(other, '/s-eph/other')
    const all = await call(base, 'GET', `/sessions/${session.id}/ephemerals`, { headers: secretOf(session) })
    expect(all.json).toEqual({ id: session.id, paths: ['/s-eph-x', '/s-eph/a', '/s-eph/b'] })
    const prefixed = await call(base, 'GET', `/sessions/${session.id}/ephemerals?prefix=${encodeURIComponent('/s-eph/')}`, { headers: secretOf(session) })
    expect(prefixed.json.paths).toEqual(['/s-eph/a', '/s-eph/b'])
    const since = await call(base, 'GET', `/sessions/${session.id}/ephemerals?minZxid=${all.zxid}`, { headers: secretOf(session) })
    expect(since.json.paths).toEqual(all.json.paths)
    await expectProblem(call(base, 'GET', `/sessions/${session.id}/ephemerals?bogus=1`, { headers: secretOf(session) }), 400, 'BadArguments')
  })
})

describe('close', () => {
  it('close deletes the session ephemerals at once, fires their watches, and ends the session', async () => {
    const session = await openSession()
    await createEphemeral(session, '/s-close-a')
    await createEphemeral(session, '/s-close-b')
    const watch = await openStream(base, '/znodes/s-close-a?watch=data')
    expect(watch.status).toBe(200)
    const closed = await post(`/sessions/${session.id}/close`, { headers: secretOf(session) })
    expect(closed.status).toBe(200)
    expect(closed.json.id).toBe(session.id)
    expect([...closed.json.deleted].sort()).toEqual(['/s-close-a', '/s-close-b'])
    // No waiting: gone in the very next read.
    await expectProblem(call(base, 'GET', '/znodes/s-close-a?stat'), 404, 'NoNode')
    await expectProblem(call(base, 'GET', '/znodes/s-close-b?stat'), 404, 'NoNode')
    const [event] = parseSse(await watch.ended()).events
    expect(JSON.parse(event?.data ?? 'null')).toMatchObject({ type: 'NodeDeleted', path: '/s-close-a', zxid: closed.json.zxid })
  })

  it('a closed session is 410 SessionExpired everywhere: heartbeat, close, ephemerals, and writes naming it', async () => {
    const session = await openSession()
    await call(base, 'PUT', '/znodes/s-closed', { body: '', headers: { 'if-none-match': '*' } })
    expect((await post(`/sessions/${session.id}/close`, { headers: secretOf(session) })).status).toBe(200)
    await expectProblem(post(`/sessions/${session.id}/heartbeat`, { headers: secretOf(session) }), 410, 'SessionExpired')
    await expectProblem(post(`/sessions/${session.id}/close`, { headers: secretOf(session) }), 410, 'SessionExpired')
    await expectProblem(call(base, 'GET', `/sessions/${session.id}/ephemerals`, { headers: secretOf(session) }), 410, 'SessionExpired')
    await expectProblem(call(base, 'PUT', '/znodes/s-closed', { body: 'x', headers: session.headers }), 410, 'SessionExpired')
    await expectProblem(call(base, 'PUT', '/znodes/s-closed-eph?ephemeral', { body: '', headers: session.headers }), 410, 'SessionExpired')
    await expectProblem(call(base, 'DELETE', '/znodes/s-closed', { headers: session.headers }), 410, 'SessionExpired')
    await expectProblem(post('/multi', { body: { ops: [{ op: 'delete', path: '/s-closed' }] }, headers: session.headers }), 410, 'SessionExpired')
    expect((await call(base, 'GET', '/znodes/s-closed')).json.data).toBe('')
  })
})

describe('expiry', () => {
  it('heartbeats at a third of the timeout keep the session and its ephemerals alive past the timeout', async () => {
    const session = await openSession(leaseMs)
    await createEphemeral(session, '/s-alive')
    const endMs = performance.now() + 3 * leaseMs
    while (performance.now() < endMs) {
      expect((await post(`/sessions/${session.id}/heartbeat`, { headers: secretOf(session) })).status).toBe(200)
      await sleep(leaseMs / 3)
    }
    expect((await call(base, 'GET', '/znodes/s-alive?stat')).json.stat.ephemeralOwner).toBe(session.id)
    await post(`/sessions/${session.id}/close`, { headers: secretOf(session) })
  })

  it('a session that stops heartbeating expires after its timeout: ephemerals deleted, then 410', async () => {
    const session = await openSession(leaseMs)
    await createEphemeral(session, '/s-expire')
    const watch = await openStream(base, '/znodes/s-expire?watch=exists')
    expect(watch.status).toBe(200)
    const lastSentMs = performance.now()
    expect((await post(`/sessions/${session.id}/heartbeat`, { headers: secretOf(session) })).status).toBe(200)
    const lastAnsweredMs = performance.now()
    await watch.ended(leaseMs * 10)
    const deletedMs = performance.now()
    const [event] = parseSse(watch.text()).events
    expect(JSON.parse(event?.data ?? 'null')).toMatchObject({ type: 'NodeDeleted', path: '/s-expire' })
    // Not before the timeout (the lease started no earlier than the heartbeat was sent) ...
    expect(deletedMs - lastSentMs).toBeGreaterThanOrEqual(leaseMs)
    // ... and within timeout + check interval + slack (one more interval for the
    // deadline bucket's rounding, and 150 ms for the write and the event).
    expect(deletedMs - lastAnsweredMs).toBeLessThanOrEqual(leaseMs + checkIntervalMs + checkIntervalMs + 150)
    await expectProblem(call(base, 'GET', '/znodes/s-expire?stat'), 404, 'NoNode')
    await expectProblem(post(`/sessions/${session.id}/heartbeat`, { headers: secretOf(session) }), 410, 'SessionExpired')
    await expectProblem(call(base, 'PUT', '/znodes/s-expire?ephemeral', { body: '', headers: session.headers }), 410, 'SessionExpired')
  })
})
