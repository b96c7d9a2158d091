// The peer client against a real peer server. Over a link that flips bytes
// (the fault proxy's garble mode), every consensus message the server hands
// to the replica, and every call answer the client returns, is exactly what
// was sent; a corrupted one is refused (the request) or fails as
// ConnectionLoss (the answer), never delivered changed, and so is a message
// that comes back on an answer. Without the body checksum, a flipped byte
// inside an entry's data decodes fine and a follower stores and applies
// another write. And a call is bounded by its timeout: a peer that takes
// the request and never answers costs the caller ConnectionLoss after that
// long, not a hang, and the next call still goes through.
//
// An answer is bounded as a request is: a peer that answers without end
// (a bug, a stuck proxy) costs the caller a failed call once the answer
// passes the bound, not its memory, and the next exchange goes through.
//
// Messages travel back on answers: what replica 2 has for replica 1 leaves
// in the answer to 1's request rather than in a request of its own, and an
// answer with nothing to carry is sent empty after the hold time, so 1's
// next request is not kept waiting for it. Only the newest answer is held:
// an older one is sent empty at once, or it would keep one of 1's requests
// in flight taken. And a request made in the check phase (where a replica
// sends) behind an answer the peer holds leaves at once, not a turn later
// (undici delays a request on a connection gone idle by a setImmediate).
import { randomBytes } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { systemClock } from '../../../src/clock.ts'
import { HerdError } from '../../../src/errors.ts'
import { createLogger, type Logger } from '../../../src/log.ts'
import { bodyChecksum, PeerClient, peerHeaders } from '../../../src/replication/peer/peer-client.ts'
import { decodeValue, encodeValue } from '../../../src/replication/peer/value-codec.ts'
import { startPeerServer, type PeerServer, type PeerServerOptions } from '../../../src/replication/peer/peer-server.ts'
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const secret = 'a-cluster-secret-of-some-length'
const quiet = createLogger('error', () => undefined)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** Replica `selfId`'s peer server (2's unless told), with `handler` for what the other sends it. */
async function startPeer(handler: Omit<PeerServerOptions['handler'], 'isMember'>, more: Partial<PeerServerOptions> = {}): Promise<PeerServer> {
  const selfId = more.selfId ?? 2
  const server = await startPeerServer({ selfId, secret, host: '127.0.0.1', port: 0, log: quiet, handler: { isMember: (id) => id === 3 - selfId, ...handler }, ...more })
  cleanups.push(() => server.close())
  return server
}

/** Replica `selfId`'s peer client (1's unless told), reaching the other at `address`. */
function startClient(
  address: { readonly host: string; readonly port: number },
  timeoutMs: number,
  more: { selfId?: number; sendsInFlightMax?: number; answerBytesMax?: number; answerHoldMs?: number; log?: Logger } = {},
): PeerClient {
  const selfId = more.selfId ?? 1
  const client = new PeerClient({
    selfId,
    secret,
    clock: systemClock,
    log: more.log ?? quiet,
    timeoutMs,
    sendsInFlightMax: more.sendsInFlightMax ?? 4,
    queuedMessagesMax: 10_000,
    answerHoldMs: more.answerHoldMs ?? 50,
    ...(more.answerBytesMax === undefined ? {} : { answerBytesMax: more.answerBytesMax }),
  })
  cleanups.push(() => client.close())
  client.setPeers(new Map([[3 - selfId, address]]))
  return client
}

const eventually = async (what: string, isDone: () => boolean): Promise<void> => {
  for (const startedMs = performance.now(); !isDone(); await new Promise((resolve) => setTimeout(resolve, 5))) {
    if (performance.now() - startedMs > 5000) throw new Error(`not within 5 s: ${what}`)
  }
}

