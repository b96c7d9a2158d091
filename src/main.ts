// The composition root: reads the configuration, opens the store, builds
// every layer and listens on the client port; handles signals. The only file
// that touches process.* or picks the real clock.
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { startClientServer } from './api/index.ts'
import { assemble } from './assemble.ts'
import { systemClock } from './clock.ts'
import { ConfigError, configFilePath, describeSettings, parseConfig, type Config } from './config.ts'
import { createLogger, isLogLevel, type Logger } from './log.ts'
import { openRocksStore } from './storage/index.ts'
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
  const store = await openRocksStore(config.dataDir)
  const fatal = (error: unknown): void => {
    log.error(`cannot continue safely, stopping: ${(error as Error)?.stack ?? String(error)}`)
    process.exit(1)
  }
  const threadCount = config.serveThreads === 0 ? Math.min(4, availableParallelism()) : config.serveThreads
  const streamCounts = SharedStreamCounts.buffer()
  const node = assemble({
    config,
    store,
    clock: systemClock,
    log,
    clientUrl: `http://${config.clientHost}:${config.clientPort}`,
    onFatal: fatal,
    streamCounts: new SharedStreamCounts(streamCounts, config.watchStreamsMax, config.watchStreamsPerClientMax),
  })
  const server = await startClientServer(node.api, config, log, () => node.replica.appliedZxid, { reusePort: threadCount > 1 })
  const { replica } = node
  replica.advertise(server.url)
  const threads = new ServingThreads({ replica, sessions: node.sessions, config, log, port: server.port, applied: appliedBuffer(), streamCounts, onFatal: fatal })
  if (threadCount > 1) await threads.start(threadCount - 1)
  // Only now can clients reach the replica: session timeouts start from here.
  node.start()
  log.info(`listening on ${server.url} (replica ${config.replicaId}, ${threadCount} serving thread${threadCount === 1 ? '' : 's'}, data in ${config.dataDir}, zxid ${replica.appliedZxid}, ${replica.tree.znodeCount} znodes, ${replica.tree.sessionCount} sessions)`)

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
    node.api.streams.closeAll()
    await Promise.all([server.close(shutdownGraceMs), threads.stop(shutdownGraceMs)])
    await node.stop()
    await store.close()
    log.info('stopped')
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

main().catch((error: unknown) => {
  process.stderr.write(`herd: ${(error as Error)?.stack ?? String(error)}\n`)
  process.exit(1)
})
