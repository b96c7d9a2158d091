// Bodies and multi-ops that must be refused whole (RELIABILITY.md, "Bad
// inputs to try at the HTTP surface": bodies, multi). Small limits make the
// edges cheap to reach: 64 KiB requests, 1 KiB znode data, 10 ops per
// multi, 2 s to receive a request. Framing faults (lying Content-Length,
// Content-Length with Transfer-Encoding) go over raw sockets; everything
// else too, so that what is sent is exactly what the test says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { chunked, RawConnection, rawExchange, requestBytes, treeState, type RequestSpec } from '../support/raw-http.ts'
import { badInput } from './fixtures/bad-input.ts'

const requestBytesMax = 64 * 1024
const dataBytesMax = 1024
const multiOpsMax = 10
const requestTimeoutMs = 2000

let node: NodeProcess
const check = badInput(() => node)

beforeAll(async () => {
  node = await startNode({
    args: [
      '--request-bytes-max', String(requestBytesMax),
      '--data-bytes-max', String(dataBytesMax),
      '--multi-ops-max', String(multiOpsMax),
      '--headers-timeout-ms', '1000',
      '--request-timeout-ms', String(requestTimeoutMs),
    ],
  })
  // /v at version 1 with data "v1": what the version cases would change.
  expect((await fetch(`${node.url}/znodes/v`, { method: 'PUT', body: 'v0' })).status).toBe(201)
  expect((await fetch(`${node.url}/znodes/v`, { method: 'PUT', body: 'v1' })).status).toBe(200)
})
afterAll(() => stopAll([node]))

const json = (target: string, body: string | Buffer, method = 'POST'): RequestSpec => ({
  method,
  target,
  headers: [['Content-Type', 'application/json']],
  body,
})

async function missing(path: string): Promise<void> {
  expect((await fetch(`${node.url}/znodes${path}`)).status, `${path} exists`).toBe(404)
}

