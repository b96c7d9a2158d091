// The peer client against a real peer server. Over a link that flips bytes
// (the fault proxy's garble mode), every consensus message the server hands
// to the replica, and every call answer the client returns, is exactly what
// was sent; a corrupted one is refused (the request) or fails as
// ConnectionLoss (the answer), never delivered changed. Without the body
// checksum, a flipped byte inside an entry's data decodes fine and a
// follower stores and applies another write. And a call is bounded by its
// timeout: a peer that takes the request and never answers costs the caller
// ConnectionLoss after that long, not a hang, and the next call still goes
// through.
import { randomBytes } from 'node:crypto'
import { afterEach, expect, it } from 'vitest'
import { systemClock } from '../../../src/clock.ts'
import { HerdError } from '../../../src/errors.ts'
import { createLogger } from '../../../src/log.ts'
import { PeerClient } from '../../../src/replication/peer/peer-client.ts'
import { startPeerServer, type PeerServer, type PeerServerOptions } from '../../../src/replication/peer/peer-server.ts'
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const secret = 'a-cluster-secret-of-some-length'
const quiet = createLogger('error', () => undefined)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** Replica 2's peer server, with `handler` for what replica 1 sends it. */
async function startPeer(handler: Omit<PeerServerOptions['handler'], 'isMember'>): Promise<PeerServer> {
  const server = await startPeerServer({ selfId: 2, secret, host: '127.0.0.1', port: 0, log: quiet, handler: { isMember: (id) => id === 1, ...handler } })
  cleanups.push(() => server.close())
  return server
}

/** Replica 1's peer client, reaching replica 2 at `address`. */
function startClient(address: { readonly host: string; readonly port: number }, timeoutMs: number): PeerClient {
  const client = new PeerClient({ selfId: 1, secret, clock: systemClock, log: quiet, timeoutMs, sendsInFlightMax: 4, queuedMessagesMax: 10_000 })
  cleanups.push(() => client.close())
  client.setPeers(new Map([[2, address]]))
  return client
}

it('delivers every message and answer over a garbling link exactly as sent, or not at all', async () => {
  const received: unknown[] = []
  const server = await startPeer({
    receive: (_from, messages) => {
      if (Array.isArray(messages)) received.push(...messages)
    },
    // Echoes its argument back, so that answers are as long as requests and as exposed.
    call: async (_from, _method, args) => args,
  })
  const proxy: FaultProxy = await startFaultProxy({ host: '127.0.0.1', port: server.port }, { seed: 7 })
  cleanups.push(() => proxy.close())
  proxy.setMode({ kind: 'garble', probability: 0.3 }, 'both')
  const client = startClient({ host: proxy.host, port: proxy.port }, 2000)

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
  // Every message stepped is one that was sent, byte for byte.
  expect(delivered.filter((each) => !sent.has(each))).toEqual([])
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
