// Builds one replica's layers from a configuration, a store, a clock and a
// logger, and wires them in the order DESIGN.md's picture gives. main.ts
// calls it with RocksDB and the system clock; tests call it with a
// MemoryStore and a manual clock, so both run the same wiring.
import { createApp, type Api } from './api/index.ts'
import type { Clock } from './clock.ts'
import { peerAddresses, type Config } from './config.ts'
import type { Failpoints } from './failpoints.ts'
import type { Logger } from './log.ts'
import { Reaper } from './reaper/index.ts'
import { Replica, type PeerTransport } from './replication/index.ts'
import { SessionTracker } from './sessions/index.ts'
import type { LogStore } from './storage/index.ts'
import { WatchRegistry, type StreamCounts } from './watches/index.ts'

export interface AssembleOptions {
  readonly config: Config
  readonly store: LogStore
  readonly clock: Clock
  readonly log: Logger
  /** The client URL other replicas and /cluster report. */
  readonly clientUrl: string
  /** Durability can no longer be guaranteed: the caller must stop. */
  readonly onFatal: (error: unknown) => void
  /** Where watch streams are counted against the limits, when serving threads share them. */
  readonly streamCounts?: StreamCounts
  /** How to reach the other replicas; null (or absent) for a cluster of one. */
  readonly transport?: PeerTransport | null
  /** The core's randomness (election timeouts); seeded in tests. */
  readonly random?: () => number
  readonly failpoints?: Failpoints
}

export interface Assembled {
  readonly replica: Replica
  readonly sessions: SessionTracker
  readonly watches: WatchRegistry
  readonly reaper: Reaper
  readonly api: Api
  /**
   * Starts the leader's duties: session leases (every live session gets a
   * full timeout from now: call it once clients can reach the replica) and
   * the reaper.
   */
  start(): void
  /** Stops the leader duties and watch streams, then the replica (the store stays open). */
  stop(): Promise<void>
}

export function assemble(options: AssembleOptions): Assembled {
  const { config, store, clock, log } = options
  const watches = new WatchRegistry(options.streamCounts === undefined ? config : { ...config, counts: options.streamCounts })
  const replica = Replica.open(
    {
      replicaId: config.replicaId,
      clientUrl: options.clientUrl,
      store,
      clock,
      tree: {
        znodesMax: config.znodesMax,
        sessionsMax: config.sessionsMax,
        ephemeralsPerSessionMax: config.ephemeralsPerSessionMax,
        idempotencyKeysMax: config.idempotencyKeysMax,
      },
      proposalsPendingMax: config.proposalsPendingMax,
      writeTimeoutMs: config.writeTimeoutMs,
      snapshotEntriesInterval: config.snapshotEntriesInterval,
      onFatal: options.onFatal,
      raft: {
        tickMs: config.raftTickMs,
        electionTicks: config.electionTicks,
        heartbeatTicks: config.heartbeatTicks,
        appendBytesMax: config.appendBytesMax,
        appendsInFlightMax: config.appendsInFlightMax,
        leaderContactMaxMs: config.leaderContactMaxMs,
        members: membersOf(config),
        random: options.random ?? Math.random,
        peerTimeoutMs: config.peerTimeoutMs,
      },
      transport: options.transport ?? null,
      log,
      ...(options.failpoints === undefined ? {} : { failpoints: options.failpoints }),
    },
    [watches.onApplied],
  )
  replica.onReset((before, after) => watches.resync(before, after))
  const sessions = new SessionTracker({
    replica,
    clock,
    sessionTimeoutMinMs: config.sessionTimeoutMinMs,
    sessionTimeoutMaxMs: config.sessionTimeoutMaxMs,
    sessionCheckIntervalMs: config.sessionCheckIntervalMs,
    log: (message) => log.warn(message),
  })
  const reaper = new Reaper({ replica, clock, log, reapIntervalMs: config.reapIntervalMs, reapPerMinuteMax: config.reapPerMinuteMax })
  const api = createApp({ config, clock, log, replica, sessions, watches })
  return {
    replica,
    sessions,
    watches,
    reaper,
    api,
    start() {
      sessions.start()
      reaper.start()
    },
    async stop() {
      reaper.stop()
      sessions.stop()
      api.streams.stop()
      await replica.close()
    },
  }
}

/** The bootstrap voters: --peers, or this replica alone. */
function membersOf(config: Config): Array<{ id: number; host: string; port: number }> {
  const peers = peerAddresses(config)
  if (peers.size === 0) return [{ id: config.replicaId, host: config.peerHost, port: config.peerPort }]
  // A joining replica knows the voters, and is not one of them until the log says so.
  return [...peers].filter(([id]) => !config.join || id !== config.replicaId).map(([id, address]) => ({ id, ...address }))
}