it('delivers every message and answer over a garbling link exactly as sent, or not at all', async () => {
  const received: unknown[] = []
  const echoed: unknown[] = []
  // Replica 2 sends every message back, so that some travel on answers over the link too.
  const client2 = startClient({ host: '127.0.0.1', port: 1 }, 2000, { selfId: 2 })
  const server = await startPeer(
    {
      receive: (_from, messages) => {
        if (!Array.isArray(messages)) return
        received.push(...messages)
        for (const message of messages) client2.send(1, message)
      },
      // Echoes its argument back, so that answers are as long as requests and as exposed.
      call: async (_from, _method, args) => args,
    },
    { answers: client2 },
  )
  const proxy: FaultProxy = await startFaultProxy({ host: '127.0.0.1', port: server.port }, { seed: 7 })
  cleanups.push(() => proxy.close())
  proxy.setMode({ kind: 'garble', probability: 0.3 }, 'both')
  const client = startClient({ host: proxy.host, port: proxy.port }, 2000)
  client.setReceiver((_from, messages) => echoed.push(...(messages as unknown[])))

  const sent = new Set<string>()
  let answered = 0
  let refusedAnswers = 0
  for (let round = 0; round < 150; round++) {
    const data = randomBytes(200 + (round % 7) * 50)
    sent.add(hex(data))
    client.send(2, { data })
    try {
      const echoed = await client.call(2, 'echo', { data })
      expect(hex((echoed as { data: Uint8Array }).data)).toBe(hex(data))
      answered++
    } catch (error) {
      // A request refused for its checksum, or an answer that failed its own.
      expect(error).toBeInstanceOf(HerdError)
      refusedAnswers++
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 300))
  const delivered = received.map((message) => hex((message as { data: Uint8Array }).data))
  // Every message stepped is one that was sent, byte for byte, both ways.
  expect(delivered.filter((each) => !sent.has(each))).toEqual([])
  const echoedBack = echoed.map((message) => hex((message as { data: Uint8Array }).data))
  expect(echoedBack.filter((each) => !sent.has(each))).toEqual([])
  expect(echoedBack.length).toBeGreaterThan(0)
  // The link did flip bytes (some calls failed), and most got through.
  expect(refusedAnswers).toBeGreaterThan(0)
  expect(answered).toBeGreaterThan(0)
  expect(delivered.length).toBeGreaterThan(0)
}, 60_000)

it('fails a call the peer never answers with ConnectionLoss once its timeout passed', async () => {
  const server = await startPeer({
    receive: () => undefined,
    call: async (_from, method, args) => (method === 'hang' ? new Promise(() => undefined) : args),
  })
  const client = startClient({ host: '127.0.0.1', port: server.port }, 5000)

  expect(await client.call(2, 'echo', { n: 1 }, 300)).toEqual({ n: 1 })
  const startedMs = performance.now()
  const failure = await client.call(2, 'hang', null, 300).then(
    () => null,
    (error: unknown) => error,
  )
  const tookMs = performance.now() - startedMs
  expect(failure).toBeInstanceOf(HerdError)
  expect((failure as HerdError).code).toBe('ConnectionLoss')
  expect(tookMs).toBeGreaterThanOrEqual(290)
  expect(tookMs).toBeLessThan(3000)
  // The connection the hung call held is not needed for the next one.
  expect(await client.call(2, 'echo', { n: 2 }, 1000)).toEqual({ n: 2 })
})

it('carries the messages for the sender of a request back in its answer, not in a request of its own', async () => {
  const requestsTo1: unknown[] = []
  const answersTo1: unknown[] = []
  // Replica 1: its server only counts requests; what comes back on answers reaches its receiver.
  const server1 = await startPeer({ receive: (_from, messages) => requestsTo1.push(messages), call: async () => null }, { selfId: 1 })
  let client2: PeerClient | null = null
  // Replica 2 replies to every message it gets, as a follower acknowledges an append.
  const server2 = await startPeer(
    {
      receive: (_from, messages) => {
        for (const message of messages as Array<{ n: number }>) client2?.send(1, { reply: message.n })
      },
      call: async () => null,
    },
    { answers: { hold: (from, answer) => (client2 as PeerClient).hold(from, answer) } },
  )
  client2 = startClient({ host: '127.0.0.1', port: server1.port }, 2000, { selfId: 2 })
  const client1 = startClient({ host: '127.0.0.1', port: server2.port }, 2000)
  client1.setReceiver((from, messages) => {
    expect(from).toBe(2)
    answersTo1.push(...(messages as unknown[]))
  })

  for (let n = 0; n < 30; n++) {
    client1.send(2, { n })
    await eventually(`the reply to ${n}`, () => answersTo1.length === n + 1)
  }
  expect(answersTo1).toEqual(Array.from({ length: 30 }, (_, n) => ({ reply: n })))
  expect(requestsTo1).toEqual([])
})

it('sends a held answer empty once the hold time passed, freeing the request it answers', async () => {
  const received: number[] = []
  // Replica 2 holds answers and never has anything to say.
  const holder = startClient({ host: '127.0.0.1', port: 1 }, 2000, { selfId: 2 })
  const server = await startPeer(
    { receive: (_from, messages) => received.push(...(messages as Array<{ n: number }>).map((message) => message.n)), call: async () => null },
    { answers: holder },
  )
  // One request in flight at a time: the second message waits for the first request's answer.
  const client = startClient({ host: '127.0.0.1', port: server.port }, 2000, { sendsInFlightMax: 1 })
  const startedMs = performance.now()
  client.send(2, { n: 1 })
  await eventually('the first message', () => received.length === 1)
  client.send(2, { n: 2 })
  await eventually('the second message', () => received.length === 2)
  expect(received).toEqual([1, 2])
  // Held for about answerHoldMs (50), not for the call timeout (2000).
  expect(performance.now() - startedMs).toBeGreaterThanOrEqual(40)
  expect(performance.now() - startedMs).toBeLessThan(1500)
})

