// Configuration: one frozen Config built from flags, environment and an
// optional JSON file (precedence in that order, then defaults). Pure: main.ts
// supplies argv, env and the file's text. Every limit is a named `…Max` and
// every duration a `…Ms`, so that "everything has a limit" can be read here.
//
// Each setting is reachable three ways, derived from its key:
//   key clientPort  ->  flag --client-port 8181  ->  env HERD_CLIENT_PORT=8181  ->  file {"clientPort": 8181}

const MiB = 1024 * 1024

/**
 * Node flags herd runs with: `npm start`, `npm run cluster`, the systemd
 * unit and the benchmark pass them (a test holds the first and the third to
 * this list). Semi-spaces of 8 MB, half of V8's default, make the young
 * generation's scavenges short and frequent: on one node they cut the write
 * p99 by about a quarter for about 6% of the write rate (README, Design
 * notes). A flag given later on the command line overrides it.
 */
export const nodeFlags: readonly string[] = ['--max-semi-space-size=8']

type Kind = 'int' | 'string' | 'bool' | 'list'

interface Setting {
  readonly kind: Kind
  readonly min?: number
  readonly max?: number
  readonly help: string
}

const settings = {
  replicaId: { kind: 'int', min: 1, max: 254, help: 'this replica id (unique in a cluster)' },
  clientHost: { kind: 'string', help: 'address the client port binds to' },
  clientPort: { kind: 'int', min: 0, max: 65535, help: 'client port (0 = pick a free one)' },
  dataDir: { kind: 'string', help: 'directory of the RocksDB data' },
  logLevel: { kind: 'string', help: 'error | warn | info | debug' },
  serveThreads: { kind: 'int', min: 0, max: 64, help: 'threads serving the client port, each with a copy of the tree (0 = one per CPU beyond the first, at most 4, on a single replica; one in a cluster)' },
  logSync: { kind: 'string', help: "where a synced log append waits for the disk: main (inline, no hand-over) or worker (libuv's threads, the main thread serves on meanwhile)" },

  peers: { kind: 'list', help: 'the cluster\'s voters as id=host:port of their peer ports, comma separated, this replica included (empty = a cluster of one)' },
  peerHost: { kind: 'string', help: 'address the peer port binds to' },
  join: { kind: 'bool', help: 'join a running cluster: this replica is listed in --peers but is not a voter until POST /cluster/members adds it' },
  peerPort: { kind: 'int', min: 0, max: 65535, help: 'peer port (0 = pick a free one); defaults to the port of this replica in --peers' },
  clusterSecret: { kind: 'string', help: 'shared secret every peer request carries (required with peers; HERD_CLUSTER_SECRET keeps it off the command line)' },
  raftTickMs: { kind: 'int', min: 1, max: 10_000, help: 'one tick of the consensus core' },
  electionTicks: { kind: 'int', min: 2, max: 1000, help: 'election timeout in ticks (randomized up to twice this)' },
  heartbeatTicks: { kind: 'int', min: 1, max: 1000, help: 'leader heartbeat interval in ticks (less than electionTicks)' },
  appendBytesMax: { kind: 'int', min: 1024, max: 64 * MiB, help: 'entry bytes in one append message' },
  appendsInFlightMax: { kind: 'int', min: 1, max: 1024, help: 'append messages on their way to one follower at once' },
  peerTimeoutMs: { kind: 'int', min: 10, max: 600_000, help: 'how long a call to another replica may take' },
  peerFastPath: { kind: 'bool', help: 'serve well-formed peer requests from members straight off the socket, and every other one through node:http (false: all through node:http)' },
  leaderContactMaxMs: { kind: 'int', min: 100, max: 3_600_000, help: 'a replica that has heard from no leader (leading: from no majority) for longer, or has not applied what the leader had committed that long ago, refuses local reads that do not ask for ?stale data (more than twice the longest election timeout)' },

  requestBytesMax: { kind: 'int', min: 1024, max: 64 * MiB, help: 'largest request body (a multi counts whole)' },
  dataBytesMax: { kind: 'int', min: 0, max: 64 * MiB, help: 'largest znode data' },
  pathBytesMax: { kind: 'int', min: 64, max: 65536, help: 'longest znode path, in UTF-8 bytes' },
  multiOpsMax: { kind: 'int', min: 1, max: 100_000, help: 'most operations in one multi or multi-read' },
  childrenPageMax: { kind: 'int', min: 1, max: 1_000_000, help: 'most children in one getChildren page' },
  aclEntriesMax: { kind: 'int', min: 1, max: 1024, help: 'most entries in one ACL' },
  znodesMax: { kind: 'int', min: 10, max: 1_000_000_000, help: 'most znodes in the tree (QuotaExceeded past it)' },

  tickMs: { kind: 'int', min: 10, max: 60_000, help: 'ZooKeeper tickTime: session timeouts are clamped to [2, 20] ticks' },
  sessionTimeoutMinMs: { kind: 'int', min: 10, max: 3_600_000, help: 'smallest negotiated session timeout (default 2 ticks)' },
  sessionTimeoutMaxMs: { kind: 'int', min: 10, max: 3_600_000, help: 'largest negotiated session timeout (default 20 ticks)' },
  sessionsMax: { kind: 'int', min: 1, max: 10_000_000, help: 'most open sessions' },
  ephemeralsPerSessionMax: { kind: 'int', min: 1, max: 10_000_000, help: 'most ephemeral znodes one session owns' },
  sessionCheckIntervalMs: { kind: 'int', min: 5, max: 60_000, help: 'how often the leader looks for expired sessions' },

  idempotencyWindowMs: { kind: 'int', min: 1000, max: 7 * 24 * 3_600_000, help: 'how long an Idempotency-Key is remembered' },
  idempotencyKeysMax: { kind: 'int', min: 1, max: 10_000_000, help: 'most remembered Idempotency-Keys (oldest forgotten first)' },
  idempotencyKeyBytesMax: { kind: 'int', min: 8, max: 1024, help: 'longest Idempotency-Key' },

  reapIntervalMs: { kind: 'int', min: 10, max: 3_600_000, help: 'how often the leader looks for empty containers and expired TTL znodes' },
  reapPerMinuteMax: { kind: 'int', min: 1, max: 1_000_000, help: 'most containers and TTL znodes deleted per minute' },
  ttlEnabled: { kind: 'bool', help: 'allow TTL znodes (else Unimplemented, as ZooKeeper without extendedTypesEnabled)' },

  watchStreamsMax: { kind: 'int', min: 1, max: 1_000_000, help: 'most open watch streams on this replica' },
  watchStreamsPerClientMax: { kind: 'int', min: 1, max: 1_000_000, help: 'most open watch streams from one client address' },
  watchKeepaliveMs: { kind: 'int', min: 10, max: 300_000, help: 'interval of keep-alive comments on a waiting watch stream' },
  watchHistoryMax: { kind: 'int', min: 0, max: 10_000_000, help: 'recent events kept to answer watches armed at an older zxid' },
  watchBufferBytesMax: { kind: 'int', min: 1024, max: 64 * MiB, help: 'unsent bytes a watch stream may hold before it is closed' },

  writeTimeoutMs: { kind: 'int', min: 10, max: 600_000, help: 'how long a write waits to be applied (then OperationTimeout)' },
  readWaitMsMax: { kind: 'int', min: 0, max: 600_000, help: 'longest wait of a read for minZxid' },
  proposalsPendingMax: { kind: 'int', min: 1, max: 10_000_000, help: 'most writes waiting to be made durable (then Throttled)' },
  snapshotEntriesInterval: { kind: 'int', min: 10, max: 100_000_000, help: 'entries between snapshots' },

  headersTimeoutMs: { kind: 'int', min: 100, max: 600_000, help: 'time to receive request headers (slowloris guard)' },
  requestTimeoutMs: { kind: 'int', min: 100, max: 3_600_000, help: 'time to receive a whole request' },
  keepAliveTimeoutMs: { kind: 'int', min: 100, max: 3_600_000, help: 'idle keep-alive connection lifetime' },
  headerBytesMax: { kind: 'int', min: 1024, max: 1 * MiB, help: 'largest request header block' },
  headersCountMax: { kind: 'int', min: 8, max: 10_000, help: 'most request headers' },
  connectionsMax: { kind: 'int', min: 1, max: 1_000_000, help: 'most open client connections' },
  clientFastPath: { kind: 'bool', help: 'serve well-formed GET, PUT and DELETE on /znodes straight off the socket, and every other request through node:http (false: all through node:http)' },
  requestsPerSocketMax: { kind: 'int', min: 0, max: 100_000_000, help: 'requests one keep-alive connection may carry (0 = no limit)' },

  corsOrigins: { kind: 'list', help: 'origins allowed by CORS, comma separated (empty = CORS off)' },
} as const satisfies Record<string, Setting>