describe('sizes', () => {
  it('znode data over dataBytesMax is 413, for PUT and in a multi', async () => {
    await check.rejectsRaw('PUT 1 KiB + 1', { method: 'PUT', target: '/znodes/big', body: 'x'.repeat(dataBytesMax + 1) }, { status: 413, code: 'PayloadTooLarge' })
    await check.rejectsRaw('PUT setData 1 KiB + 1', { method: 'PUT', target: '/znodes/v', headers: [['If-Match', '*']], body: 'x'.repeat(dataBytesMax + 1) }, { status: 413, code: 'PayloadTooLarge' })
    await check.rejectsRaw('multi 1 KiB + 1', json('/multi', JSON.stringify({ ops: [{ op: 'create', path: '/big', data: 'x'.repeat(dataBytesMax + 1) }] })), { status: 413, code: 'PayloadTooLarge' })
    await missing('/big')
  })

  it('a body over requestBytesMax by Content-Length is 413 before it is read, and the connection closes', async () => {
    const connection = await RawConnection.open(node.port)
    await connection.write(`PUT /znodes/big HTTP/1.1\r\nHost: x\r\nContent-Length: ${requestBytesMax + 1}\r\n\r\n`)
    const response = await connection.response(3000)
    expect(response?.status).toBe(413)
    expect(response?.headers['connection']).toBe('close')
    expect(await connection.closed(3000)).toBe(true)
    await missing('/big')
  })

  it('a chunked body growing past requestBytesMax is cut off with 413 while it streams', async () => {
    const before = await treeState(node.url)
    const connection = await RawConnection.open(node.port)
    await connection.write('PUT /znodes/big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
    const chunk = chunked(['c'.repeat(4096)]).subarray(0, -5) // one chunk, without the last-chunk marker
    let sentBytes = 0
    // Up to 4 × the limit; the server must stop us long before.
    while (sentBytes < 4 * requestBytesMax && !connection.isClosed && connection.received.length === 0) {
      if (!(await connection.write(chunk))) break
      sentBytes += 4096
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    const response = await connection.response(3000)
    expect(response?.status).toBe(413)
    expect(JSON.parse(response?.text() ?? '{}').code).toBe('PayloadTooLarge')
    expect(await connection.closed(3000)).toBe(true)
    console.log(`chunked body: cut off after ${sentBytes} bytes sent (limit ${requestBytesMax})`)
    expect(sentBytes).toBeLessThan(4 * requestBytesMax)
    expect(await treeState(node.url)).toEqual(before)
  })

  it('Content-Length larger than the body: 408 once requestTimeoutMs passes, nothing written', async () => {
    const started = Date.now()
    const problem = await check.rejectsRaw(
      'Content-Length 100, 3 bytes sent',
      { method: 'PUT', target: '/znodes/short', headers: [['Content-Length', '100']], body: 'abc', contentLength: false },
      { status: 408, code: 'RequestTimeout' },
      requestTimeoutMs + 4000,
    )
    expect(problem.headers['connection']).toBe('close')
    expect(Date.now() - started).toBeLessThan(requestTimeoutMs + 3000)
    await missing('/short')
  })

  it('Content-Length smaller than the body: the body is what it says, the rest is a (malformed) next request answered after it', async () => {
    const connection = await RawConnection.open(node.port)
    await connection.write(requestBytes({ method: 'PUT', target: '/znodes/cl-small', headers: [['Content-Length', '3']], body: 'abcdefgh\r\n\r\n', contentLength: false }))
    const first = await connection.response(3000)
    const second = await connection.response(3000)
    // In order: the PUT's own answer first, never the garbage's error in its place.
    expect(first?.status).toBe(201)
    expect(JSON.parse(first?.text() ?? '{}').path).toBe('/cl-small')
    expect(second?.status).toBe(400)
    expect(second?.headers['content-type']).toBe('application/problem+json')
    expect(await connection.closed(3000)).toBe(true)
    expect(await (await fetch(`${node.url}/znodes/cl-small?raw`)).text()).toBe('abc')
  })

  it('pipelined garbage behind a write that waits for its sync does not take the write\'s place', async () => {
    for (let i = 0; i < 20; i++) {
      const connection = await RawConnection.open(node.port)
      await connection.write(Buffer.concat([requestBytes({ method: 'PUT', target: `/znodes/order-${i}`, body: 'ok' }), Buffer.from('NOT HTTP\r\n\r\n')]))
      const first = await connection.response(3000)
      expect(first?.status, `attempt ${i}`).toBe(201)
      expect((await connection.response(3000))?.status).toBe(400)
      connection.destroy()
    }
  })

  it('both Content-Length and Transfer-Encoding (request smuggling) is 400 and the connection closes', async () => {
    const problem = await check.rejectsRaw(
      'CL + TE',
      { method: 'PUT', target: '/znodes/smuggled', headers: [['Content-Length', '5'], ['Transfer-Encoding', 'chunked']], body: chunked(['hello']) },
      { status: 400, code: 'BadArguments' },
    )
    expect(problem.headers['connection']).toBe('close')
    await check.rejectsRaw(
      'TE + CL with a smuggled request in the body',
      { method: 'PUT', target: '/znodes/smuggled', headers: [['Transfer-Encoding', 'chunked'], ['Content-Length', '4']], body: Buffer.concat([chunked([]), Buffer.from('PUT /znodes/smuggled2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx')]) },
      { status: 400, code: 'BadArguments' },
    )
    await check.rejectsRaw('a bad chunk size', { method: 'PUT', target: '/znodes/smuggled', headers: [['Transfer-Encoding', 'chunked']], body: 'zz\r\nhello\r\n0\r\n\r\n' }, { status: 400, code: 'BadArguments' })
    await check.rejectsRaw('two Content-Lengths', { method: 'PUT', target: '/znodes/smuggled', headers: [['Content-Length', '1'], ['Content-Length', '2']], body: 'xy' }, { status: 400, code: 'BadArguments' })
    await missing('/smuggled')
    await missing('/smuggled2')
    await check.isAlive()
  })

  it('codings herd does not speak are refused, never stored still encoded as if they were the data', async () => {
    // RFC 9112 6.1: an unknown transfer coding is 501; RFC 9110 15.5.16: an unknown content coding is 415.
    await check.rejectsRaw('Transfer-Encoding: gzip, chunked', { method: 'PUT', target: '/znodes/coded', headers: [['Transfer-Encoding', 'gzip, chunked']], body: chunked(['x']) }, { status: 501, code: 'Unimplemented' })
    await check.rejectsRaw('Content-Encoding: gzip', { method: 'PUT', target: '/znodes/coded', headers: [['Content-Encoding', 'gzip']], body: Buffer.from('1f8b0800000000000003abc8050083d9fd8c01000000', 'hex') }, { status: 415, code: 'UnsupportedMediaType' })
    await check.rejectsRaw('multi, Content-Encoding: deflate', { method: 'POST', target: '/multi', headers: [['Content-Type', 'application/json'], ['Content-Encoding', 'deflate']], body: '{"ops":[{"op":"create","path":"/coded"}]}' }, { status: 415, code: 'UnsupportedMediaType' })
    await missing('/coded')
    // identity is no coding at all.
    expect((await rawExchange(node.port, { method: 'PUT', target: '/znodes/identity', headers: [['Content-Encoding', 'identity']], body: 'plain' })).response?.status).toBe(201)
    await check.isAlive()
  })
})

describe('JSON', () => {
  it('invalid JSON to /multi is 400 MarshallingError', async () => {
    for (const body of ['{"ops": [', '{ops: []}', "{'ops': []}", '{"ops": []} trailing', '\u00ff\u00fe', Buffer.from([0x7b, 0xff, 0x7d])]) {
      await check.rejectsRaw(`multi ${JSON.stringify(body.toString())}`, json('/multi', body), { status: 400, code: 'MarshallingError' })
    }
  })

  it('10 000-deep nesting is a clean 400 (no stack overflow)', async () => {
    const deepArray = '['.repeat(10_000) + ']'.repeat(10_000)
    let deepObject = '1'
    for (let i = 0; i < 10_000; i++) deepObject = `{"a":${deepObject}}`
    for (const [name, body] of [
      ['a top-level array', deepArray],
      ['ops', `{"ops":${deepArray}}`],
      ['an object chain', deepObject],
      ['an op', `{"ops":[${deepObject.replace('"a"', '"op"')}]}`],
    ] as const) {
      await check.rejectsRaw(`multi: ${name}`, json('/multi', body), { status: 400, code: ['BadArguments', 'MarshallingError'] })
      await check.rejectsRaw(`multi-read: ${name}`, json('/multi-read', body), { status: 400, code: ['BadArguments', 'MarshallingError'] })
    }
    await check.rejectsRaw('setACL deep', json('/znodes/v?acl', deepObject, 'PUT'), { status: 400, code: ['BadArguments', 'MarshallingError'] })
    await check.rejectsRaw('session deep', json('/sessions', deepObject), { status: 400, code: ['BadArguments', 'MarshallingError'] })
    await check.isAlive()
  })

  it('a key repeated in one object is 400, whichever copy a parser would keep', async () => {
    await check.rejectsRaw('ops twice', json('/multi', '{"ops":[],"ops":[{"op":"create","path":"/dup"}]}'), { status: 400, code: 'MarshallingError' })
    await check.rejectsRaw('path twice in an op', json('/multi', '{"ops":[{"op":"create","path":"/dup","path":"/dup2"}]}'), { status: 400, code: 'MarshallingError' })
    await check.rejectsRaw('op twice, one escaped', json('/multi', '{"ops":[{"op":"check","\\u006fp":"create","path":"/dup"}]}'), { status: 400, code: 'MarshallingError' })
    await check.rejectsRaw('acl twice', json('/znodes/v?acl', '{"acl":[{"scheme":"world","id":"anyone","perms":"r"}],"acl":[]}', 'PUT'), { status: 400, code: 'MarshallingError' })
    await missing('/dup')
    await missing('/dup2')
    // The same key in sibling objects is fine.
    const response = await rawExchange(node.port, json('/multi-read', '{"ops":[{"op":"getData","path":"/v"},{"op":"getData","path":"/v"}]}'))
    expect(response.response?.status).toBe(200)
  })

  it('__proto__ and constructor keys are unknown fields: 400, and nothing is polluted', async () => {
    for (const [name, body] of [
      ['top-level __proto__', '{"ops":[],"__proto__":{"polluted":true}}'],
      ['__proto__ in an op', '{"ops":[{"op":"create","path":"/pp","__proto__":{"sequential":true}}]}'],
      ['__proto__ carrying ops', '{"__proto__":{"ops":[{"op":"create","path":"/pp"}]}}'],
      ['constructor.prototype', '{"ops":[],"constructor":{"prototype":{"sequential":true}}}'],
      ['constructor in an op', '{"ops":[{"op":"create","path":"/pp","constructor":{"prototype":{"ephemeral":true}}}]}'],
    ] as const) {
      await check.rejectsRaw(`multi: ${name}`, json('/multi', body), { status: 400, code: 'BadArguments' })
    }
    await check.rejectsRaw('setACL __proto__', json('/znodes/v?acl', '{"acl":[{"scheme":"world","id":"anyone","perms":"r","__proto__":{"x":1}}]}', 'PUT'), { status: 400, code: 'BadArguments' })
    await check.rejectsRaw('session __proto__', json('/sessions', '{"__proto__":{"timeoutMs":1}}'), { status: 400, code: 'BadArguments' })
    await missing('/pp')
    // Had a default leaked into Object.prototype, this create would come out sequential or fail.
    const response = await rawExchange(node.port, json('/multi', '{"ops":[{"op":"create","path":"/plain"}]}'))
    expect(response.response?.status).toBe(200)
    expect((response.response?.json() as { results: Array<{ path: string }> }).results[0]?.path).toBe('/plain')
  })

  it('version as 2^53+1, -2, 1.5, "1", null is 400 wherever a version goes', async () => {
    // (1e0 is the integer 1 in JSON, so it is a fine version there; in a query it is text, and refused.)
    for (const version of ['9007199254740993', '2147483648', '-2', '1.5', '"1"', 'null', 'true', '[1]', '{}']) {
      for (const op of ['setData', 'delete', 'check']) {
        await check.rejectsRaw(`multi ${op} version ${version}`, json('/multi', `{"ops":[{"op":"${op}","path":"/v","version":${version}}]}`), { status: 400, code: 'BadArguments' })
      }
    }
    for (const version of ['9007199254740993', '2147483648', '-2', '1.5', '"1"', 'null', '1e0', '0x1', '', '+1', ' 1']) {
      const query = encodeURIComponent(version)
      await check.rejectsRaw(`PUT ?version=${version}`, { method: 'PUT', target: `/znodes/v?version=${query}`, body: 'x' }, { status: 400, code: 'BadArguments' })
      await check.rejectsRaw(`DELETE ?version=${version}`, { method: 'DELETE', target: `/znodes/v?version=${query}` }, { status: 400, code: 'BadArguments' })
    }
    for (const etag of ['"9007199254740993"', '"-2"', '"1.5"', 'null', '"1", "2"', 'W/', '""']) {
      await check.rejectsRaw(`PUT If-Match ${etag}`, { method: 'PUT', target: '/znodes/v', headers: [['If-Match', etag]], body: 'x' }, { status: 400, code: 'BadArguments' })
    }
    for (const timeoutMs of ['9007199254740993', '-2', '1.5', '"1000"', 'null']) {
      await check.rejectsRaw(`session timeoutMs ${timeoutMs}`, json('/sessions', `{"timeoutMs":${timeoutMs}}`), { status: 400, code: 'BadArguments' })
    }
    const v = (await (await fetch(`${node.url}/znodes/v`)).json()) as { data: string; stat: { version: number } }
    expect([v.data, v.stat.version]).toEqual(['v1', 1])
  })

  it('a JSON route with the wrong Content-Type is 415', async () => {
    const multi = '{"ops":[{"op":"create","path":"/typed"}]}'
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/jsonx', 'json']) {
      await check.rejectsRaw(`multi as ${type}`, { method: 'POST', target: '/multi', headers: [['Content-Type', type]], body: multi }, { status: 415, code: 'UnsupportedMediaType' })
    }
    await check.rejectsRaw('multi without Content-Type', { method: 'POST', target: '/multi', body: multi }, { status: 415, code: 'UnsupportedMediaType' })
    await check.rejectsRaw('multi-read as text', { method: 'POST', target: '/multi-read', headers: [['Content-Type', 'text/plain']], body: '{"ops":[]}' }, { status: 415, code: 'UnsupportedMediaType' })
    await check.rejectsRaw('setACL as text', { method: 'PUT', target: '/znodes/v?acl', headers: [['Content-Type', 'text/plain']], body: '{"acl":[{"scheme":"world","id":"anyone","perms":"r"}]}' }, { status: 415, code: 'UnsupportedMediaType' })
    await check.rejectsRaw('session as text', { method: 'POST', target: '/sessions', headers: [['Content-Type', 'text/plain']], body: '{}' }, { status: 415, code: 'UnsupportedMediaType' })
    await missing('/typed')
  })

  it('an empty body where JSON is needed is 400', async () => {
    await check.rejectsRaw('multi, empty', json('/multi', ''), { status: 400, code: 'BadArguments' })
    await check.rejectsRaw('multi, no body at all', { method: 'POST', target: '/multi' }, { status: 400, code: 'BadArguments' })
    await check.rejectsRaw('multi-read, empty', json('/multi-read', ''), { status: 400, code: 'BadArguments' })
    await check.rejectsRaw('setACL, empty', json('/znodes/v?acl', '', 'PUT'), { status: 400, code: 'BadArguments' })
    for (const body of ['null', '[]', '"ops"', '42', '{}', '{"ops":null}', '{"ops":{}}']) {
      await check.rejectsRaw(`multi ${body}`, json('/multi', body), { status: 400, code: 'BadArguments' })
    }
    await check.isAlive()
  })
})

describe('multi', () => {
  const multi = (ops: unknown[]): Promise<Response> =>
    fetch(`${node.url}/multi`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops }) })

  it('zero ops is allowed, as in ZooKeeper: 200 with no results, the tree unchanged', async () => {
    const before = await treeState(node.url)
    const response = await multi([])
    expect(response.status).toBe(200)
    expect(((await response.json()) as { results: unknown[] }).results).toEqual([])
    // An empty multi is still a log entry (it gets a zxid), but the tree is the same.
    expect((await treeState(node.url)).digest).toBe(before.digest)
  })

  it('more than multiOpsMax ops is 413, and 100 000 ops is refused by the body limit', async () => {
    await check.rejects('11 ops', () => multi(Array.from({ length: multiOpsMax + 1 }, (_, i) => ({ op: 'create', path: `/many-${i}` }))), { status: 413, code: 'PayloadTooLarge' })
    await check.rejects('100 000 ops', () => multi(Array.from({ length: 100_000 }, () => ({ op: 'check', path: '/' }))), { status: 413, code: 'PayloadTooLarge' })
    await missing('/many-0')
  })

  it('the same path twice: the second create fails NodeExists and the first is rolled back', async () => {
    const before = await treeState(node.url)
    const response = await multi([{ op: 'create', path: '/twice', data: 'a' }, { op: 'create', path: '/twice', data: 'b' }])
    expect(response.status).toBe(409)
    const problem = (await response.json()) as { code: string; failedOp: number; results: Array<{ code: string }> }
    expect(problem.code).toBe('NodeExists')
    expect(problem.failedOp).toBe(1)
    expect(problem.results.map((result) => result.code)).toEqual(['Ok', 'NodeExists'])
    expect((await treeState(node.url)).digest).toBe(before.digest)
    await missing('/twice')
  })

  it('a failing op in the middle rolls everything back: the digest is unchanged', async () => {
    const before = await treeState(node.url)
    const response = await multi([
      { op: 'create', path: '/m1', data: 'one' },
      { op: 'setData', path: '/v', data: 'changed', version: 1 },
      { op: 'create', path: '/m1/child' },
      { op: 'delete', path: '/does-not-exist' },
      { op: 'create', path: '/m2' },
    ])
    expect(response.status).toBe(404)
    const problem = (await response.json()) as { code: string; failedOp: number; results: Array<{ code: string }> }
    expect(problem.code).toBe('NoNode')
    expect(problem.failedOp).toBe(3)
    expect(problem.results.map((result) => result.code)).toEqual(['Ok', 'Ok', 'Ok', 'NoNode', 'RuntimeInconsistency'])
    expect((await treeState(node.url)).digest).toBe(before.digest)
    await missing('/m1')
    await missing('/m2')
    const v = (await (await fetch(`${node.url}/znodes/v`)).json()) as { data: string; stat: { version: number; mzxid: number } }
    expect([v.data, v.stat.version]).toEqual(['v1', 1])
    // A version mismatch in the middle, too.
    const stale = await multi([{ op: 'create', path: '/m3' }, { op: 'check', path: '/v', version: 0 }, { op: 'create', path: '/m4' }])
    expect(stale.status).toBe(412)
    expect((await treeState(node.url)).digest).toBe(before.digest)
    await missing('/m3')
  })

  it('an unknown op type, a nested multi, an op that is not an object: 400', async () => {
    const badOps: unknown[] = [
      { op: 'frob', path: '/x' },
      { op: 'multi', ops: [{ op: 'create', path: '/nested' }] },
      { ops: [{ op: 'create', path: '/nested' }] },
      [{ op: 'create', path: '/nested' }],
      { op: 'create' },
      { op: 'create', path: 7 },
      { op: 'create', path: '/nested', sequential: 'yes' },
      { op: 'create', path: '/nested', data: 'x', encoding: 'rot13' },
      { op: 'create', path: '/nested', data: '!!', encoding: 'base64' },
      { op: 'create', path: '/nested', ephemeral: true, container: true },
      { op: 'getData', path: '/v' },
      null,
      'create',
    ]
    for (const op of badOps) {
      await check.rejects(`multi [create /fine, ${JSON.stringify(op)}]`, () => multi([{ op: 'create', path: '/fine' }, op]), { status: 400, code: 'BadArguments' })
    }
    await missing('/fine')
    await missing('/nested')
    await check.isAlive()
  })
})