it('sends queued messages at flush(), not a turn of the event loop later', async () => {
  const client = startClient({ host: '127.0.0.1', port: 1 }, 2000)
  const answered: Array<Uint8Array | null> = []
  const answer = (body: Uint8Array | null): boolean => {
    answered.push(body)
    return true
  }
  client.hold(2, answer)
  client.send(2, { n: 1 })
  expect(answered).toEqual([])
  client.flush()
  expect(answered.map((body) => decodeValue(body as Uint8Array))).toEqual([[{ n: 1 }]])
  // Without a flush the message waits for the end of the turn.
  client.hold(2, answer)
  client.send(2, { n: 2 })
  expect(answered).toHaveLength(1)
  await new Promise((resolve) => setImmediate(resolve))
  expect(answered).toHaveLength(2)
})

it('holds only the newest answer from a peer, and sends the older one empty at once', () => {
  const client = startClient({ host: '127.0.0.1', port: 1 }, 2000)
  const answered: string[] = []
  const answer =
    (name: string) =>
    (body: Uint8Array | null): boolean => {
      answered.push(`${name}: ${body === null ? 'empty' : JSON.stringify(decodeValue(body))}`)
      return true
    }
  client.hold(2, answer('first'))
  client.hold(2, answer('second'))
  expect(answered).toEqual(['first: empty'])
  client.send(2, { n: 1 })
  client.flush()
  expect(answered).toEqual(['first: empty', 'second: [{"n":1}]'])
})

it('writes a request made in the check phase at once behind an answer the peer holds', async () => {
  const received: number[] = []
  // Replica 2 holds every answer for long and never has anything to say.
  const holder = startClient({ host: '127.0.0.1', port: 1 }, 2000, { selfId: 2, answerHoldMs: 10_000 })
  const server = await startPeer(
    { receive: (_from, messages) => received.push(...(messages as Array<{ n: number }>).map((message) => message.n)), call: async () => null },
    { answers: holder },
  )
  const client = startClient({ host: '127.0.0.1', port: server.port }, 2000)
  client.send(2, { n: 1 })
  await eventually('the first message', () => received.length === 1)
  // Sent where a replica sends (an immediate), and looked for in the next turn's check phase:
  // the server, in this process, reads what was written in that turn's I/O.
  const seen = await new Promise<number[]>((resolve) =>
    setImmediate(() => {
      client.send(2, { n: 2 })
      client.flush()
      setImmediate(() => resolve([...received]))
    }),
  )
  expect(seen).toEqual([1, 2])
})

it('cuts off an answer that passes the bound, and fails that exchange alone', async () => {
  // A peer port that answers some requests without end, 64 KiB a chunk.
  const endless = (response: ServerResponse): void => {
    response.writeHead(200, { 'content-type': 'application/octet-stream' })
    const chunk = Buffer.alloc(64 * 1024, 1)
    const pump = (): void => {
      while (!response.destroyed && response.write(chunk));
      if (!response.destroyed) response.once('drain', pump)
    }
    pump()
  }
  let streamed = 0
  let raftRequests = 0
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      if (request.url === '/raft') raftRequests++
      if (request.url === '/call/small') {
        const body = encodeValue({ ok: true })
        response.writeHead(200, { 'content-length': body.byteLength, [peerHeaders.checksum]: bodyChecksum(body) }).end(body)
      } else if (request.url === '/raft' && streamed > 0) {
        response.writeHead(204).end()
      } else {
        streamed++
        endless(response)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())).then(() => undefined))
  cleanups.push(async () => server.closeAllConnections())
  const warnings: string[] = []
  const log = createLogger('warn', (line) => warnings.push(line))
  const client = startClient({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }, 20_000, { answerBytesMax: 1024 * 1024, log, sendsInFlightMax: 1 })

  // A call: ConnectionLoss once past the bound, long before its timeout (the stream never pauses, so no idle timeout would end it).
  const startedMs = performance.now()
  const failure = await client.call(2, 'endless', null).then(
    () => null,
    (error: unknown) => error,
  )
  expect(failure).toBeInstanceOf(HerdError)
  expect((failure as HerdError).code).toBe('ConnectionLoss')
  expect(performance.now() - startedMs).toBeLessThan(10_000)
  expect(await client.call(2, 'small', null)).toEqual({ ok: true })

  // Consensus messages: the endless answer is dropped and logged, and the
  // one request slot it held is free again for the next message.
  streamed = 0
  client.send(2, { n: 1 })
  client.flush()
  await eventually('the endless answer to be cut off and logged', () => warnings.some((line) => line.includes('were lost')))
  expect(streamed).toBe(1)
  client.send(2, { n: 2 })
  client.flush()
  await eventually('the next message', () => raftRequests === 2)
  expect(streamed).toBe(1)
}, 30_000)