export type ConfigKey = keyof typeof settings

type ValueOf<K extends Kind> = K extends 'int' ? number : K extends 'bool' ? boolean : K extends 'list' ? readonly string[] : string

export type Config = { readonly [K in ConfigKey]: ValueOf<(typeof settings)[K]['kind']> }

const tickMsDefault = 2000

const logSyncs = ['main', 'worker'] as const
export type LogSync = (typeof logSyncs)[number]

/**
 * Whether synced log appends wait for the disk on libuv's threads. Inline
 * on the main thread is the default, however many threads serve: it costs
 * fewer thread wake-ups per write, and on a machine whose cores are all
 * busy every wake-up of another thread waits for a core (README, Design
 * notes, has the figures). Off the main thread, it goes on serving its
 * share of the clients while the disk syncs.
 */
export function syncsInWorker(config: Pick<Config, 'logSync'>): boolean {
  return config.logSync === 'worker'
}

export const defaults: Config = Object.freeze({
  replicaId: 1,
  clientHost: '127.0.0.1',
  clientPort: 8181,
  dataDir: './data',
  logLevel: 'info',
  serveThreads: 0,
  logSync: 'main',

  peers: [],
  peerHost: '127.0.0.1',
  join: false,
  peerPort: 0,
  clusterSecret: '',
  raftTickMs: 50,
  electionTicks: 10,
  heartbeatTicks: 1,
  appendBytesMax: 1 * MiB,
  appendsInFlightMax: 8,
  peerTimeoutMs: 5000,
  leaderContactMaxMs: 5000,

  requestBytesMax: 1 * MiB,
  dataBytesMax: 1 * MiB,
  pathBytesMax: 4096,
  multiOpsMax: 1000,
  childrenPageMax: 10_000,
  aclEntriesMax: 64,
  znodesMax: 10_000_000,

  tickMs: tickMsDefault,
  sessionTimeoutMinMs: 2 * tickMsDefault,
  sessionTimeoutMaxMs: 20 * tickMsDefault,
  sessionsMax: 100_000,
  ephemeralsPerSessionMax: 100_000,
  sessionCheckIntervalMs: 100,

  idempotencyWindowMs: 5 * 60_000,
  idempotencyKeysMax: 100_000,
  idempotencyKeyBytesMax: 255,

  reapIntervalMs: 60_000,
  reapPerMinuteMax: 10_000,
  ttlEnabled: true,

  watchStreamsMax: 100_000,
  watchStreamsPerClientMax: 8192,
  watchKeepaliveMs: 15_000,
  watchHistoryMax: 50_000,
  watchBufferBytesMax: 1 * MiB,

  writeTimeoutMs: 10_000,
  readWaitMsMax: 10_000,
  proposalsPendingMax: 50_000,
  snapshotEntriesInterval: 100_000,

  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  headerBytesMax: 16 * 1024,
  headersCountMax: 100,
  connectionsMax: 20_000,
  clientFastPath: true,
  peerFastPath: true,
  requestsPerSocketMax: 0,

  corsOrigins: [],
})

