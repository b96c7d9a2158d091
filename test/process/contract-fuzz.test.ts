// Whatever it is asked, the server answers inside its contract. Random
// requests (methods, targets with odd segments and encodings, the known
// query parameters and headers with good and bad values, random bodies) go
// to a real node; every answer must validate against openapi.yaml, none may
// be a 5xx other than 504 (a read waiting for a zxid that never comes), and
// the node must be healthy afterwards with no internal error in its log
// (DESIGN.md: "bad input always gets a clear 4xx ... the server never
// crashes on input"). A failure prints the shrunk request and the seed.
import fc from 'fast-check'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { validateResponse } from '../support/openapi-validator.ts'

const runs = Number(process.env['HERD_FUZZ_RUNS'] ?? 300)

let node: NodeProcess
let base = ''
let session = { id: 0, secret: '' }
beforeAll(async () => {
  node = await startNode({ args: ['--read-wait-ms-max', '20', '--watch-keepalive-ms', '1000', '--tick-ms', '1000'] })
  base = node.url
  const opened = await fetch(`${base}/sessions`, { method: 'POST' })
  session = (await opened.json()) as { id: number; secret: string }
  for (const path of ['/a', '/a/b', '/tasks']) await fetch(`${base}/znodes${path}`, { method: 'PUT', body: 'seed' })
})
afterAll(() => stopAll([node]))

const segment = fc.oneof(
  fc.constantFrom('a', 'b', 'tasks', 'zookeeper', 'quota', '', '.', '..', '%2e', '%2F', '%00', '%01', '%E9', '%C3%A9', '%ZZ', '%', 'x%20y', 'é', '\u{1F600}', '0000000001', '~', "'", '"'),
  fc.string({ maxLength: 8 }),
)
const znodeTarget = fc.array(segment, { maxLength: 4 }).map((segments) => '/znodes' + segments.map((s) => '/' + s).join(''))
const otherTarget = fc.constantFrom('/multi', '/multi-read', '/sessions', '/sync', '/cluster', '/health', '/nope', '/', '/znodes', '/znodesx', '/sessions/1', '/sessions/abc/heartbeat', '/sessions/99999/close', '/sessions/99999/ephemerals')
// Never close the shared session: the requests that name it would all be 410 afterwards.
const sessionTarget = fc.constantFrom('heartbeat', 'ephemerals').map((action) => `/sessions/${session.id}/${action}`)

const queryValue = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('', 'true', 'false', '0', '1', '-1', 'data', 'exists', 'children', 'utf8', 'base64', 'world:anyone:r', 'x', '9007199254740993', '1e3', '%FF') }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) })
const queryName = fc.constantFrom('stat', 'children', 'descendants', 'acl', 'raw', 'encoding', 'limit', 'cursor', 'watch', 'zxid', 'minZxid', 'sequential', 'ephemeral', 'container', 'ttl', 'version', 'prefix', 'bogus')
const query = fc
  .array(fc.tuple(queryName, fc.option(queryValue, { nil: undefined, freq: 2 })), { maxLength: 2 })
  .map((pairs) => (pairs.length === 0 ? '' : '?' + pairs.map(([name, value]) => (value === undefined ? name : `${name}=${encodeURIComponent(value)}`)).join('&')))

const headerValue = fc.oneof(fc.constantFrom('*', '"0"', '"1"', 'W/"0"', '0', '-1', '"c0"', 'abc', 'application/json', 'application/octet-stream', 'text/plain', 'http://app.test'), fc.stringMatching(/^[\x21-\x7e]{0,12}$/))
const headerName = fc.constantFrom('if-match', 'if-none-match', 'idempotency-key', 'herd-session', 'herd-session-secret', 'last-event-id', 'accept', 'content-type', 'origin')
const headers = fc.dictionary(headerName, headerValue, { maxKeys: 3 })
const withSession = fc.boolean()

const op = fc.record(
  {
    op: fc.constantFrom('create', 'delete', 'setData', 'check', 'getData', 'getChildren', 'bogus'),
    path: fc.constantFrom('/a', '/a/b', '/tasks/', '/new', 'relative', '/zookeeper', '/a/../b', ''),
    data: fc.string({ maxLength: 6 }),
    encoding: fc.constantFrom('utf8', 'base64', 'hex'),
    version: fc.constantFrom(-2, -1, 0, 1, 1.5, '1'),
    sequential: fc.boolean(),
    ephemeral: fc.boolean(),
    ttl: fc.constantFrom(0, 1000),
    acl: fc.constantFrom([], [{ scheme: 'world', id: 'anyone', perms: 'r' }], 'x'),
  },
  { requiredKeys: ['op'] },
)
const body = fc.oneof(
  fc.constant(undefined),
  fc.string({ maxLength: 20 }),
  fc.record({ ops: fc.array(op, { maxLength: 3 }) }).map((value) => JSON.stringify(value)),
  fc.record({ timeoutMs: fc.constantFrom(1, 5000, -1, 'x'), acl: fc.constantFrom([], [{ scheme: 'world', id: 'anyone', perms: 'cdrwa' }]) }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
)
const method = fc.constantFrom('GET', 'GET', 'PUT', 'PUT', 'DELETE', 'POST', 'POST', 'OPTIONS', 'PATCH', 'HEAD')

interface Request {
  readonly method: string
  readonly target: string
  readonly headers: Record<string, string>
  readonly body: string | undefined
}

const request: fc.Arbitrary<Request> = fc
  .record({ method, target: fc.oneof(znodeTarget, znodeTarget, otherTarget, sessionTarget), query, headers, withSession, body })
  .map(({ method, target, query, headers, withSession, body }) => {
    const all: Record<string, string> = { ...headers }
    if (withSession) Object.assign(all, { 'herd-session': String(session.id), 'herd-session-secret': session.secret })
    return { method, target: target + query, headers: all, body: method === 'GET' || method === 'HEAD' ? undefined : body }
  })

async function send(req: Request): Promise<void> {
  const controller = new AbortController()
  const response = await fetch(base + req.target, {
    method: req.method,
    headers: req.headers,
    signal: controller.signal,
    ...(req.body === undefined ? {} : { body: req.body }),
  })
  const contentType = response.headers.get('content-type') ?? ''
  let parsed: unknown = ''
  if (contentType.startsWith('text/event-stream')) {
    // A watch that is waiting: its headers are the answer; hang up (which frees it).
    controller.abort()
  } else {
    const text = await response.text()
    parsed = /json/.test(contentType) && text !== '' ? JSON.parse(text) : text
  }
  // What was really sent: fetch's URL parser normalises dot segments and encodes what it must.
  const sent = new URL(base + req.target)
  const errors = validateResponse({ method: req.method, path: sent.pathname + sent.search, status: response.status, headers: response.headers, body: parsed })
  expect(errors, JSON.stringify(parsed)).toEqual([])
  expect(response.status < 500 || response.status === 504, `${response.status} ${JSON.stringify(parsed)}`).toBe(true)
}

it('every answer to a random request is inside the contract, and none is a server error', async () => {
  await fc.assert(
    fc.asyncProperty(request, async (req) => {
      await send(req)
    }),
    { numRuns: runs, endOnFailure: true },
  )
  const health = await fetch(`${base}/health`)
  expect(health.status).toBe(200)
  expect(node.output()).not.toMatch(/ error .*request #\d+/)
})
