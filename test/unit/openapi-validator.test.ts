// The contract validator must be able to say no: a validator that accepts
// everything would make every process test pass while proving nothing. Each
// rule it enforces is shown here rejecting a response that breaks it, next
// to a known-good response it accepts.
import { describe, expect, it } from 'vitest'
import { OpenApiValidator, parseSse, type ResponseToCheck } from '../support/openapi-validator.ts'

const v = new OpenApiValidator()

const stat = { czxid: 5, mzxid: 6, pzxid: 5, ctime: 1, mtime: 2, version: 1, cversion: 0, aversion: 0, ephemeralOwner: 0, dataLength: 3, numChildren: 0 }
const json = { 'content-type': 'application/json', 'herd-zxid': '7' }
const problemHeaders = { 'content-type': 'application/problem+json', 'herd-zxid': '7' }
const problem = (status: number, code: string, extra: object = {}): object => ({ type: `urn:herd:error:${code}`, title: 't', status, code, detail: 'd', zxid: 7, ...extra })

function errorsOf(response: ResponseToCheck): string[] {
  return v.validateResponse(response)
}

function expectRejected(response: ResponseToCheck, fragment: string | RegExp): void {
  const errors = errorsOf(response)
  expect(errors.length, 'the validator accepted a response it must reject').toBeGreaterThan(0)
  expect(errors.join('\n')).toMatch(fragment)
}

describe('accepts what the contract allows', () => {
  it.each<[string, ResponseToCheck]>([
    ['getData JSON', { method: 'GET', path: '/znodes/a/b', status: 200, headers: { ...json, etag: '"1"' }, body: { path: '/a/b', data: 'abc', encoding: 'utf8', stat } }],
    ['the root as /znodes', { method: 'GET', path: '/znodes', status: 200, headers: json, body: { path: '/', stat } }],
    ['the root as /znodes/ with a query', { method: 'GET', path: '/znodes/?children', status: 200, headers: json, body: { path: '/', children: ['a'], stat, next: null } }],
    ['raw bytes', { method: 'GET', path: '/znodes/a?raw', status: 200, headers: { 'content-type': 'application/octet-stream', 'herd-zxid': '7', 'herd-stat': '{}' }, body: new Uint8Array([1, 2]) }],
    ['304 without a body', { method: 'GET', path: '/znodes/a', status: 304, headers: { 'herd-zxid': '7', etag: '"1"' } }],
    ['a declared problem', { method: 'GET', path: '/znodes/a', status: 404, headers: problemHeaders, body: problem(404, 'NoNode', { path: '/a' }) }],
    ['an undeclared error under default', { method: 'GET', path: '/znodes/a', status: 500, headers: problemHeaders, body: problem(500, 'SystemError') }],
    ['a failed multi', { method: 'POST', path: '/multi', status: 409, headers: problemHeaders, body: problem(409, 'NodeExists', { results: [{ op: 'create', path: '/a', code: 'NodeExists' }], failedOp: 0 }) }],
    ['a create with its headers', { method: 'PUT', path: '/znodes/t/?sequential', status: 201, headers: { ...json, location: '/znodes/t/0000000001', 'idempotent-replayed': 'true' }, body: { path: '/t/0000000001', stat, zxid: 5 } }],
    ['a session route', { method: 'POST', path: '/sessions/12/heartbeat', status: 200, headers: json, body: { id: 12, timeoutMs: 4000 } }],
    ['a watch stream', { method: 'GET', path: '/znodes/a?watch=data', status: 200, headers: { 'content-type': 'text/event-stream', 'herd-zxid': '7' }, body: ': keepalive\n\nid: 8\nevent: NodeDeleted\ndata: {"type":"NodeDeleted","path":"/a","zxid":8,"stat":null}\n\n' }],
    ['HEAD without a body', { method: 'HEAD', path: '/znodes/a', status: 200, headers: json }],
    ['an unknown route as 404 NotFound', { method: 'GET', path: '/nope', status: 404, headers: problemHeaders, body: problem(404, 'NotFound') }],
    ['a wrong method as 405 with Allow', { method: 'PATCH', path: '/znodes/a', status: 405, headers: { ...problemHeaders, allow: 'GET, HEAD, PUT, DELETE, OPTIONS' }, body: problem(405, 'MethodNotAllowed') }],
    ['HEAD on a POST-only route as 405, without a body', { method: 'HEAD', path: '/sync', status: 405, headers: { ...problemHeaders, allow: 'POST, OPTIONS' } }],
    ['OPTIONS as 204 with Allow', { method: 'OPTIONS', path: '/multi', status: 204, headers: { 'herd-zxid': '7', allow: 'POST, OPTIONS' } }],
  ])('%s', (_name, response) => {
    expect(errorsOf(response)).toEqual([])
  })

  it('reads a JSON body given as text', () => {
    expect(errorsOf({ method: 'GET', path: '/health', status: 200, headers: json, body: '{"status":"ok","zxid":3}' })).toEqual([])
  })
})