export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

export interface ConfigSources {
  readonly argv: readonly string[]
  readonly env: Readonly<Record<string, string | undefined>>
  /** Text of the JSON config file, when one was named (--config or HERD_CONFIG). */
  readonly fileText?: string
}

/** The config file named by `--config` or HERD_CONFIG, for main.ts to read. */
export function configFilePath(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): string | undefined {
  const index = argv.indexOf('--config')
  if (index >= 0) return argv[index + 1]
  const inline = argv.find((arg) => arg.startsWith('--config='))
  if (inline !== undefined) return inline.slice('--config='.length)
  return env['HERD_CONFIG']
}

export function parseConfig(sources: ConfigSources): Config {
  const raw: Partial<Record<ConfigKey, unknown>> = {}
  if (sources.fileText !== undefined) Object.assign(raw, parseFile(sources.fileText))
  for (const key of configKeys()) {
    const value = sources.env[envName(key)]
    if (value !== undefined && value !== '') raw[key] = value
  }
  Object.assign(raw, parseArgv(sources.argv))

  const config: Record<string, unknown> = { ...defaults }
  if (raw.tickMs !== undefined) {
    const tickMs = coerce('tickMs', raw.tickMs) as number
    config['sessionTimeoutMinMs'] = 2 * tickMs
    config['sessionTimeoutMaxMs'] = 20 * tickMs
  }
  for (const [key, value] of Object.entries(raw) as Array<[ConfigKey, unknown]>) {
    config[key] = coerce(key, value)
  }
  if ((config['sessionTimeoutMinMs'] as number) > (config['sessionTimeoutMaxMs'] as number)) {
    throw new ConfigError('sessionTimeoutMinMs must not exceed sessionTimeoutMaxMs')
  }
  if ((config['dataBytesMax'] as number) > (config['requestBytesMax'] as number)) {
    throw new ConfigError('dataBytesMax must not exceed requestBytesMax')
  }
  if (!logSyncs.includes(config['logSync'] as LogSync)) {
    throw new ConfigError(`logSync must be one of ${logSyncs.join(', ')}, not ${String(config['logSync'])}`)
  }
  if ((config['heartbeatTicks'] as number) >= (config['electionTicks'] as number)) {
    throw new ConfigError('heartbeatTicks must be less than electionTicks')
  }
  // A leader confirms its majority once an election timeout; a new leader
  // takes up to the longest one to be elected. Either must not cut off a
  // replica whose cluster is working.
  const longestElectionMs = 2 * (config['electionTicks'] as number) * (config['raftTickMs'] as number)
  if ((config['leaderContactMaxMs'] as number) <= 2 * longestElectionMs) {
    throw new ConfigError(`leaderContactMaxMs must exceed twice the longest election timeout (2 x 2 x electionTicks x raftTickMs = ${2 * longestElectionMs} ms)`)
  }
  const peers = peerAddresses(config as Config)
  if (peers.size > 0) {
    const self = peers.get(config['replicaId'] as number)
    if (self === undefined) throw new ConfigError(`peers must include this replica (replicaId ${String(config['replicaId'])})`)
    if (peers.size > 1 && (config['clusterSecret'] as string).length < 16) {
      throw new ConfigError('a cluster of several replicas needs clusterSecret (HERD_CLUSTER_SECRET), at least 16 characters, the same on every replica')
    }
    if (raw.peerPort === undefined) config['peerPort'] = self.port
  }
  return Object.freeze(config) as Config
}

