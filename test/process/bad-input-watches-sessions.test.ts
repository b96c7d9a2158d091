// Watch streams and sessions under bad input (RELIABILITY.md, "Bad inputs
// ...": SSE, auth; "What the HTTP gateway must get right", 4 and 6): the
// per-client stream cap, Last-Event-ID that is garbage, compacted or in
// the future, caller identity that headers cannot spoof, and session ids
// and secrets that are wrong, guessed or not numbers at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { fetchProblem, rawExchange, requestBytes, RawConnection, treeState } from '../support/raw-http.ts'
import { badInput } from './fixtures/bad-input.ts'

const streamsPerClientMax = 3
const watchHistoryMax = 5
const readWaitMsMax = 500
const idempotencyKeyBytesMax = 32

let node: NodeProcess
const check = badInput(() => node)

beforeAll(async () => {
  node = await startNode({
    args: [
      '--watch-streams-per-client-max', String(streamsPerClientMax),
      '--watch-history-max', String(watchHistoryMax),
      '--read-wait-ms-max', String(readWaitMsMax),
      '--idempotency-key-bytes-max', String(idempotencyKeyBytesMax),
    ],
  })
  expect((await fetch(`${node.url}/znodes/w`, { method: 'PUT', body: 'w0' })).status).toBe(201)
})
afterAll(() => stopAll([node]))

const badArguments = { status: 400, code: 'BadArguments' } as const

/** Opens a watch stream and keeps it open; its status and a way to close it. */
async function openWatch(headers: Record<string, string> = {}): Promise<{ status: number; close(): void; response: Response }> {
  const controller = new AbortController()
  const response = await fetch(`${node.url}/znodes/w?watch=data`, { headers, signal: controller.signal })
  return { status: response.status, response, close: () => controller.abort() }
}

describe('watch streams', () => {
  it(`more than ${streamsPerClientMax} streams from one client is 429 Throttled, and X-Forwarded-For cannot dodge it`, async () => {
    const open = await Promise.all(Array.from({ length: streamsPerClientMax }, () => openWatch()))
    try {
      expect(open.map((stream) => stream.status)).toEqual(Array(streamsPerClientMax).fill(200))
      const problem = await check.rejects('one stream too many', async () => (await openWatch()).response, { status: 429, code: 'Throttled' })
      expect(problem.headers['retry-after']).toBeDefined()
      // The client is its socket's address: forwarding headers name nobody.
      for (const headers of [
        { 'x-forwarded-for': '10.1.2.3' },
        { 'x-real-ip': '10.1.2.4' },
        { forwarded: 'for=10.1.2.5' },
        { 'x-forwarded-for': '10.1.2.6, 127.0.0.2', 'x-real-ip': '10.1.2.6', 'x-client-ip': '10.1.2.6', 'true-client-ip': '10.1.2.6' },
      ]) {
        await check.rejects(`spoofed ${JSON.stringify(headers)}`, async () => (await openWatch(headers)).response, { status: 429, code: 'Throttled' })
      }
      await check.rejectsRaw('spoofed, over a raw socket', { target: '/znodes/w?watch=data', headers: [['X-Forwarded-For', '192.0.2.1'], ['X-Real-IP', '192.0.2.1']] }, { status: 429, code: 'Throttled' })
    } finally {
      for (const stream of open) stream.close()
    }
    // Closing streams gives their places back.
    const deadline = Date.now() + 3000
    let again = await openWatch()
    while (again.status === 429 && Date.now() < deadline) {
      await again.response.body?.cancel()
      await new Promise((resolve) => setTimeout(resolve, 50))
      again = await openWatch()
    }
    expect(again.status).toBe(200)
    again.close()
  })

  it('Last-Event-ID that is not a zxid is 400', async () => {
    for (const id of ['abc', '-1', '1.5', '1e3', '0x10', '12abc', '+3', '99999999999999999999', '9007199254740992']) {
      await check.rejects(`Last-Event-ID ${id}`, () => fetch(`${node.url}/znodes/w?watch=data`, { headers: { 'last-event-id': id } }), badArguments)
    }
    await check.rejects('?zxid=-1', () => fetch(`${node.url}/znodes/w?watch=data&zxid=-1`), badArguments)
    await check.rejects('?watch=bogus', () => fetch(`${node.url}/znodes/w?watch=bogus`), badArguments)
    await check.rejects('?watch with ?stat', () => fetch(`${node.url}/znodes/w?watch=data&stat`), badArguments)
    await check.rejects('a data watch on a missing znode', () => fetch(`${node.url}/znodes/missing?watch=data`), { status: 404, code: 'NoNode' })
  })

  it(`a zxid older than the last ${watchHistoryMax} events is judged by the znode's stat where it tells, else 410 Compacted, never a guess`, async () => {
    const first = (await (await fetch(`${node.url}/znodes/w`, { method: 'PUT', body: 'w1' })).json()) as { zxid: number }
    let last = first
    for (let i = 2; i < 2 + 2 * watchHistoryMax; i++) {
      const reply = await fetch(`${node.url}/znodes/w`, { method: 'PUT', body: `w${i}` })
      expect(reply.status).toBe(200)
      last = (await reply.json()) as { zxid: number }
    }
    // The data changed since: the watch fires at once, with the newest change, marked resync.
    const judged = await fetch(`${node.url}/znodes/w?watch=data`, { headers: { 'last-event-id': String(first.zxid) } })
    expect(judged.status).toBe(200)
    const text = await judged.text()
    expect(text).toContain(`id: ${last.zxid}\nevent: NodeDataChanged\n`)
    expect(text).toContain('"resync":true')
    // Whether a missing znode was created and deleted in between, nothing here tells: refused, not guessed.
    await check.rejects('an exists watch on a missing znode from a compacted zxid', () => fetch(`${node.url}/znodes/never-there?watch=exists&zxid=1`), { status: 410, code: 'Compacted' })
    // The most recent zxid is still answerable: the watch fires at once with the next change... or waits.
    const { appliedZxid } = await treeState(node.url)
    const recent = await fetch(`${node.url}/znodes/w?watch=data`, { headers: { 'last-event-id': String(appliedZxid - 1) } })
    expect(recent.status).toBe(200)
    expect(await recent.text()).toContain(`id: ${appliedZxid}`)
  })

  it(`a zxid in the future waits readWaitMsMax (${readWaitMsMax} ms), then 504`, async () => {
    const { appliedZxid } = await treeState(node.url)
    for (const [name, init] of [
      ['Last-Event-ID', { headers: { 'last-event-id': String(appliedZxid + 1000) } }],
      ['?zxid', {}],
    ] as const) {
      const started = Date.now()
      const target = name === '?zxid' ? `${node.url}/znodes/w?watch=data&zxid=${appliedZxid + 1000}` : `${node.url}/znodes/w?watch=data`
      await check.rejects(`${name} in the future`, () => fetch(target, init), { status: 504, code: 'OperationTimeout' })
      const elapsedMs = Date.now() - started
      expect(elapsedMs).toBeGreaterThanOrEqual(readWaitMsMax - 50)
      expect(elapsedMs).toBeLessThan(readWaitMsMax + 2000)
    }
    await check.rejects('minZxid in the future', () => fetch(`${node.url}/znodes/w?minZxid=${appliedZxid + 1000}`), { status: 504, code: 'OperationTimeout' })
    await check.isAlive()
  })
})

