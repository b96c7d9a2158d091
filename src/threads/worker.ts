// A serving thread: the whole HTTP app on the shared client port, over a
// MirrorReplica of the tree. Started by host.ts; see there for why.
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { createApp, startClientServer, type ClientServer } from '../api/index.ts'
import { systemClock } from '../clock.ts'
import { createLogger, isLogLevel } from '../log.ts'
import { MirrorReplica } from '../replication/index.ts'
import { restoreSnapshot } from '../tree/index.ts'
import { SharedStreamCounts, WatchRegistry } from '../watches/index.ts'
import type { StartMessage, ToMain, ToWorker, WorkerData } from './protocol.ts'
import { RemoteSessions } from './remote-sessions.ts'

if (parentPort === null) throw new Error('threads/worker.ts runs as a worker thread')
const port = parentPort
const data = workerData as WorkerData
const { config } = data
const log = createLogger(isLogLevel(config.logLevel) ? config.logLevel : 'info', (line) => process.stderr.write(line), `herd[${data.index}]`)
const send = (message: ToMain): void => port.postMessage(message)
const applied = new BigInt64Array(data.applied)

port.once('message', (start: StartMessage) => {
  run(start).catch((error: unknown) => {
    log.error(`serving thread ${threadId} could not start: ${(error as Error)?.stack ?? String(error)}`)
    process.exit(1)
  })
})

async function run(start: StartMessage): Promise<void> {
  const treeOptions = {
    znodesMax: config.znodesMax,
    sessionsMax: config.sessionsMax,
    ephemeralsPerSessionMax: config.ephemeralsPerSessionMax,
    idempotencyKeysMax: config.idempotencyKeysMax,
  }
  const tree = restoreSnapshot(start.chunks, treeOptions)
  const mirror: MirrorReplica = new MirrorReplica({
    tree,
    clock: systemClock,
    writeTimeoutMs: config.writeTimeoutMs,
    status: start.status,
    leaderApplied: () => Number(Atomics.load(applied, 0)),
    send: (message) => port.postMessage(message, [message.buffer]),
    ask: (method, timeoutMs, args): Promise<unknown> => sessions.ask(method, timeoutMs, args),
  })
  const watches = new WatchRegistry({
    ...config,
    counts: new SharedStreamCounts(data.streamCounts, config.watchStreamsMax, config.watchStreamsPerClientMax),
  })
  mirror.onApplied(watches.onApplied)
  const sessions: RemoteSessions = new RemoteSessions(mirror, send, config.readWaitMsMax)
  const api = createApp({ config, clock: systemClock, log, replica: mirror, sessions, watches })
  port.on('message', (message: ToWorker) => {
    switch (message.t) {
      case 'entries':
      case 'failed':
      case 'done':
        mirror.receive(message)
        return
      case 'status':
        mirror.updateStatus(message.status)
        return
      case 'reset':
        mirror.reset(restoreSnapshot(message.chunks, treeOptions), (before, after) => watches.resync(before, after))
        return
      case 'reply':
      case 'callFailed':
        sessions.receive(message)
        return
      case 'stop':
        void stop(server)
        return
      case 'start':
        return
    }
  })
  const server = await startClientServer(api, { ...config, clientPort: data.port }, log, () => mirror.appliedZxid, { reusePort: true })
  send({ t: 'ready' })

  async function stop(listening: ClientServer): Promise<void> {
    api.streams.stop()
    await listening.close(5000)
    sessions.shutdown()
    mirror.close()
    send({ t: 'stopped' })
    process.exit(0)
  }
}