describe('rejects what the contract does not allow', () => {
  it('a status the operation does not declare', () => {
    expectRejected({ method: 'GET', path: '/health', status: 201, headers: json, body: { status: 'ok', zxid: 1 } }, /status 201 is not declared/)
    expectRejected({ method: 'POST', path: '/sessions', status: 200, headers: json, body: { id: 1, timeoutMs: 1, secret: 's', zxid: 1 } }, /status 200 is not declared/)
    expectRejected({ method: 'DELETE', path: '/znodes/a', status: 204, headers: { 'herd-zxid': '7' } }, /status 204 is not declared/)
  })

  it('a missing required field', () => {
    expectRejected({ method: 'GET', path: '/znodes/a', status: 200, headers: json, body: { path: '/a', data: 'x', encoding: 'utf8' } }, /stat/)
    const { czxid: _omitted, ...statWithoutCzxid } = stat
    expectRejected({ method: 'GET', path: '/znodes/a?stat', status: 200, headers: json, body: { path: '/a', stat: statWithoutCzxid } }, /czxid/)
    const { code: _code, ...withoutCode } = problem(404, 'NoNode') as Record<string, unknown>
    expectRejected({ method: 'GET', path: '/znodes/a', status: 404, headers: problemHeaders, body: withoutCode }, /code/)
  })

  it('an extra field where additionalProperties is false', () => {
    expectRejected({ method: 'GET', path: '/health', status: 200, headers: json, body: { status: 'ok', zxid: 1, uptime: 5 } }, /additional properties \(uptime\)/)
    expectRejected({ method: 'GET', path: '/znodes/a', status: 404, headers: problemHeaders, body: problem(404, 'NoNode', { hint: 'x' }) }, /additional properties \(hint\)/)
  })

  it('a field of the wrong type or outside its enum', () => {
    expectRejected({ method: 'GET', path: '/health', status: 200, headers: json, body: { status: 'ok', zxid: '1' } }, /zxid/)
    expectRejected({ method: 'GET', path: '/znodes/a', status: 200, headers: json, body: { path: '/a', data: 'x', encoding: 'latin1', stat } }, /encoding/)
    expectRejected({ method: 'GET', path: '/znodes/a', status: 404, headers: problemHeaders, body: problem(404, 'NoSuchThing') }, /code/)
  })

  it('a content type not declared for the status', () => {
    expectRejected({ method: 'GET', path: '/health', status: 200, headers: { 'content-type': 'text/plain', 'herd-zxid': '1' }, body: 'ok' }, /Content-Type text\/plain is not declared/)
    expectRejected({ method: 'GET', path: '/znodes/a', status: 404, headers: json, body: problem(404, 'NoNode') }, /Content-Type application\/json is not declared/)
    expectRejected({ method: 'GET', path: '/health', status: 200, headers: { 'herd-zxid': '1' }, body: { status: 'ok', zxid: 1 } }, /Content-Type is missing/)
  })

  it('a body that is not JSON under a JSON content type, or a body where none is declared', () => {
    expectRejected({ method: 'GET', path: '/health', status: 200, headers: json, body: 'ok' }, /not JSON/)
    expectRejected({ method: 'GET', path: '/znodes/a', status: 304, headers: { 'herd-zxid': '7' }, body: 'x' }, /declares no content/)
    expectRejected({ method: 'HEAD', path: '/znodes/a', status: 200, headers: json, body: '{}' }, /HEAD/)
  })

  it('a response without Herd-Zxid, or with one that is not a zxid', () => {
    expectRejected({ method: 'GET', path: '/health', status: 200, headers: { 'content-type': 'application/json' }, body: { status: 'ok', zxid: 1 } }, /Herd-Zxid is missing/)
    expectRejected({ method: 'GET', path: '/nope', status: 404, headers: { 'content-type': 'application/problem+json' }, body: problem(404, 'NotFound') }, /Herd-Zxid is missing/)
    expectRejected({ method: 'GET', path: '/health', status: 200, headers: { ...json, 'herd-zxid': '-1' }, body: { status: 'ok', zxid: 1 } }, /Herd-Zxid is not a zxid/)
  })

  it('a declared header whose value breaks its schema', () => {
    expectRejected({ method: 'PUT', path: '/znodes/a', status: 200, headers: { ...json, 'idempotent-replayed': 'false' }, body: { path: '/a', stat, zxid: 5 } }, /Idempotent-Replayed/)
  })

  it('a problem whose status differs from the HTTP status', () => {
    expectRejected({ method: 'GET', path: '/znodes/a', status: 404, headers: problemHeaders, body: problem(400, 'NoNode') }, /problem status 400 differs/)
  })

  it('a watch event that does not match WatchEvent', () => {
    const stream = (data: string): ResponseToCheck => ({ method: 'GET', path: '/znodes/a?watch=exists', status: 200, headers: { 'content-type': 'text/event-stream', 'herd-zxid': '7' }, body: `id: 8\nevent: X\ndata: ${data}\n\n` })
    expectRejected(stream('{"type":"NodeExploded","path":"/a","zxid":8,"stat":null}'), /event 0 data\/type/)
    expectRejected(stream('{"type":"NodeCreated","path":"/a","zxid":8}'), /stat/)
    expectRejected(stream('not json'), /not JSON/)
  })

  it('the closest alternative of a oneOf is reported, not every branch', () => {
    const errors = errorsOf({ method: 'GET', path: '/znodes/a', status: 200, headers: json, body: { path: '/a', children: ['x'], stat, next: 3 } })
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/next.*closest of 5 alternatives: Children/)
  })

  it('routes outside the operations: unknown targets must be 404 NotFound, wrong methods 405 with a true Allow', () => {
    expectRejected({ method: 'GET', path: '/nope', status: 200, headers: json, body: { status: 'ok', zxid: 1 } }, /must answer 404 NotFound/)
    expectRejected({ method: 'GET', path: '/nope', status: 404, headers: problemHeaders, body: problem(404, 'NoNode') }, /code must be NotFound/)
    expectRejected({ method: 'GET', path: '/sessions/1/2/heartbeat', status: 200, headers: json, body: { id: 1, timeoutMs: 1 } }, /404 NotFound/)
    expectRejected({ method: 'PATCH', path: '/znodes/a', status: 405, headers: problemHeaders, body: problem(405, 'MethodNotAllowed') }, /must carry Allow/)
    expectRejected({ method: 'PATCH', path: '/znodes/a', status: 405, headers: { ...problemHeaders, allow: 'GET, PATCH' }, body: problem(405, 'MethodNotAllowed') }, /Allow lacks PUT[\s\S]*Allow lists PATCH/)
    expectRejected({ method: 'OPTIONS', path: '/health', status: 204, headers: { 'herd-zxid': '7', allow: 'POST' } }, /Allow lacks GET/)
  })
})

