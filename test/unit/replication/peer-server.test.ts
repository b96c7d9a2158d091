// The peer server's two ways in, on raw connections: well-formed requests
// that pass the header checks are read off the socket by the fast path
// (api/fast-http.ts), and the first request that does not (a wrong secret,
// a GET) hands the connection to node:http for good, which refuses it and
// serves what follows, in order. The fast path writes its header names in
// lower case and node:http capitalises its own (Date, Keep-Alive), which
// tells the two apart. Closing the server drops the fast path's
// connections too, or close would wait on them.
import { connect, type Socket } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { createLogger } from '../../../src/log.ts'
import { bodyChecksum, peerHeaders } from '../../../src/replication/peer/peer-client.ts'
import { decodeValue, encodeValue } from '../../../src/replication/peer/value-codec.ts'
import { startPeerServer, type PeerServer } from '../../../src/replication/peer/peer-server.ts'

const secret = 'a-cluster-secret-of-some-length'
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Received {
  readonly from: number
  readonly messages: unknown
}

async function startServer(received: Received[] = []): Promise<PeerServer> {
  const server = await startPeerServer({
    selfId: 2,
    secret,
    host: '127.0.0.1',
    port: 0,
    log: createLogger('error', () => undefined),
    handler: {
      isMember: (id) => id === 1,
      receive: (from, messages) => void received.push({ from, messages }),
      call: (_from, method, args) => Promise.resolve({ method, args }),
    },
  })
  cleanups.push(() => server.close())
  return server
}

function request(path: string, value: unknown, options: { method?: string; secret?: string } = {}): Buffer {
  const body = encodeValue(value)
  const head = [
    `${options.method ?? 'POST'} ${path} HTTP/1.1`,
    'host: 127.0.0.1',
    `${peerHeaders.secret}: ${options.secret ?? secret}`,
    `${peerHeaders.from}: 1`,
    `${peerHeaders.to}: 2`,
    `${peerHeaders.checksum}: ${bodyChecksum(body)}`,
    'content-type: application/octet-stream',
    `content-length: ${body.byteLength}`,
  ]
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body])
}

interface Response {
  readonly status: number
  /** The header lines as sent, names in their own case. */
  readonly head: string
  readonly body: Buffer
}

/** Reads `count` responses with Content-Length framing (or none, for 204) off the socket. */
function responses(socket: Socket, count: number): Promise<Response[]> {
  return new Promise((resolve, reject) => {
    let pending = Buffer.alloc(0)
    const parsed: Response[] = []
    const timer = setTimeout(() => reject(new Error(`${parsed.length} of ${count} responses within 5 s: ${pending.toString('latin1')}`)), 5000)
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      for (;;) {
        const end = pending.indexOf('\r\n\r\n')
        if (end < 0) break
        const head = pending.toString('latin1', 0, end)
        const length = Number(/^content-length: *(\d+)$/im.exec(head)?.[1] ?? 0)
        if (pending.length < end + 4 + length) break
        parsed.push({ status: Number(head.slice(9, 12)), head, body: pending.subarray(end + 4, end + 4 + length) })
        pending = pending.subarray(end + 4 + length)
      }
      if (parsed.length >= count) {
        clearTimeout(timer)
        resolve(parsed)
      }
    })
    socket.once('error', reject)
  })
}

async function open(server: PeerServer): Promise<Socket> {
  const socket = connect(server.port, '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  cleanups.push(async () => void socket.destroy())
  return socket
}

it('serves good peer requests on the fast path, and hands the connection to node:http at the first it refuses', async () => {
  const received: Received[] = []
  const server = await startServer(received)
  const socket = await open(server)
  const answers = responses(socket, 5)
  socket.write(
    Buffer.concat([
      request('/call/echo', { n: 1 }),
      request('/raft', [{ type: 'heartbeat' }]),
      request('/call/echo', { n: 2 }, { secret: 'not-the-secret-of-this-cluster' }),
      request('/call/echo', { n: 3 }),
      request('/call/echo', { n: 4 }, { method: 'GET' }),
    ]),
  )
  const [first, second, refused, third, notPost] = (await answers) as [Response, Response, Response, Response, Response]
  expect(first.status).toBe(200)
  expect(first.head).toMatch(/^date: /m)
  expect(decodeValue(first.body)).toEqual({ method: 'echo', args: { n: 1 } })
  expect(second.status).toBe(204)
  expect(second.head).toMatch(/^date: /m)
  expect(received).toEqual([{ from: 1, messages: [{ type: 'heartbeat' }] }])
  expect(refused.status).toBe(401)
  expect(refused.head).toMatch(/^Date: /m)
  expect(JSON.parse(refused.body.toString())).toMatchObject({ code: 'AuthFailed' })
  expect(third.status).toBe(200)
  expect(third.head).toMatch(/^Date: /m)
  expect(third.head).toMatch(new RegExp(`^${peerHeaders.checksum}: ${bodyChecksum(third.body)}$`, 'm'))
  expect(decodeValue(third.body)).toEqual({ method: 'echo', args: { n: 3 } })
  expect(notPost.status).toBe(405)
})

it('refuses on the fast path a body that fails its checksum or does not decode, and serves on', async () => {
  const received: Received[] = []
  const server = await startServer(received)
  const socket = await open(server)
  const answers = responses(socket, 3)
  const good = request('/raft', [{ type: 'heartbeat' }])
  const flipped = Buffer.from(good)
  flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 0x01
  const garbage = Buffer.from(`POST /raft HTTP/1.1\r\nhost: 127.0.0.1\r\n${peerHeaders.secret}: ${secret}\r\n${peerHeaders.from}: 1\r\n${peerHeaders.to}: 2\r\n${peerHeaders.checksum}: ${bodyChecksum(Buffer.from([0xff, 0xff]))}\r\ncontent-length: 2\r\n\r\n`, 'latin1')
  socket.write(Buffer.concat([flipped, garbage, Buffer.from([0xff, 0xff]), good]))
  const [corrupted, malformed, served] = (await answers) as [Response, Response, Response]
  expect([corrupted.status, malformed.status, served.status]).toEqual([400, 400, 204])
  for (const response of [corrupted, malformed, served]) expect(response.head).toMatch(/^date: /m)
  expect(JSON.parse(corrupted.body.toString())).toMatchObject({ code: 'MarshallingError' })
  expect(JSON.parse(malformed.body.toString())).toMatchObject({ code: 'MarshallingError' })
  expect(received).toEqual([{ from: 1, messages: [{ type: 'heartbeat' }] }])
})

it('closes the connections the fast path holds when the server closes', async () => {
  const server = await startServer()
  const socket = await open(server)
  const answered = responses(socket, 1)
  socket.write(request('/call/echo', { n: 1 }))
  expect((await answered)[0]?.status).toBe(200)
  const ended = new Promise((resolve) => socket.once('close', resolve))
  const startedMs = performance.now()
  await server.close()
  await ended
  expect(performance.now() - startedMs).toBeLessThan(1000)
})