export interface PeerAddress {
  readonly host: string
  readonly port: number
}

/** The voters named by `peers`, by id; empty for a cluster of one. Throws ConfigError on a malformed entry. */
export function peerAddresses(config: Pick<Config, 'peers'>): Map<number, PeerAddress> {
  const peers = new Map<number, PeerAddress>()
  for (const item of config.peers) {
    const match = /^(\d{1,3})=([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(item.trim())
    const id = Number(match?.[1])
    const port = Number(match?.[3])
    if (match === null || id < 1 || id > 254 || port < 1 || port > 65535) {
      throw new ConfigError(`peers: "${item}" is not id=host:port (id 1..254, port 1..65535)`)
    }
    if (peers.has(id)) throw new ConfigError(`peers: replica ${id} is listed twice`)
    peers.set(id, { host: match[2] as string, port })
  }
  return peers
}

export function configKeys(): ConfigKey[] {
  return Object.keys(settings) as ConfigKey[]
}

export function flagName(key: ConfigKey): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}

export function envName(key: ConfigKey): string {
  return 'HERD_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()
}

/** One line per setting, for --help. */
export function describeSettings(): string {
  return configKeys()
    .map((key) => `  ${flagName(key).padEnd(32)} ${settings[key].help} (default ${JSON.stringify(defaults[key])})`)
    .join('\n')
}

function parseFile(text: string): Partial<Record<ConfigKey, unknown>> {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new ConfigError(`config file is not valid JSON: ${(error as Error).message}`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('config file must hold a JSON object')
  }
  const result: Partial<Record<ConfigKey, unknown>> = {}
  for (const [key, value] of Object.entries(parsed)) {
    if (!isConfigKey(key)) throw new ConfigError(`unknown setting "${key}" in config file`)
    result[key] = value
  }
  return result
}

function parseArgv(argv: readonly string[]): Partial<Record<ConfigKey, unknown>> {
  const byFlag = new Map(configKeys().map((key) => [flagName(key), key]))
  const result: Partial<Record<ConfigKey, unknown>> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--config') {
      i++
      continue
    }
    if (arg.startsWith('--config=')) continue
    const eq = arg.indexOf('=')
    const flag = eq >= 0 ? arg.slice(0, eq) : arg
    const key = byFlag.get(flag)
    if (key === undefined) throw new ConfigError(`unknown option ${flag} (see --help)`)
    if (eq >= 0) {
      result[key] = arg.slice(eq + 1)
    } else if (settings[key].kind === 'bool' && (argv[i + 1] === undefined || argv[i + 1]?.startsWith('--'))) {
      result[key] = true
    } else {
      const value = argv[++i]
      if (value === undefined) throw new ConfigError(`option ${flag} needs a value`)
      result[key] = value
    }
  }
  return result
}