describe('operations are found by the request path', () => {
  it('/znodes/{path} matches any depth, /sessions/{id}/... one segment', () => {
    const good = { status: 'ok', zxid: 1 }
    // A Health body is wrong for readZnode, so these fail only if the path resolved to readZnode.
    for (const path of ['/znodes', '/znodes/', '/znodes/a', '/znodes/a/b/c', '/znodes/a?stat']) {
      expect(errorsOf({ method: 'GET', path, status: 200, headers: json, body: good }).join('\n'), path).toMatch(/alternatives/)
    }
    expect(errorsOf({ method: 'POST', path: '/sessions/42/close', status: 200, headers: json, body: { id: 42, zxid: 9, deleted: [] } })).toEqual([])
    expect(errorsOf({ method: 'GET', path: '/znodesx', status: 200, headers: json, body: good }).join('\n')).toMatch(/404 NotFound/)
  })

  it('every schema the operations name compiles (all $refs resolve)', () => {
    const paths = v.spec['paths'] as Record<string, Record<string, { responses: Record<string, unknown> }>>
    let checked = 0
    for (const [template, item] of Object.entries(paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (method === 'parameters') continue
        for (const status of Object.keys(operation.responses)) {
          const code = status === 'default' ? 599 : Number(status)
          const path = template.replace('{path}', 'a').replace('{id}', '1')
          // Throws if a $ref does not resolve; the errors themselves do not matter here.
          for (const [type, body] of [['application/json', {}], ['application/problem+json', {}], ['text/event-stream', 'data: {}\n\n']] as const) {
            v.validateResponse({ method, path, status: code, headers: { 'content-type': type }, body })
            checked++
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(180)
  })
})

describe('parseSse', () => {
  it('splits events, joins multi-line data, and keeps comments apart', () => {
    const { events, comments } = parseSse(': hello\n\nid: 3\nevent: NodeCreated\ndata: {"a":\ndata: 1}\n\n: keepalive\n\ndata:x\r\n\r\n')
    expect(comments).toEqual(['hello', 'keepalive'])
    expect(events).toEqual([
      { id: '3', event: 'NodeCreated', data: '{"a":\n1}' },
      { id: '3', event: undefined, data: 'x' },
    ])
  })
})
