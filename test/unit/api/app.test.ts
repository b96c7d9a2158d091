// The HTTP layer over one in-process replica (MemoryStore, ManualClock):
// the behaviour that needs a controlled clock or a look inside the replica.
import { afterEach, describe, expect, it } from 'vitest'
import { settle, testStack, type TestStack } from '../../support/stack.ts'

let stack: TestStack
afterEach(async () => {
  await stack.stop()
})

async function put(path: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return stack.request(`/znodes${path}`, { method: 'PUT', body, headers })
}

async function openSession(timeoutMs: number): Promise<{ id: number; secret: string; timeoutMs: number }> {
  const response = await stack.request('/sessions', {
    method: 'POST',
    body: JSON.stringify({ timeoutMs }),
    headers: { 'content-type': 'application/json' },
  })
  expect(response.status).toBe(201)
  return (await response.json()) as { id: number; secret: string; timeoutMs: number }
}

describe('sessions expire by the leader clock, through the log (ZooKeeper sessions)', () => {
  it('clamps the requested timeout to [2, 20] ticks', async () => {
    stack = testStack({ tickMs: 100, sessionTimeoutMinMs: 200, sessionTimeoutMaxMs: 2000 })
    expect((await openSession(1)).timeoutMs).toBe(200)
    expect((await openSession(999_999)).timeoutMs).toBe(2000)
    expect((await openSession(700)).timeoutMs).toBe(700)
  })

  it('keeps a heartbeating session, expires a silent one and deletes its ephemerals at that zxid', async () => {
    stack = testStack({ sessionTimeoutMinMs: 1000, sessionTimeoutMaxMs: 1000, sessionCheckIntervalMs: 100 })
    const live = await openSession(1000)
    const silent = await openSession(1000)
    for (const [session, name] of [[live, 'live'], [silent, 'silent']] as const) {
      const created = await put(`/${name}?ephemeral`, 'x', { 'herd-session': String(session.id), 'herd-session-secret': session.secret })
      expect(created.status).toBe(201)
    }
    for (let i = 0; i < 8; i++) {
      stack.clock.advance(250)
      const beat = await stack.request(`/sessions/${live.id}/heartbeat`, { method: 'POST', headers: { 'herd-session-secret': live.secret } })
      expect(beat.status).toBe(200)
      await settle()
    }
    expect((await stack.request('/znodes/live?stat')).status).toBe(200)
    expect((await stack.request('/znodes/silent?stat')).status).toBe(404)
    const late = await stack.request(`/sessions/${silent.id}/heartbeat`, { method: 'POST', headers: { 'herd-session-secret': silent.secret } })
    expect(late.status).toBe(410)
    expect(((await late.json()) as { code: string }).code).toBe('SessionExpired')
    expect(stack.replica.tree.getSession(silent.id)).toBeUndefined()
  })

  it('does not expire a session before its timeout', async () => {
    stack = testStack({ sessionTimeoutMinMs: 1000, sessionTimeoutMaxMs: 1000, sessionCheckIntervalMs: 100 })
    const session = await openSession(1000)
    stack.clock.advance(900)
    await settle()
    expect(stack.replica.tree.getSession(session.id)).toBeDefined()
    stack.clock.advance(300)
    await settle()
    expect(stack.replica.tree.getSession(session.id)).toBeUndefined()
  })

  it('refuses a wrong secret with AuthFailed and changes nothing', async () => {
    stack = testStack()
    const session = await openSession(10_000)
    const zxid = stack.replica.appliedZxid
    const response = await put('/e?ephemeral', '', { 'herd-session': String(session.id), 'herd-session-secret': 'guess' })
    expect(response.status).toBe(401)
    expect(stack.replica.appliedZxid).toBe(zxid)
  })
})

