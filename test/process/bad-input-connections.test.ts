// Headers and connections (RELIABILITY.md, "Bad inputs ...: headers and
// connections", and "What the HTTP gateway must get right", 3): oversized
// and too many headers, slowloris, slow bodies, unknown methods, pipelining,
// a thousand idle keep-alives, HTTP/1.0 without Host. Everything that fails
// before a route is answered by the server's own clientError path, and must
// still be problem+json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { RawConnection, rawExchange, requestBytes, treeState } from '../support/raw-http.ts'
import { badInput } from './fixtures/bad-input.ts'

const headersTimeoutMs = 1000
const requestTimeoutMs = 2000
const headersCountMax = 20
const headerBytesMax = 16 * 1024

let node: NodeProcess
const check = badInput(() => node)

beforeAll(async () => {
  node = await startNode({
    args: [
      '--headers-timeout-ms', String(headersTimeoutMs),
      '--request-timeout-ms', String(requestTimeoutMs),
      '--headers-count-max', String(headersCountMax),
      '--header-bytes-max', String(headerBytesMax),
    ],
  })
})
afterAll(() => stopAll([node]))

const tooLarge = { status: [413, 431], code: 'PayloadTooLarge' } as const
const malformed = { status: 400, code: 'BadArguments' } as const

describe('headers', () => {
  it('more than 16 KiB of headers is refused before any route, and the connection closes', async () => {
    const problem = await check.rejectsRaw('17 KiB header', { method: 'PUT', target: '/znodes/h', headers: [['X-Big', 'a'.repeat(17 * 1024)]], body: 'x' }, tooLarge)
    expect(problem.headers['connection']).toBe('close')
    await check.rejectsRaw('many small headers adding up to 20 KiB', { target: '/health', headers: Array.from({ length: 10 }, (_, i) => [`X-Big-${i}`, 'b'.repeat(2048)] as const) }, tooLarge)
    await check.rejectsRaw('10 000 headers', { target: '/health', headers: Array.from({ length: 10_000 }, (_, i) => [`X-${i}`, '1'] as const) }, tooLarge)
  })

  it('headersCountMax fields are served; one more is refused', async () => {
    // Host counts: it is one of the fields.
    const atLimit = await rawExchange(node.port, { target: '/health', headers: Array.from({ length: headersCountMax - 1 }, (_, i) => [`X-H${i}`, 'v'] as const) })
    expect(atLimit.response?.status).toBe(200)
    await check.rejectsRaw(
      `${headersCountMax + 1} fields`,
      { method: 'PUT', target: '/znodes/h', headers: Array.from({ length: headersCountMax }, (_, i) => [`X-H${i}`, 'v'] as const), body: 'x' },
      tooLarge,
    )
  })

  it('malformed header lines are 400 problem+json', async () => {
    for (const [name, head] of [
      ['obs-fold', 'X-A: a\r\n b'],
      ['no colon', 'X-A a'],
      ['a control byte in a value', 'X-A: a\x01b'],
      ['a space before the colon', 'X-A : a'],
      ['a huge Content-Length', 'Content-Length: 99999999999999999999999'],
      ['a negative Content-Length', 'Content-Length: -1'],
    ] as const) {
      await check.rejectsRaw(name, Buffer.from(`PUT /znodes/h HTTP/1.1\r\nHost: x\r\n${head}\r\n\r\n`, 'latin1'), malformed)
    }
    await check.rejectsRaw('bare LF line ends', 'PUT /znodes/h HTTP/1.1\nHost: x\nContent-Length: 1\n\nx', malformed)
    await check.rejectsRaw('an HTTP/2 preface on the HTTP/1 port', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', malformed)
    await check.rejectsRaw('HTTP/9.9', 'GET /health HTTP/9.9\r\nHost: x\r\n\r\n', malformed)
    await check.rejectsRaw('an absolute-form target', 'PUT http://evil.example/znodes/h HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx', malformed)
    expect((await fetch(`${node.url}/znodes/h`)).status).toBe(404)
    await check.isAlive()
  })
})

describe('slow clients', () => {
  it('slowloris (one header byte every 200 ms) is cut off with 408 within a few seconds', async () => {
    const before = await treeState(node.url)
    const connection = await RawConnection.open(node.port)
    const started = Date.now()
    const head = `PUT /znodes/slow HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(200)}\r\nContent-Length: 1\r\n\r\nx`
    const sentBytes = await connection.trickle(head, 1, 200)
    const response = await connection.response(1000)
    const elapsedMs = Date.now() - started
    console.log(`slowloris: cut off after ${elapsedMs} ms and ${sentBytes} of ${head.length} bytes (headersTimeoutMs ${headersTimeoutMs})`)
    const problem = JSON.parse(response?.text() ?? '{}') as { code?: string }
    expect(response?.status).toBe(408)
    expect(response?.headers['content-type']).toBe('application/problem+json')
    expect(problem.code).toBe('RequestTimeout')
    expect(connection.isClosed || (await connection.closed(1000))).toBe(true)
    expect(elapsedMs).toBeLessThan(headersTimeoutMs + 3000)
    expect(sentBytes).toBeLessThan(head.length)
    expect(await treeState(node.url)).toEqual(before)
  })

  it('a body that stops part way is cut off with 408 at requestTimeoutMs', async () => {
    const started = Date.now()
    await check.rejectsRaw(
      'Content-Length 100, 10 bytes, then silence',
      { method: 'PUT', target: '/znodes/slow', headers: [['Content-Length', '100']], body: '0123456789', contentLength: false },
      { status: 408, code: 'RequestTimeout' },
      requestTimeoutMs + 4000,
    )
    const elapsedMs = Date.now() - started
    console.log(`stalled body: 408 after ${elapsedMs} ms (requestTimeoutMs ${requestTimeoutMs})`)
    expect(elapsedMs).toBeLessThan(requestTimeoutMs + 3000)
  })

  it('a body trickled a byte every 200 ms is cut off too: requestTimeoutMs bounds the whole request', async () => {
    const before = await treeState(node.url)
    const connection = await RawConnection.open(node.port)
    const started = Date.now()
    await connection.write('PUT /znodes/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n')
    const sentBytes = await connection.trickle('b'.repeat(100), 1, 200)
    const response = await connection.response(1000)
    const elapsedMs = Date.now() - started
    console.log(`trickled body: cut off after ${elapsedMs} ms and ${sentBytes} of 100 body bytes`)
    expect(response?.status).toBe(408)
    expect(response?.headers['content-type']).toBe('application/problem+json')
    expect(sentBytes).toBeLessThan(100)
    expect(elapsedMs).toBeLessThan(requestTimeoutMs + 3000)
    expect(await treeState(node.url)).toEqual(before)
    await check.isAlive()
  })
})

describe('methods and routes', () => {
  it('a method the HTTP parser does not know is 400 problem+json', async () => {
    await check.rejectsRaw('FROB', { method: 'FROB', target: '/znodes/m', body: 'x' }, malformed)
    await check.rejectsRaw('lower-case put', { method: 'put', target: '/znodes/m', body: 'x' }, malformed)
  })

  it('a known method a route does not take is 405 with Allow; an unknown route is 404', async () => {
    for (const [method, target] of [
      ['PATCH', '/znodes/m'],
      ['POST', '/znodes/m'],
      ['PROPFIND', '/znodes/m'],
      ['TRACE', '/health'],
      ['GET', '/multi'],
      ['PUT', '/cluster'],
      ['DELETE', '/health'],
      ['GET', '/sessions/1/heartbeat'],
    ] as const) {
      const problem = await check.rejectsRaw(`${method} ${target}`, { method, target, body: 'x' }, { status: 405, code: 'MethodNotAllowed' })
      expect(problem.headers['allow'], `${method} ${target}`).toMatch(/[A-Z]/)
    }
    for (const target of ['/nope', '/znodesx', '/multi/x', '/sessions/1/frob', '/']) {
      await check.rejectsRaw(`GET ${target}`, { target }, { status: 404, code: 'NotFound' })
    }
    await check.rejectsRaw('CONNECT', 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n', { status: 405, code: 'MethodNotAllowed' })
    expect((await fetch(`${node.url}/znodes/m`)).status).toBe(404)
    await check.isAlive()
  })
})

describe('connections', () => {
  it('pipelined requests on one connection are answered in order', async () => {
    const connection = await RawConnection.open(node.port)
    await connection.write(
      Buffer.concat([
        requestBytes({ method: 'PUT', target: '/znodes/p', body: 'one' }),
        requestBytes({ target: '/znodes/p?raw' }),
        requestBytes({ method: 'PUT', target: '/znodes/p', headers: [['If-Match', '"0"']], body: 'two' }),
        requestBytes({ method: 'PUT', target: '/znodes/p', headers: [['If-Match', '"0"']], body: 'stale' }),
        requestBytes({ target: '/znodes/p?raw' }),
        requestBytes({ target: '/znodes/a/../p' }),
        requestBytes({ method: 'DELETE', target: '/znodes/p', headers: [['If-Match', '"1"']] }),
        requestBytes({ target: '/znodes/p?stat' }),
      ]),
    )
    const answers: string[] = []
    for (let i = 0; i < 8; i++) {
      const response = await connection.response(3000)
      expect(response, `response ${i}`).not.toBeNull()
      const type = response?.headers['content-type'] ?? ''
      answers.push(`${response?.status} ${type.includes('json') ? ((response?.json() as { code?: string }).code ?? 'ok') : response?.text()}`)
    }
    connection.destroy()
    expect(answers).toEqual(['201 ok', '200 one', '200 ok', '412 BadVersion', '200 two', '400 BadArguments', '200 ok', '404 NoNode'])
  })

  it('a flood of 500 pipelined writes on one connection: 500 answers, in order, each for its own request', async () => {
    const count = 500
    const connection = await RawConnection.open(node.port)
    const started = Date.now()
    await connection.write(Buffer.concat(Array.from({ length: count }, (_, i) => requestBytes({ method: 'PUT', target: `/znodes/flood-${i}`, body: String(i) }))))
    const paths: string[] = []
    for (let i = 0; i < count; i++) {
      const response = await connection.response(10_000)
      if (response === null) break
      paths.push(`${response.status} ${(response.json() as { path?: string }).path}`)
    }
    connection.destroy()
    console.log(`pipelined flood: ${paths.length} answers to ${count} writes in ${Date.now() - started} ms`)
    expect(paths).toEqual(Array.from({ length: count }, (_, i) => `201 /flood-${i}`))
    expect(await (await fetch(`${node.url}/znodes/flood-${count - 1}?raw`)).text()).toBe(String(count - 1))
  })

  it('1 000 idle keep-alive connections do not stop normal service', async () => {
    const idle: RawConnection[] = []
    try {
      // Half have made one request and sit idle on keep-alive; half never sent a byte.
      for (let i = 0; i < 1000; i++) idle.push(await RawConnection.open(node.port))
      await Promise.all(idle.slice(0, 500).map((connection) => connection.write(requestBytes({ target: '/health' }))))
      const answered = (await Promise.all(idle.slice(0, 500).map((connection) => connection.response(10_000)))).filter((r) => r?.status === 200).length
      expect(answered).toBe(500)
      const started = Date.now()
      const health = await fetch(`${node.url}/health`)
      const put = await fetch(`${node.url}/znodes/busy`, { method: 'PUT', body: 'served' })
      const get = await fetch(`${node.url}/znodes/busy?raw`)
      const serviceMs = Date.now() - started
      expect([health.status, put.status, await get.text()]).toEqual([200, 201, 'served'])
      const open = idle.filter((connection) => !connection.isClosed).length
      console.log(`1000 idle connections: ${open} still open; /health + PUT + GET beside them took ${serviceMs} ms`)
      expect(serviceMs).toBeLessThan(2000)
    } finally {
      for (const connection of idle) connection.destroy()
    }
    await check.isAlive()
  })

  it('a chunked body that breaks after a watch stream opened on its headers cuts the connection: no error answer lands inside the stream', async () => {
    await fetch(`${node.url}/znodes/broken-watch`, { method: 'PUT', body: 'x' })
    const connection = await RawConnection.open(node.port)
    await connection.write('GET /znodes/broken-watch?watch=data HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n')
    const deadline = Date.now() + 3000
    while (!connection.received.toString('latin1').includes(': watching data') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(connection.received.toString('latin1')).toContain(': watching data')
    await connection.write('zz\r\n')
    expect(await connection.closed(3000)).toBe(true)
    const received = connection.received.toString('latin1')
    expect(received.match(/HTTP\/1\.1 /g)).toHaveLength(1)
    await check.isAlive()
  })

  it('HTTP/1.0 without Host works; HTTP/1.1 without Host is 400 problem+json', async () => {
    const health = await rawExchange(node.port, { target: '/health', version: 'HTTP/1.0', host: null })
    expect(health.response?.status).toBe(200)
    expect((health.response?.json() as { status: string }).status).toBe('ok')
    const put = await rawExchange(node.port, { method: 'PUT', target: '/znodes/http10', version: 'HTTP/1.0', host: null, body: 'ten' })
    expect(put.response?.status).toBe(201)
    const get = await rawExchange(node.port, { target: '/znodes/http10?raw', version: 'HTTP/1.0', host: null })
    expect(get.response?.text()).toBe('ten')
    await check.rejectsRaw('HTTP/1.1 without Host', { method: 'PUT', target: '/znodes/nohost', host: null, body: 'x' }, malformed)
    await check.rejectsRaw('a Host no URL can hold', { method: 'PUT', target: '/znodes/badhost', host: 'evil.example:99999', body: 'x' }, malformed)
    // Any well-formed Host is fine: herd does not route by it.
    expect((await rawExchange(node.port, { target: '/health', host: 'evil.example' })).response?.status).toBe(200)
    await check.isAlive()
  })
})