describe('sessions', () => {
  let session: { id: number; secret: string }

  beforeAll(async () => {
    const response = await fetch(`${node.url}/sessions`, { method: 'POST' })
    expect(response.status).toBe(201)
    session = (await response.json()) as { id: number; secret: string }
  })

  const post = (path: string, headers: Record<string, string>): Promise<Response> => fetch(`${node.url}${path}`, { method: 'POST', headers })
  const ephemeral = (headers: Record<string, string>): Promise<Response> => fetch(`${node.url}/znodes/eph?ephemeral`, { method: 'PUT', headers, body: 'e' })

  it('a wrong or missing secret is 401 AuthFailed, wherever the session is named', async () => {
    const wrong = { 'herd-session-secret': 'not-the-secret' }
    await check.rejects('heartbeat, wrong secret', () => post(`/sessions/${session.id}/heartbeat`, wrong), { status: 401, code: 'AuthFailed' })
    await check.rejects('heartbeat, no secret', () => post(`/sessions/${session.id}/heartbeat`, {}), { status: 401, code: 'AuthFailed' })
    await check.rejects('heartbeat, empty secret', () => post(`/sessions/${session.id}/heartbeat`, { 'herd-session-secret': '' }), { status: 401, code: 'AuthFailed' })
    await check.rejects('close, wrong secret', () => post(`/sessions/${session.id}/close`, wrong), { status: 401, code: 'AuthFailed' })
    await check.rejects('ephemerals, wrong secret', () => fetch(`${node.url}/sessions/${session.id}/ephemerals`, { headers: wrong }), { status: 401, code: 'AuthFailed' })
    await check.rejects('ephemeral create, wrong secret', () => ephemeral({ 'herd-session': String(session.id), ...wrong }), { status: 401, code: 'AuthFailed' })
    await check.rejects('ephemeral create, no secret', () => ephemeral({ 'herd-session': String(session.id) }), { status: 401, code: 'AuthFailed' })
    await check.rejects('a plain write naming the session, wrong secret', () => fetch(`${node.url}/znodes/plain`, { method: 'PUT', headers: { 'herd-session': String(session.id), ...wrong }, body: 'p' }), { status: 401, code: 'AuthFailed' })
    await check.rejects(
      'multi naming the session, wrong secret',
      () => fetch(`${node.url}/multi`, { method: 'POST', headers: { 'content-type': 'application/json', 'herd-session': String(session.id), ...wrong }, body: '{"ops":[{"op":"create","path":"/eph","ephemeral":true}]}' }),
      { status: 401, code: 'AuthFailed' },
    )
  })

  it('a guessed session id is 410 SessionExpired, even with a real secret', async () => {
    for (const id of [session.id + 1, session.id + 1000, 1, 9_007_199_254_740_991]) {
      if (id === session.id) continue
      const secret = { 'herd-session-secret': session.secret }
      await check.rejects(`heartbeat ${id}`, () => post(`/sessions/${id}/heartbeat`, secret), { status: 410, code: 'SessionExpired' })
      await check.rejects(`close ${id}`, () => post(`/sessions/${id}/close`, secret), { status: 410, code: 'SessionExpired' })
      await check.rejects(`ephemeral as ${id}`, () => ephemeral({ 'herd-session': String(id), ...secret }), { status: 410, code: 'SessionExpired' })
    }
  })

  it('a session id that is not a positive integer is 400, in a header or a route', async () => {
    for (const id of ['abc', '-1', '0', '1.5', '1e3', '0x1c', '99999999999999999999', `+${session.id}`, `0${session.id}`]) {
      await check.rejects(`Herd-Session: ${JSON.stringify(id)}`, () => ephemeral({ 'herd-session': id, 'herd-session-secret': session.secret }), badArguments)
    }
    await check.rejectsRaw('Herd-Session empty', { method: 'PUT', target: '/znodes/eph?ephemeral', headers: [['Herd-Session', ''], ['Herd-Session-Secret', session.secret]], body: 'e' }, badArguments)
    for (const id of ['abc', '-1', '0', '1.5', '1%2F2', '%00']) {
      await check.rejectsRaw(`POST /sessions/${id}/heartbeat`, { method: 'POST', target: `/sessions/${id}/heartbeat`, headers: [['Herd-Session-Secret', session.secret]] }, { status: [400, 404], code: ['BadArguments', 'NotFound'] })
    }
  })

  it(`an Idempotency-Key longer than ${idempotencyKeyBytesMax} bytes, empty, or not visible ASCII is 400`, async () => {
    const write = (key: string): Promise<Response> => fetch(`${node.url}/znodes/idem`, { method: 'PUT', headers: { 'idempotency-key': key }, body: 'i' })
    await check.rejects('too long', () => write('k'.repeat(idempotencyKeyBytesMax + 1)), badArguments)
    await check.rejects('with a space', () => write('a b'), badArguments)
    await check.rejects('empty', () => write(''), badArguments)
    for (const [name, key] of [
      ['a tab', 'a\tb'],
      ['latin-1 bytes', 'caf\u00e9'],
      ['UTF-8 bytes', Buffer.from('caf\u00e9', 'utf8').toString('latin1')],
    ] as const) {
      await check.rejectsRaw(`Idempotency-Key with ${name}`, Buffer.concat([Buffer.from(`PUT /znodes/idem HTTP/1.1\r\nHost: x\r\nIdempotency-Key: ${key}\r\nContent-Length: 1\r\n\r\ni`, 'latin1')]), badArguments)
    }
    await check.rejects('on session create', () => fetch(`${node.url}/sessions`, { method: 'POST', headers: { 'idempotency-key': 'k1' } }), badArguments)
    expect((await fetch(`${node.url}/znodes/idem`)).status).toBe(404)
    // At the limit it is accepted.
    expect((await write('k'.repeat(idempotencyKeyBytesMax))).status).toBe(201)
  })

  it('the session is untouched by all of that: alive, heartbeatable, owning nothing', async () => {
    const beat = await post(`/sessions/${session.id}/heartbeat`, { 'herd-session-secret': session.secret })
    expect(beat.status).toBe(200)
    const owned = await fetch(`${node.url}/sessions/${session.id}/ephemerals`, { headers: { 'herd-session-secret': session.secret } })
    expect(((await owned.json()) as { paths: string[] }).paths).toEqual([])
    expect((await fetch(`${node.url}/znodes/eph`)).status).toBe(404)
    expect((await fetch(`${node.url}/znodes/plain`)).status).toBe(404)
    await check.isAlive()
  })
})

describe('a raw connection can carry a bad request and then good ones', () => {
  it('a 4xx from a route leaves the keep-alive connection usable', async () => {
    const connection = await RawConnection.open(node.port)
    await connection.write(requestBytes({ target: '/znodes/a/%2e%2e/w' }))
    const bad = await connection.response(3000)
    expect(bad?.status).toBe(400)
    await connection.write(requestBytes({ target: '/znodes/w?stat' }))
    expect((await connection.response(3000))?.status).toBe(200)
    connection.destroy()
    const problem = await fetchProblem(await fetch(`${node.url}/znodes/a/%252e%252e`), 'a double-encoded dot segment is a name, not a dot segment')
    expect(problem.code).toBe('NoNode')
    expect((await rawExchange(node.port, { target: '/health' })).response?.status).toBe(200)
  })
})
