// The peer port over a link that flips bytes (the fault proxy's garble mode):
// every consensus message the server hands to the replica, and every call
// answer the client returns, is exactly what was sent; a corrupted one is
// refused (the request) or fails as ConnectionLoss (the answer), never
// delivered changed. Without the body checksum, a flipped byte inside an
// entry's data decodes fine and a follower stores and applies another write.
import { randomBytes } from 'node:crypto'
import { afterEach, expect, it } from 'vitest'
import { systemClock } from '../../../src/clock.ts'
import { HerdError } from '../../../src/errors.ts'
import { createLogger } from '../../../src/log.ts'
import { PeerClient } from '../../../src/replication/peer/peer-client.ts'
import { startPeerServer, type PeerServer } from '../../../src/replication/peer/peer-server.ts'
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const secret = 'a-cluster-secret-of-some-length'
const quiet = createLogger('error', () => undefined)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

it('delivers every message and answer over a garbling link exactly as sent, or not at all', async () => {
  const received: unknown[] = []
  const server: PeerServer = await startPeerServer({
    selfId: 2,
    secret,
    host: '127.0.0.1',
    port: 0,
    log: quiet,
    handler: {
      isMember: (id) => id === 1,
      receive: (_from, messages) => {
        if (Array.isArray(messages)) received.push(...messages)
      },
      // Echoes its argument back, so that answers are as long as requests and as exposed.
      call: async (_from, _method, args) => args,
    },
  })
  cleanups.push(() => server.close())
  const proxy: FaultProxy = await startFaultProxy({ host: '127.0.0.1', port: server.port }, { seed: 7 })
  cleanups.push(() => proxy.close())
  proxy.setMode({ kind: 'garble', probability: 0.3 }, 'both')
  const client = new PeerClient({ selfId: 1, secret, clock: systemClock, log: quiet, timeoutMs: 2000, sendsInFlightMax: 4, queuedMessagesMax: 10_000 })
  cleanups.push(() => client.close())
  client.setPeers(new Map([[2, { host: proxy.host, port: proxy.port }]]))

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
