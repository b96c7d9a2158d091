// The error responses that only a limit or a disabled feature produces, on
// a node started with small limits: 413 PayloadTooLarge (znode data, request
// bodies, multi and multi-read sizes), 429 Throttled when writes pile up and
// 429 QuotaExceeded when the session table is full (both with Retry-After),
// and 501 Unimplemented for TTL znodes when they are turned off. Each refused
// request must change nothing. Every response is validated against openapi.yaml.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { call, expectProblem, type Reply } from '../support/http.ts'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'

const dataBytesMax = 1024
const requestBytesMax = 2048
const multiOpsMax = 3

let node: NodeProcess
let base = ''
beforeAll(async () => {
  node = await startNode({
    args: [
      '--data-bytes-max', String(dataBytesMax),
      '--request-bytes-max', String(requestBytesMax),
      '--multi-ops-max', String(multiOpsMax),
      '--proposals-pending-max', '1',
      '--sessions-max', '1',
      '--ttl-enabled', 'false',
    ],
  })
  base = node.url
})
afterAll(() => stopAll([node]))

const put = (target: string, body: string | object = '', headers: Record<string, string> = {}): Promise<Reply> => call(base, 'PUT', target, { body, headers })
const post = (target: string, body?: object, headers: Record<string, string> = {}): Promise<Reply> => call(base, 'POST', target, { ...(body === undefined ? {} : { body }), headers })
const appliedZxid = async (): Promise<number> => (await call(base, 'GET', '/health')).zxid

/**
 * Sends `count` requests at once and checks that each was either done (2xx)
 * or Throttled with Retry-After, and that at least one of each happened.
 */
async function burst(request: (i: number) => Promise<Reply>, count = 40): Promise<Reply[]> {
  // Warm connections first, so that the requests leave together instead of
  // being spread out by TCP handshakes.
  await Promise.all(Array.from({ length: count }, () => call(base, 'GET', '/health')))
  const replies = await Promise.all(Array.from({ length: count }, (_, i) => request(i)))
  const throttled = replies.filter((r) => r.status === 429)
  expect(replies.filter((r) => r.status < 300).length, 'none was done').toBeGreaterThanOrEqual(1)
  expect(throttled.length, 'none was throttled').toBeGreaterThanOrEqual(1)
  for (const reply of replies) expect([200, 201, 429]).toContain(reply.status)
  for (const reply of throttled) {
    expect(reply.json.code).toBe('Throttled')
    expect(Number(reply.header('retry-after'))).toBeGreaterThanOrEqual(1)
  }
  return replies
}

describe('413 PayloadTooLarge', () => {
  it('znode data over --data-bytes-max is refused, by PUT and by a multi op, and changes nothing', async () => {
    const zxid = await appliedZxid()
    const reply = await expectProblem(put('/znodes/big', 'x'.repeat(dataBytesMax + 1)), 413, 'PayloadTooLarge')
    expect(reply.json.detail).toContain(String(dataBytesMax))
    await expectProblem(post('/multi', { ops: [{ op: 'create', path: '/big', data: 'x'.repeat(dataBytesMax + 1) }] }), 413, 'PayloadTooLarge')
    expect(await appliedZxid()).toBe(zxid)
    expect((await put('/znodes/big', 'x'.repeat(dataBytesMax))).status).toBe(201)
  })

  it('a request body over --request-bytes-max is refused and the connection closed', async () => {
    const reply = await expectProblem(put('/znodes/huge', 'x'.repeat(requestBytesMax + 1)), 413, 'PayloadTooLarge')
    expect(reply.header('connection')).toBe('close')
    await expectProblem(call(base, 'GET', '/znodes/huge'), 404, 'NoNode')
  })

  it('a multi or multi-read with more than --multi-ops-max operations is refused', async () => {
    const zxid = await appliedZxid()
    const creates = Array.from({ length: multiOpsMax + 1 }, (_, i) => ({ op: 'create', path: `/many-${i}` }))
    await expectProblem(post('/multi', { ops: creates }), 413, 'PayloadTooLarge')
    const reads = Array.from({ length: multiOpsMax + 1 }, () => ({ op: 'getData', path: '/' }))
    await expectProblem(post('/multi-read', { ops: reads }), 413, 'PayloadTooLarge')
    expect(await appliedZxid()).toBe(zxid)
    expect((await post('/multi', { ops: creates.slice(0, multiOpsMax) })).status).toBe(200)
  })
})

describe('501 Unimplemented', () => {
  it('TTL znodes are refused while --ttl-enabled is false, by PUT and by multi', async () => {
    await expectProblem(put('/znodes/ttl?ttl=1000'), 501, 'Unimplemented')
    await expectProblem(post('/multi', { ops: [{ op: 'create', path: '/ttl', ttl: 1000 }] }), 501, 'Unimplemented')
    await expectProblem(call(base, 'GET', '/znodes/ttl'), 404, 'NoNode')
  })
})

describe('429', () => {
  it('writes beyond --proposals-pending-max are Throttled with Retry-After, and a throttled write changes nothing', async () => {
    expect((await put('/znodes/burst', '', { 'if-none-match': '*' })).status).toBe(201)
    const replies = await burst((i) => put(`/znodes/burst/n${i}`, '', { 'if-none-match': '*' }))
    const created = replies.filter((r) => r.status === 201)
    expect(created.length).toBeGreaterThanOrEqual(1)
    const children = (await call(base, 'GET', '/znodes/burst?children')).json.children
    expect(children.sort()).toEqual(created.map((r) => r.json.path.slice('/burst/'.length)).sort())
  })

  it('deletes and multis are Throttled the same way, and a throttled one changes nothing', async () => {
    for (let i = 0; i < 40; i++) expect((await put(`/znodes/burst/d${i}`, '', { 'if-none-match': '*' })).status).toBe(201)
    const before = (await call(base, 'GET', '/znodes/burst?children')).json.children as string[]
    const deletes = await burst((i) => call(base, 'DELETE', `/znodes/burst/d${i}`))
    const multis = await burst((i) => post('/multi', { ops: [{ op: 'create', path: `/burst/m${i}` }] }))
    const deleted = deletes.filter((r) => r.status === 200).map((r) => r.json.path.slice('/burst/'.length))
    const made = multis.filter((r) => r.status === 200).map((r) => r.json.results[0].path.slice('/burst/'.length))
    const after = (await call(base, 'GET', '/znodes/burst?children')).json.children
    expect(after.sort()).toEqual([...before.filter((name) => !deleted.includes(name)), ...made].sort())
  })

  it('a session beyond --sessions-max is 429 QuotaExceeded with Retry-After; closing one makes room', async () => {
    const first = await post('/sessions', { timeoutMs: 60_000 })
    expect(first.status).toBe(201)
    const refused = await expectProblem(post('/sessions', { timeoutMs: 60_000 }), 429, 'QuotaExceeded')
    expect(Number(refused.header('retry-after'))).toBeGreaterThanOrEqual(1)
    expect((await post(`/sessions/${first.json.id}/close`, undefined, { 'herd-session-secret': first.json.secret })).status).toBe(200)
    expect((await post('/sessions', { timeoutMs: 60_000 })).status).toBe(201)
  })
})