function isConfigKey(key: string): key is ConfigKey {
  return Object.hasOwn(settings, key)
}

function coerce(key: ConfigKey, value: unknown): unknown {
  const setting: Setting = settings[key]
  switch (setting.kind) {
    case 'int': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN
      if (!Number.isSafeInteger(n)) throw new ConfigError(`${key} must be an integer, got ${JSON.stringify(value)}`)
      if (setting.min !== undefined && n < setting.min) throw new ConfigError(`${key} must be at least ${setting.min}`)
      if (setting.max !== undefined && n > setting.max) throw new ConfigError(`${key} must be at most ${setting.max}`)
      return n
    }
    case 'bool':
      if (value === true || value === 'true' || value === '1') return true
      if (value === false || value === 'false' || value === '0') return false
      throw new ConfigError(`${key} must be true or false, got ${JSON.stringify(value)}`)
    case 'string':
      if (typeof value !== 'string' || value === '') throw new ConfigError(`${key} must be a non-empty string`)
      return value
    case 'list':
      if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return Object.freeze([...value])
      if (typeof value === 'string') {
        return Object.freeze(
          value
            .split(',')
            .map((item) => item.trim())
            .filter((item) => item !== ''),
        )
      }
      throw new ConfigError(`${key} must be a list of strings`)
  }
}
