// A peer call is bounded by its timeout: a peer that takes the request and
// never answers costs the caller ConnectionLoss after that long, not a hang,
// and the next call still goes through.
import { afterEach, expect, it } from 'vitest'
import { systemClock } from '../../../src/clock.ts'
import { HerdError } from '../../../src/errors.ts'
import { createLogger } from '../../../src/log.ts'
import { PeerClient } from '../../../src/replication/peer/peer-client.ts'
import { startPeerServer } from '../../../src/replication/peer/peer-server.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const secret = 'a-cluster-secret-of-some-length'
const quiet = createLogger('error', () => undefined)

it('fails a call the peer never answers with ConnectionLoss once its timeout passed', async () => {
  const server = await startPeerServer({
    selfId: 2,
    secret,
    host: '127.0.0.1',
    port: 0,
    log: quiet,
    handler: {
      isMember: (id) => id === 1,
      receive: () => undefined,
      call: async (_from, method, args) => (method === 'hang' ? new Promise(() => undefined) : args),
    },
  })
  cleanups.push(() => server.close())
  const client = new PeerClient({ selfId: 1, secret, clock: systemClock, log: quiet, timeoutMs: 5000, sendsInFlightMax: 4, queuedMessagesMax: 100 })
  cleanups.push(() => client.close())
  client.setPeers(new Map([[2, { host: '127.0.0.1', port: server.port }]]))

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
