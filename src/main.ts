// The composition root: reads the configuration, opens the store, builds
// every layer and listens on the client port; handles signals. The only file
// that touches process.* or picks the real clock.
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { startClientServer } from './api/index.ts'
import { assemble } from './assemble.ts'
import { skewedClock, systemClock } from './clock.ts'
import { ConfigError, configFilePath, describeSettings, parseConfig, peerAddresses, syncsInWorker, type Config } from './config.ts'
import { parseFailpoints } from './failpoints.ts'
import { createLogger, isLogLevel, type Logger } from './log.ts'
import { PeerClient, startPeerServer, type PeerServer } from './replication/index.ts'
import { openRocksStore, PowerLossJournal, rollBackPowerCut, type LogStore } from './storage/index.ts'
import { appliedBuffer, ServingThreads } from './threads/index.ts'
import { SharedStreamCounts } from './watches/index.ts'

const shutdownGraceMs = 5000

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`usage: npm start -- [options]   (or node src/main.ts [options])\n\noptions (also HERD_<NAME> environment variables, or a JSON file named by --config):\n${describeSettings()}\n`)
    return
  }
  let config: Config
  try {
    const file = configFilePath(argv, process.env)
    config = parseConfig({ argv, env: process.env, ...(file === undefined ? {} : { fileText: readFileSync(file, 'utf8') }) })
  } catch (error) {
    if (error instanceof ConfigError || (error as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`herd: ${(error as Error).message}\n`)
      process.exit(2)
    }
    throw error
  }
  const log = createLogger(isLogLevel(config.logLevel) ? config.logLevel : 'info', (line) => process.stderr.write(line))
  await run(config, log)
}

async function run(config: Config, log: Logger): Promise<void> {
  const failpoints = parseFailpoints(process.env['HERD_FAILPOINTS'])
  const clock = failpoints.clockRate !== 1 || failpoints.clockOffsetMs !== 0 ? skewedClock(failpoints.clockRate, failpoints.clockOffsetMs) : systemClock
  const voters = peerAddresses(config)
  // Auto: one in a cluster, where the replicas share the machine's CPUs with
  // each other in tests and a second thread's hop cost writes half their
  // rate (measured, 3 replicas on 2 CPUs). A single replica gets one per CPU
  // beyond the first (at most 4): on 2 CPUs, with the fast path, a second
  // thread gave reads 8% and the 90/10 mix 17% more but cost writes 8% and
  // lengthened every p99 by a third or more (README, Design notes).
  const threadCount = config.serveThreads !== 0 ? config.serveThreads : voters.size > 1 ? 1 : Math.min(4, Math.max(1, availableParallelism() - 1))
  const storeOptions = { syncInWorker: syncsInWorker(config) }
  let store: LogStore
  if (failpoints.isPowerLossJournaled) {
    const rolledBack = await rollBackPowerCut(config.dataDir)
    if (rolledBack !== null) log.warn(rolledBack)
    store = new PowerLossJournal(await openRocksStore(config.dataDir, storeOptions), config.dataDir)
  } else {
    store = await openRocksStore(config.dataDir, storeOptions)
  }
  const fatal = (error: unknown): void => {
    log.error(`cannot continue safely, stopping: ${(error as Error)?.stack ?? String(error)}`)
    process.exit(1)
  }
  const streamCounts = SharedStreamCounts.buffer()
  const transport =
    voters.size > 1
      ? new PeerClient({
          selfId: config.replicaId,
          secret: config.clusterSecret,
          clock,
          log,
          timeoutMs: config.peerTimeoutMs,
          sendsInFlightMax: 4,
          queuedMessagesMax: 10_000,
          // The leader sends each follower something at least once a heartbeat:
          // an answer held longer would wait for nothing.
          answerHoldMs: config.raftTickMs * config.heartbeatTicks,
        })
      : null
  const lastIndexAtOpen = store.lastIndex()
  const node = assemble({
    config,
    store,
    clock,
    log,
    clientUrl: `http://${config.clientHost}:${config.clientPort}`,
    onFatal: fatal,
    streamCounts: new SharedStreamCounts(streamCounts, config.watchStreamsMax, config.watchStreamsPerClientMax),
    transport,
    failpoints,
  })
  let peerServer: PeerServer | null = null
  if (transport !== null) {
    transport.setReceiver((from, messages) => node.replica.receive(from, messages))
    peerServer = await startPeerServer({ selfId: config.replicaId, secret: config.clusterSecret, host: config.peerHost, port: config.peerPort, log, handler: node.replica, answers: transport, isFastPathOn: config.peerFastPath })
    log.info(`peer port ${config.peerHost}:${peerServer.port}; voters ${[...voters.keys()].join(', ')}`)
  } else {
    // A single voter commits what its log holds as soon as it has elected
    // itself: wait for that, so the first read after a restart sees every
    // write acknowledged before it.
    // (The replica's timers do not hold the process open; this one does.)
    const holdOpen = setInterval(() => undefined, 1000)
    try {
      await node.replica.waitForApplied(lastIndexAtOpen, Math.max(config.writeTimeoutMs, 60_000))
    } finally {
      clearInterval(holdOpen)
    }
  }
  const server = await startClientServer(node.api, config, log, () => node.replica.appliedZxid, { reusePort: threadCount > 1 })
  const { replica } = node
  replica.advertise(server.url)
  const threads = new ServingThreads({ replica, sessions: node.sessions, config, log, port: server.port, applied: appliedBuffer(), streamCounts, onFatal: fatal })
  if (threadCount > 1) await threads.start(threadCount - 1)
  // Only now can clients reach the replica: session timeouts start from here.
  node.start()
  failpoints.arm()
  log.info(`listening on ${server.url} (replica ${config.replicaId}, ${threadCount} serving thread${threadCount === 1 ? '' : 's'}, log synced on ${storeOptions.syncInWorker ? "libuv's threads" : 'the main thread'}, data in ${config.dataDir}, zxid ${replica.appliedZxid}, ${replica.tree.znodeCount} znodes, ${replica.tree.sessionCount} sessions)`)

  let isStopping = false
  const stop = async (signal: string): Promise<void> => {
    if (isStopping) return
    isStopping = true
    log.info(`${signal}: stopping`)
    const force = setTimeout(() => {
      log.error('shutdown took too long; exiting')
      process.exit(1)
    }, shutdownGraceMs * 2)
    force.unref()
    try {
      node.api.streams.closeAll()
      await Promise.all([server.close(shutdownGraceMs), threads.stop(shutdownGraceMs)])
      await node.stop()
      await peerServer?.close()
      await transport?.close()
      await store.close()
    } catch (error) {
      // Say what failed in one line rather than dying on the rejection
      // (say, the data directory was removed under the running node, so
      // RocksDB cannot close its files).
      log.error(`could not stop cleanly: ${describeFailure(error)}`)
      process.exit(1)
    }
    log.info('stopped')
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

/** An error's message, and its cause's when it has one (RocksDB's errors keep the reason there). */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message
}

main().catch((error: unknown) => {
  process.stderr.write(`herd: ${(error as Error)?.stack ?? String(error)}\n`)
  process.exit(1)
})
