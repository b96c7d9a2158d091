// What one exchange on the peer port costs, with its fast path and without
// (everything through node:http): a PeerClient and a peer server in this
// process, on loopback, calls (a request and its answer) kept `inFlight` at
// a time, and consensus messages sent as the replicas send them (answered
// at once, none held, one made per turn of the event loop). Prints the CPU per exchange of both sides together,
// and exchanges per second, for each mode in interleaved rounds: the
// difference between the modes is the server side's.
//
//   node test/bench/peer-port.ts [--rounds 3] [--exchanges 20000] [--in-flight 8]
import { parseArgs } from 'node:util'
import { systemClock } from '../../src/clock.ts'
import { createLogger } from '../../src/log.ts'
import { PeerClient } from '../../src/replication/peer/peer-client.ts'
import { startPeerServer } from '../../src/replication/peer/peer-server.ts'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    exchanges: { type: 'string', default: '20000' },
    'in-flight': { type: 'string', default: '8' },
  },
})
const rounds = Number(values.rounds)
const exchanges = Number(values.exchanges)
const inFlight = Number(values['in-flight'])
const secret = 'a-cluster-secret-of-some-length'
const quiet = createLogger('error', () => undefined)
/** A forwarded write's worth of bytes: a batch of a few small entries. */
const payload = Array.from({ length: 8 }, (_, i) => new Uint8Array(120).fill(i))

interface Figures {
  readonly perSecond: number
  readonly cpuMicros: number
}

async function measure(isFastPathOn: boolean, kind: 'call' | 'raft'): Promise<Figures> {
  let received = 0
  let requests = 0
  let onReceived = (): void => undefined
  const server = await startPeerServer({
    selfId: 2,
    secret,
    host: '127.0.0.1',
    port: 0,
    log: quiet,
    isFastPathOn,
    handler: {
      isMember: (id) => id === 1,
      receive: (_from, messages) => {
        received += (messages as unknown[]).length
        requests++
        onReceived()
      },
      call: (_from, _method, args) => Promise.resolve((args as unknown[]).length),
    },
  })
  const client = new PeerClient({ selfId: 1, secret, clock: systemClock, log: quiet, timeoutMs: 10_000, sendsInFlightMax: 4, queuedMessagesMax: 100_000, answerHoldMs: 50 })
  client.setPeers(new Map([[2, { host: '127.0.0.1', port: server.port }]]))
  const run = async (count: number): Promise<void> => {
    if (kind === 'call') {
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < count) {
          next++
          await client.call(2, 'propose', payload)
        }
      }
      await Promise.all(Array.from({ length: inFlight }, worker))
      return
    }
    // A message per turn of the event loop, as a replica's appends leave
    // (several share a request while sendsInFlightMax are out).
    const target = received + count
    const done = new Promise<void>((resolve) => {
      onReceived = () => {
        if (received >= target) resolve()
      }
    })
    for (let i = 0; i < count; i++) {
      client.send(2, { type: 'append', entries: payload })
      await new Promise((resolve) => setImmediate(resolve))
    }
    await done
  }
  try {
    await run(Math.min(2000, exchanges))
    const requestsBefore = requests
    const cpuBefore = process.cpuUsage()
    const startedMs = performance.now()
    await run(exchanges)
    const elapsedMs = performance.now() - startedMs
    const cpu = process.cpuUsage(cpuBefore)
    // A call is one exchange; consensus messages count the requests that carried them.
    const count = kind === 'call' ? exchanges : requests - requestsBefore
    return { perSecond: (count / elapsedMs) * 1000, cpuMicros: (cpu.user + cpu.system) / count }
  } finally {
    await client.close()
    await server.close()
  }
}

const format = (figures: Figures): string => `${Math.round(figures.perSecond).toLocaleString('en-US').padStart(7)}/s ${figures.cpuMicros.toFixed(1).padStart(6)} µs CPU`
console.log(`peer port: ${exchanges} exchanges per measurement, ${inFlight} in flight, ${rounds} interleaved rounds (CPU: client and server together, in one process)`)
for (const kind of ['call', 'raft'] as const) {
  for (let round = 1; round <= rounds; round++) {
    const fast = await measure(true, kind)
    const node = await measure(false, kind)
    console.log(`${kind.padEnd(4)} round ${round}: fast path ${format(fast)} | node:http ${format(node)} | CPU ratio ${(fast.cpuMicros / node.cpuMicros).toFixed(2)}`)
  }
}