describe('one-shot watches over SSE', () => {
  it('frames the event with id = zxid and ends the stream', async () => {
    stack = testStack()
    await put('/w', 'a')
    const response = await stack.request('/znodes/w?watch=data')
    expect(response.headers.get('content-type')).toBe('text/event-stream')
    const write = await put('/w', 'b')
    const { zxid } = (await write.json()) as { zxid: number }
    const text = await response.text()
    expect(text).toContain(`id: ${zxid}\nevent: NodeDataChanged\ndata: {"type":"NodeDataChanged","path":"/w","zxid":${zxid},`)
    expect(text.endsWith('\n\n')).toBe(true)
    expect(stack.watches.count).toBe(0)
  })

  it('sends keep-alive comments while waiting', async () => {
    stack = testStack({ watchKeepaliveMs: 1000 })
    await put('/k', 'a')
    const response = await stack.request('/znodes/k?watch=exists')
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(first.startsWith(': watching exists of "/k"')).toBe(true)
    stack.clock.advance(1000)
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(': keepalive\n\n')
    // About one per interval, not one per timer tick.
    stack.clock.advance(3000)
    const more: string[] = []
    for (let i = 0; i < 3; i++) more.push(new TextDecoder().decode((await reader.read()).value))
    expect(more).toEqual([': keepalive\n\n', ': keepalive\n\n', ': keepalive\n\n'])
    let extra = false
    void reader.read().then(() => (extra = true))
    await settle()
    expect(extra).toBe(false)
    await reader.cancel()
    await settle()
    expect(stack.watches.count).toBe(0)
  })

  it('answers at once for a change after the zxid the client last saw', async () => {
    stack = testStack()
    const first = (await (await put('/z', 'a')).json()) as { zxid: number }
    const second = (await (await put('/z', 'b')).json()) as { zxid: number }
    const response = await stack.request(`/znodes/z?watch=data&zxid=${first.zxid}`)
    expect(await response.text()).toContain(`id: ${second.zxid}\nevent: NodeDataChanged`)
  })
})

describe('Idempotency-Key', () => {
  it('replays a sequential create instead of creating twice', async () => {
    stack = testStack()
    await put('/q', '')
    const headers = { 'idempotency-key': 'job-42' }
    const first = await put('/q/?sequential', 'job', headers)
    const again = await put('/q/?sequential', 'job', headers)
    expect(first.status).toBe(201)
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    const [firstBody, againBody] = [(await first.json()) as { path: string; zxid: number }, (await again.json()) as { path: string; zxid: number }]
    expect(againBody.path).toBe(firstBody.path)
    expect(againBody.zxid).toBe(firstBody.zxid)
    expect(stack.replica.tree.getChildren('/q', null, 10)?.children).toEqual(['0000000000'])
  })

  it('refuses the same key on a different request', async () => {
    stack = testStack()
    await put('/r', 'a', { 'idempotency-key': 'k' })
    const other = await put('/r', 'b', { 'idempotency-key': 'k' })
    expect(other.status).toBe(422)
    expect(((await other.json()) as { code: string }).code).toBe('IdempotencyKeyReused')
  })
})

describe('conditional requests', () => {
  it('answers 304 for an unchanged version and 412 for a stale If-Match', async () => {
    stack = testStack()
    await put('/c', 'a')
    expect((await stack.request('/znodes/c', { headers: { 'if-none-match': '"0"' } })).status).toBe(304)
    await put('/c', 'b')
    expect((await stack.request('/znodes/c', { headers: { 'if-none-match': '"0"' } })).status).toBe(200)
    const stale = await put('/c', 'c', { 'if-match': '"0"' })
    expect(stale.status).toBe(412)
    expect(((await stale.json()) as { code: string }).code).toBe('BadVersion')
  })
})

describe('the leader reaps containers and TTL znodes through the log (ZooKeeper ContainerManager)', () => {
  it('deletes a container once its last child is gone, but never one that had no children', async () => {
    stack = testStack({ reapIntervalMs: 1000 })
    expect((await put('/locks?container', '')).status).toBe(201)
    expect((await put('/unused?container', '')).status).toBe(201)
    await put('/locks/l1', '')
    stack.clock.advance(1000)
    await settle()
    expect(stack.replica.tree.exists('/locks')).toBeDefined()
    expect((await stack.request('/znodes/locks/l1', { method: 'DELETE' })).status).toBe(200)
    stack.clock.advance(1000)
    await settle()
    expect(stack.replica.tree.exists('/locks')).toBeUndefined()
    expect(stack.replica.tree.exists('/unused')).toBeDefined()
  })

  it('deletes a TTL znode left unchanged and childless for its TTL, and keeps one that changed', async () => {
    stack = testStack({ reapIntervalMs: 500 })
    await put('/idle?ttl=2000', 'x')
    await put('/busy?ttl=2000', 'x')
    for (let i = 0; i < 3; i++) {
      stack.clock.advance(1000)
      await settle()
      await put('/busy', 'still here')
    }
    stack.clock.advance(500)
    await settle()
    expect(stack.replica.tree.exists('/idle')).toBeUndefined()
    expect(stack.replica.tree.exists('/busy')).toBeDefined()
  })

  it('answers Unimplemented for TTL znodes when they are disabled', async () => {
    stack = testStack({ ttlEnabled: false })
    const response = await put('/t?ttl=1000', 'x')
    expect(response.status).toBe(501)
    expect(((await response.json()) as { code: string }).code).toBe('Unimplemented')
  })
})
