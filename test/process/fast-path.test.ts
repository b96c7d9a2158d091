// The client port's /znodes fast path (src/api/fast-http.ts) against a real
// node: what it serves, that it hands a connection to node:http at the first
// request it does not serve with every byte and every owed answer in order,
// watch streams in chunked framing, Connection: close, bodies that arrive in
// pieces, and --client-fast-path false. Which server wrote an answer shows in
// its header names: the fast path writes them in lower case, node:http as
// `Keep-Alive`.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '../support/http.ts'
import { parseResponse, RawConnection, requestBytes, type RawResponse } from '../support/raw-http.ts'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { Prng } from '../support/raft-sim-prng.ts'

const headersTimeoutMs = 1000
const requestTimeoutMs = 1500

let fast: NodeProcess
let plain: NodeProcess
beforeAll(async () => {
  const timeouts = ['--headers-timeout-ms', String(headersTimeoutMs), '--request-timeout-ms', String(requestTimeoutMs)]
  ;[fast, plain] = await Promise.all([startNode({ args: timeouts }), startNode({ args: [...timeouts, '--client-fast-path', 'false'] })])
})
afterAll(() => stopAll([fast, plain]))

/** The raw head of each response on the connection so far, in order. */
function heads(connection: RawConnection): string[] {
  return connection.received
    .toString('latin1')
    .split('HTTP/1.1 ')
    .slice(1)
    .map((part) => part.slice(0, part.indexOf('\r\n\r\n')))
}

async function responses(connection: RawConnection, count: number): Promise<RawResponse[]> {
  const out: RawResponse[] = []
  for (let i = 0; i < count; i++) {
    const response = await connection.response(5000)
    expect(response, `response ${i}`).not.toBeNull()
    out.push(response as RawResponse)
  }
  return out
}

function summary(response: RawResponse): string {
  const type = response.headers['content-type'] ?? ''
  if (type.includes('json')) {
    const value = response.json() as { code?: string; path?: string; id?: number }
    return `${response.status} ${value.code ?? value.path ?? (value.id !== undefined ? 'session' : 'ok')}`
  }
  return `${response.status} ${response.text()}`
}

describe.each([
  ['fast path on', () => fast, true],
  ['--client-fast-path false', () => plain, false],
])('%s', (_name, node, isFast) => {
  it('pipelined requests across the hand-over to node:http are answered in order, each for its own request', async () => {
    const connection = await RawConnection.open(node().port)
    await connection.write(
      Buffer.concat([
        requestBytes({ method: 'PUT', target: '/znodes/h', body: 'one' }),
        requestBytes({ target: '/znodes/h?raw' }),
        // Neither path of the fast path's: node:http takes the connection from here.
        requestBytes({ method: 'POST', target: '/sessions', headers: [['Content-Type', 'application/json']], body: '{"timeoutMs":5000}' }),
        requestBytes({ method: 'PUT', target: '/znodes/h', headers: [['If-Match', '"0"']], body: 'two' }),
        requestBytes({ target: '/znodes/h?raw' }),
        requestBytes({ method: 'DELETE', target: '/znodes/h' }),
        requestBytes({ target: '/znodes/h?raw' }),
      ]),
    )
    const answers = (await responses(connection, 7)).map(summary)
    expect(answers).toEqual(['201 /h', '200 one', '201 session', '200 /h', '200 two', '200 /h', '404 NoNode'])
    const servedBy = heads(connection).map((head) => (head.includes('\r\nkeep-alive: timeout=') ? 'fast' : head.includes('\r\nKeep-Alive: timeout=') ? 'node' : '?'))
    expect(servedBy).toEqual(isFast ? ['fast', 'fast', 'node', 'node', 'node', 'node', 'node'] : Array(7).fill('node'))
    connection.destroy()
  })

  it('a malformed request after good ones: the good ones are answered first, then the 400, and the connection closes', async () => {
    const connection = await RawConnection.open(node().port)
    await connection.write(
      Buffer.concat([
        requestBytes({ method: 'PUT', target: '/znodes/m', body: 'x' }),
        requestBytes({ target: '/znodes/m?raw' }),
        Buffer.from('GET /znodes/m HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n', 'latin1'),
      ]),
    )
    expect((await responses(connection, 3)).map(summary)).toEqual(['201 /m', '200 x', '400 BadArguments'])
    expect(await connection.closed(3000)).toBe(true)
  })

  it('a watch stream is chunked, delivers its event, and a request pipelined behind it is answered after it ends', async () => {
    const { port, url } = node()
    await fetch(`${url}/znodes/w`, { method: 'PUT', body: 'v0' })
    const connection = await RawConnection.open(port)
    await connection.write(Buffer.concat([requestBytes({ target: '/znodes/w?watch=data' }), requestBytes({ target: '/znodes/w?stat' })]))
    await sleep(100)
    expect(connection.received.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(connection.received.toString('latin1').toLowerCase()).toContain('transfer-encoding: chunked')
    await fetch(`${url}/znodes/w`, { method: 'PUT', body: 'v1' })
    const [stream, after] = await responses(connection, 2)
    expect(stream?.headers['content-type']).toContain('text/event-stream')
    expect(stream?.text()).toContain('event: NodeDataChanged')
    expect(after?.status).toBe(200)
    connection.destroy()
  })

  it('Connection: close is honoured: the answer says close and the server ends the connection', async () => {
    const connection = await RawConnection.open(node().port)
    await connection.write(requestBytes({ target: '/znodes', headers: [['Connection', 'close']] }))
    const [response] = await responses(connection, 1)
    expect(response?.status).toBe(200)
    expect(response?.headers['connection']).toBe('close')
    expect(await connection.closed(3000)).toBe(true)
  })

  it('a connection that sends nothing is answered 408 once headersTimeoutMs passes, and closed', async () => {
    const started = Date.now()
    const connection = await RawConnection.open(node().port)
    const response = await connection.response(headersTimeoutMs + 3000)
    expect(response?.status).toBe(408)
    expect((response?.json() as { code?: string }).code).toBe('RequestTimeout')
    expect(await connection.closed(1000)).toBe(true)
    expect(Date.now() - started).toBeGreaterThanOrEqual(headersTimeoutMs - 100)
  })

  it('binary data sent in many pieces, with pauses, is stored byte for byte', async () => {
    const data = randomBytes(200_000)
    const connection = await RawConnection.open(node().port)
    const bytes = requestBytes({ method: 'PUT', target: '/znodes/bin', headers: [['Content-Type', 'application/octet-stream']], body: data })
    await connection.trickle(bytes, 30_001, 5)
    const [created] = await responses(connection, 1)
    expect(created?.status).toBe(201)
    await connection.write(requestBytes({ target: '/znodes/bin?raw' }))
    const [read] = await responses(connection, 1)
    expect(Buffer.compare(read?.body ?? Buffer.alloc(0), data)).toBe(0)
    connection.destroy()
  })
})

describe('garbage on the fast path', () => {
  /** One byte-level mutation of a well-formed request: the parser must serve it, hand it over, or time it out, and never stop the node. */
  function mutate(random: Prng, bytes: Buffer): Buffer {
    const at = random.int(bytes.length)
    const special = [0x00, 0x0a, 0x0d, 0x20, 0x3a, 0x09, 0x7f, 0xff, 0x2f, 0x3f, 0x25]
    const value = random.chance(0.5) ? random.pick(special) : random.int(256)
    switch (random.int(5)) {
      case 0:
        return Buffer.concat([bytes.subarray(0, at), Buffer.from([value]), bytes.subarray(at + 1)])
      case 1:
        return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)])
      case 2:
        return Buffer.concat([bytes.subarray(0, at), Buffer.from([value]), bytes.subarray(at)])
      case 3:
        return bytes.subarray(0, at)
      default: {
        const line = random.pick(['Host: other\r\n', 'Content-Length: 5\r\n', 'Content-Length: -1\r\n', 'Transfer-Encoding: chunked\r\n', 'Connection: upgrade\r\n', ' folded\r\n', 'X: \u00e9\r\n', ': empty\r\n'])
        const firstLineEnd = bytes.indexOf('\r\n') + 2
        return Buffer.concat([bytes.subarray(0, firstLineEnd), Buffer.from(line, 'latin1'), bytes.subarray(firstLineEnd)])
      }
    }
  }

  it('300 mutated requests, each followed by a good one: every connection is answered or closed, none with a 500, and the node serves on', async () => {
    const { url, port } = fast
    await fetch(`${url}/znodes/fz`, { method: 'PUT', body: 'fuzz' })
    const seed = Number(process.env['HERD_FUZZ_SEED'] ?? Date.now() % 1_000_000)
    console.log(`fast path garbage: seed ${seed} (HERD_FUZZ_SEED replays it)`)
    const random = new Prng(seed)
    const base = [
      requestBytes({ target: '/znodes/fz?stat', headers: [['X-A', 'b']] }),
      // A znode changed after zxid 1: the event comes at once and the stream ends.
      requestBytes({ target: '/znodes/fz?watch=data&zxid=1', headers: [['Accept', 'text/event-stream']] }),
      requestBytes({ method: 'DELETE', target: '/znodes/fz', headers: [['If-Match', '"77"']] }),
      requestBytes({ method: 'PUT', target: '/znodes/fz', headers: [['If-Match', '"99"']], body: 'nope' }),
    ]
    const good = requestBytes({ target: '/znodes?stat' })
    const cases = Array.from({ length: 300 }, () => mutate(random, random.pick(base)))
    const outcomes: string[] = []
    for (let batch = 0; batch < cases.length; batch += 100) {
      await Promise.all(
        cases.slice(batch, batch + 100).map(async (request) => {
          const connection = await RawConnection.open(port)
          await connection.write(Buffer.concat([request, good]))
          // Both answered, or closed, within the request timeout and a margin. A
          // mutation may glue the two into one request, or make a watch that
          // waits: then at least an answer must have come. Silence on an open
          // connection means a request stuck in a parser.
          const deadline = Date.now() + requestTimeoutMs + 3000
          while (!connection.isClosed && Date.now() < deadline && statusesOf(connection.received).length < 2) await sleep(20)
          await sleep(20)
          const statuses = statusesOf(connection.received)
          const isSilent = !connection.isClosed && connection.received.length === 0
          connection.destroy()
          const what = JSON.stringify(request.toString('latin1'))
          // 504 is an answer (a zxid from the future waited its time); 500 is a bug.
          if (statuses.includes(500)) outcomes.push(`500 for ${what}: ${statuses.join(',')}`)
          if (isSilent) outcomes.push(`no answer and not closed after ${requestTimeoutMs + 3000} ms: ${what}`)
        }),
      )
    }
    expect(outcomes).toEqual([])
    expect((await fetch(`${url}/health`)).status).toBe(200)
    expect((await fetch(`${url}/znodes/fz-after`, { method: 'PUT', body: 'ok' })).status).toBe(201)
    expect(await (await fetch(`${url}/znodes/fz-after?raw`)).text()).toBe('ok')
  }, 120_000)
})

/** Complete responses in `bytes`, in order (a watch stream still open counts once it ends). */
function statusesOf(bytes: Buffer): number[] {
  const statuses: number[] = []
  for (let offset = 0; ; ) {
    const parsed = parseResponse(bytes, offset, false)
    if (parsed === null) return statuses
    statuses.push(parsed.response.status)
    offset = parsed.end
  }
}
