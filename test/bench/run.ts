// `npm run bench`: herd beside ZooKeeper standalone (or, with --cluster, a
// 3-replica herd cluster beside ZooKeeper's 3-server ensemble and etcd's 3
// members), on the anchors' load generators, in one run.
//
//   npm run bench -- [--duration 10] [--conns 16,64] [--workloads write,read,mix]
//                    [--warmup 10] [--watch-streams 5000] [--watch-conns 64] [--watch-gapless]
//                    [--no-zk] [--no-watch] [--url http://127.0.0.1:8181] [--server-pids "pid ..."]
//                    [--herd-args "--opt v ..."] [--json out.json]
//   npm run bench -- --cluster [--duration 10] [--conns 16,64] [--workloads write,read,mix]
//                    [--warmup 10] [--no-zk] [--no-etcd] [--herd-args "--opt v ..."] [--json out.json]
//
// herd: unless --url names a running node, starts one (node src/main.ts with
// the project's Node 24, --client-port 0, a fresh temporary data dir, default
// settings, so every write is synced, plus --herd-args), creates /anchors,
// preloads the 2,000 keys with the anchors' preload, warms up (unrecorded
// write, then read, at 64 connections), then runs each workload at each
// connection count for --duration seconds with the anchors' wrk driver
// ($HERD_ANCHORS/http-load/run-wrk.sh + workload.lua, used in place) and
// test/bench/herd.lua as the adapter. SERVER_PIDS is passed so the server's
// CPU is reported.
//
// --cluster: starts 3 replicas instead (node src/main.ts --replica-id N
// --client-port 0 --peers 1=127.0.0.1:Q1,... on free loopback peer ports,
// fresh temporary data dirs, a generated HERD_CLUSTER_SECRET, --serve-threads
// 1 unless --herd-args sets it: three replicas share the machine's cores),
// waits until GET /cluster on every replica names the same leader, and then
// preloads, warms up and measures as above with all three client ports as
// wrk's TARGETS, so wrk's threads (and their connections) are spread over the
// replicas (followers forward writes to the leader, every replica serves
// reads). SERVER_PIDS is every replica. The watch runs are single-node only.
//
// Watch streams: test/bench/watchers.ts (a child process) opens
// --watch-streams SSE data watches, twice: first over the 1,000 read keys,
// which the write workload never touches (the streams stay open and idle:
// open streams must not slow writes down), then over the 1,000 write keys,
// re-arming each one as it fires (every write notifies). Once all are open,
// the write workload runs at --watch-conns connections and the figures are
// shown next to the same workload without watches, with the number of events
// delivered.
//
// ZooKeeper: if /usr/share/java/zookeeper.jar and java are there (and not
// --no-zk), the anchors' zk-cluster.sh start1 starts a standalone server
// (data under /tmp/anchors/zk-1; with --cluster, zk-cluster.sh start and the
// 3-server ensemble on 22181-22183), zk-load/run-zk.sh preloads, warms up,
// and runs the same workloads with --sessions C --outstanding 1 (C in flight,
// as wrk's C connections; sessions round-robin over the servers), then
// zk-cluster.sh stop.
//
// etcd (--cluster only): if etcd and etcdctl are there (and not --no-etcd),
// the anchors' etcd-cluster.sh start starts 3 members on 23791-23793, and the
// same wrk driver with the anchors' adapters/etcd.lua preloads, warms up and
// measures it over the three members; its reads are linearizable, etcd's
// default (ETCD_SERIALIZABLE=1 in the environment makes them local).
//
// All servers stay up and each cell is measured for herd, then ZooKeeper,
// then etcd, back to back, so the machine's drift favours none of them.
//
// Prints markdown tables on stdout (progress on stderr): the figures, the
// ratios herd / ZooKeeper (and herd / etcd), and with --cluster whether each
// 64-connection target is met. Raw RESULT lines go to
// bench-results/bench-[cluster-]<time>.txt, and with --json a
// machine-readable copy. Every step is bounded in time; the herd node or
// replicas, the watchers, any load generator, ZooKeeper and etcd are stopped
// on exit, error or Ctrl-C. Loopback only. HERD_NODE_FLAGS in the
// environment adds Node flags to every herd process (profiling: --cpu-prof).
import type { Status } from './watchers.ts'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { nodeFlags as herdNodeFlags } from '../../src/config.ts'

const repoRoot = new URL('../..', import.meta.url).pathname
const nodeBinary = join(repoRoot, 'node_modules/.bin/node')
const mainScript = join(repoRoot, 'src/main.ts')
const herdAdapter = join(repoRoot, 'test/bench/herd.lua')
const watchersScript = join(repoRoot, 'test/bench/watchers.ts')
const anchorsDir = resolve(repoRoot, process.env['HERD_ANCHORS'] ?? '../shared/anchors')
/**
 * The Node flags `npm start` runs herd with, then HERD_NODE_FLAGS: more for
 * every herd process the bench starts, e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof" (not allowed in NODE_OPTIONS), or
 * "--max-semi-space-size=16" to override one.
 */
const nodeFlags = [...herdNodeFlags, ...(process.env['HERD_NODE_FLAGS'] ?? '').split(' ').filter((flag) => flag !== '')]
const runWrkScript = join(anchorsDir, 'http-load/run-wrk.sh')
const zkCluster = join(anchorsDir, 'zk-cluster.sh')
const runZk = join(anchorsDir, 'zk-load/run-zk.sh')
const etcdCluster = join(anchorsDir, 'etcd-cluster.sh')
const etcdAdapter = join(anchorsDir, 'http-load/adapters/etcd.lua')
const anchorsState = '/tmp/anchors'
const zkJar = '/usr/share/java/zookeeper.jar'
/** As the anchors' etcd-cluster.sh finds it. */
const etcdBinary = process.env['ETCD'] ?? '/usr/bin/etcd'
const writeKeys = 1000
/** The read keys (NKEYS in the anchors' workload.lua), which the write workload never touches. */
const readKeys = 1000
const fdLimit = 65536

// ------------------------------------------------------------------ options

const usage = `usage: npm run bench -- [options]
  --duration S          seconds per measurement (default 10)
  --conns LIST          connection counts, comma separated (default 16,64)
  --workloads LIST      of write, read, mix (default write,read,mix)
  --rounds N            measure the whole matrix N times, interleaved, and report each cell's median
                        (req/s, p50, p99 and CPU each the median over the rounds; default 1)
  --warmup S            seconds of unrecorded write and then read load before measuring (default 10, as the anchors' RESULTS.md: JIT runtimes, V8 and the JVM alike, are still compiling after 5 s; 0 = none)
  --watch-streams N     watch streams held open in the watch run (default 5000)
  --watch-conns C       connections of the write workload in the watch run (default 64)
  --watch-gapless       re-arm each watch from the zxid it fired at (default: from now, like ZooKeeper)
  --no-watch            skip the watch-stream run
  --no-zk               skip ZooKeeper
  --cluster             3 herd replicas beside ZooKeeper's 3-server ensemble and etcd's 3 members
                        (all on loopback; no watch runs)
  --no-etcd             with --cluster: skip etcd
  --herd-args "ARGS"    extra herd options for the node (every replica with --cluster,
                        where --serve-threads 1 is the default)
  --url URL             bench a running herd node (loopback) instead of starting one
  --server-pids "P ..." with --url: the node's process ids, for its CPU figure (default: found with ss)
  --json FILE           also write the results as JSON
env HERD_ANCHORS        the anchors directory (default ../shared/anchors from the repo)
env ETCD_SERIALIZABLE=1 etcd reads serializable (local) instead of linearizable`

/** `--herd-args "--opt v"` as `--herd-args=--opt v`: parseArgs takes a separate value that starts with a dash for a forgotten one. */
function joinHerdArgs(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const value = argv[i + 1]
    if (arg === '--herd-args' && value !== undefined) {
      out.push(`--herd-args=${value}`)
      i++
    } else {
      out.push(arg)
    }
  }
  return out
}

const { values: opts } = parseArgs({
  args: joinHerdArgs(process.argv.slice(2)),
  options: {
    duration: { type: 'string', default: '10' },
    conns: { type: 'string', default: '16,64' },
    workloads: { type: 'string', default: 'write,read,mix' },
    warmup: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '1' },
    'watch-streams': { type: 'string', default: '5000' },
    'watch-conns': { type: 'string', default: '64' },
    'watch-gapless': { type: 'boolean', default: false },
    'no-watch': { type: 'boolean', default: false },
    'no-zk': { type: 'boolean', default: false },
    cluster: { type: 'boolean', default: false },
    'no-etcd': { type: 'boolean', default: false },
    'herd-args': { type: 'string', default: '' },
    url: { type: 'string' },
    'server-pids': { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (opts.help) {
  process.stdout.write(usage + '\n')
  process.exit(0)
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n${usage}\n`)
  process.exit(2)
}

function positiveInt(name: string, text: string, min = 1): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`)
  return n
}

type Workload = 'write' | 'read' | 'mix'
const allWorkloads: readonly Workload[] = ['write', 'read', 'mix']

const duration = positiveInt('duration', opts.duration)
const warmup = positiveInt('warmup', opts.warmup, 0)
const rounds = positiveInt('rounds', opts.rounds)
/** The pass over the matrix being measured (1..rounds). */
let round = 1
const watchStreams = positiveInt('watch-streams', opts['watch-streams'])
const watchConns = positiveInt('watch-conns', opts['watch-conns'])
const connsList = opts.conns.split(',').map((c) => positiveInt('conns', c.trim()))
const workloads = opts.workloads.split(',').map((w) => {
  const name = w.trim()
  if (!allWorkloads.includes(name as Workload)) fail(`unknown workload ${JSON.stringify(name)} (write, read, mix)`)
  return name as Workload
})
for (const c of [...connsList, watchConns]) wrkThreads(c)

/** --cluster: 3 replicas and the anchors' 3-node ensembles; otherwise one node and ZooKeeper standalone. */
const clusterMode = opts.cluster
const nodes = clusterMode ? 3 : 1
if (clusterMode && opts.url !== undefined) fail('--url benches one running node; --cluster starts its own replicas')
if (clusterMode && opts['server-pids'] !== undefined) fail('--server-pids goes with --url')
if (!clusterMode && opts['no-etcd']) fail('--no-etcd goes with --cluster (etcd is measured only there)')
if (opts.url !== undefined && opts['herd-args'].trim() !== '') fail('--herd-args applies to a node the bench starts, not to --url')
/** The watch runs open their streams on one node: single-node mode only. */
const watchEnabled = !clusterMode && !opts['no-watch']
const herdExtraArgs = herdArgs(opts['herd-args'])

/** --herd-args split on white space; the bench owns the options that place a node. */
function herdArgs(text: string): string[] {
  const args = text.trim() === '' ? [] : text.trim().split(/\s+/)
  const owned = ['--client-port', '--data-dir', '--replica-id', '--peers', '--peer-port', '--cluster-secret', '--join']
  for (const arg of args) {
    const name = arg.split('=')[0] as string
    if (owned.includes(name)) fail(`--herd-args must not set ${name}: the bench sets it`)
  }
  // Three replicas share this machine's cores: one serving thread each unless told otherwise.
  if (clusterMode && !args.some((a) => a === '--serve-threads' || a.startsWith('--serve-threads='))) args.unshift('--serve-threads', '1')
  return args
}

/** wrk threads for C connections: the anchors' 16, or C itself below 16 (C must divide evenly). */
function wrkThreads(conns: number): number {
  const threads = Math.min(16, conns)
  if (conns % threads !== 0) fail(`connection counts above 16 must be multiples of 16 (wrk runs 16 threads), got ${conns}`)
  return threads
}

// ------------------------------------------------------------------ process bookkeeping

const clkTck = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100
const started = Date.now()
const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z')
const resultsDir = join(repoRoot, 'bench-results')
const rawFile = join(resultsDir, `bench-${clusterMode ? 'cluster-' : ''}${stamp}.txt`)

/** Children whose process trees are killed on exit. */
const live = new Set<ChildProcess>()
/** The herd node, or the replicas, this run started. */
const herdChildren: ChildProcess[] = []
let watcherChild: ChildProcess | null = null
let zkStarted = false
let etcdStarted = false
let tempDir: string | null = null
let cleanedUp = false

function log(message: string): void {
  const secs = Math.round((Date.now() - started) / 1000)
  process.stderr.write(`[${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}] ${message}\n`)
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

/** The pid and its descendants (from /proc), children first found breadth-first. */
function processTree(root: number): number[] {
  const parentOf = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      parentOf.set(Number(name), ppid)
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parentOf) if (ppid === tree[i]) tree.push(pid)
  }
  return tree
}

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return
  for (const pid of processTree(child.pid)) {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

/**
 * Interrupts the innermost processes of the tree (wrk or the ZkLoad JVM) so
 * that the wrapper scripts finish normally and remove their temporary files,
 * then kills whatever is left of the tree after graceMs.
 */
async function stopTree(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.pid === undefined || !isAlive(child)) return
  const tree = processTree(child.pid)
  const parents = new Set<number>()
  for (const pid of tree) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      parents.add(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {
      // gone
    }
  }
  for (const pid of tree) {
    if (parents.has(pid)) continue
    try {
      process.kill(pid, 'SIGINT')
    } catch {
      // gone
    }
  }
  if (!(await exited(child, graceMs))) {
    killTree(child, 'SIGKILL')
    await exited(child, 2000)
  }
}

function cleanupSync(): void {
  if (cleanedUp) return
  cleanedUp = true
  for (const child of live) if (isAlive(child)) killTree(child, 'SIGKILL')
  stopZk()
  stopEtcd()
  if (tempDir !== null) rmSync(tempDir, { recursive: true, force: true })
}

process.on('exit', cleanupSync)
let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) return
    interrupted = true
    process.stderr.write(`\nbench: ${signal}, stopping everything it started\n`)
    void stopEverything().finally(() => process.exit(130))
  })
}

async function stopEverything(): Promise<void> {
  await Promise.all([...live].filter((child) => !herdChildren.includes(child) && child !== watcherChild).map((child) => stopTree(child)))
  if (watcherChild !== null) await stopWatchers(watcherChild)
  await stopHerdNodes()
  stopZk()
  stopEtcd()
  cleanupSync()
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (!isAlive(child)) return Promise.resolve(true)
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => resolveExit(false), timeoutMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolveExit(true)
    })
  })
}

interface Captured {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly timedOut: boolean
}

/** Runs a command to completion, bounded by timeoutMs (then its whole tree is killed). */
function capture(command: string, args: readonly string[], options: { env?: Record<string, string>; timeoutMs: number }): Promise<Captured> {
  return new Promise((resolveRun) => {
    if (interrupted) {
      // Stopping: start nothing new.
      resolveRun({ code: null, stdout: '', stderr: 'interrupted', timedOut: false })
      return
    }
    const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(child)
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => {
      timedOut = true
      void stopTree(child)
    }, options.timeoutMs)
    child.on('error', (error) => {
      stderr += String(error)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      live.delete(child)
      resolveRun({ code, stdout, stderr, timedOut })
    })
  })
}

/** bash wrapper that raises the open-files limit as far as allowed, then execs the command. */
function withFdLimit(command: string, args: readonly string[]): [string, string[]] {
  return ['bash', ['-c', `ulimit -n ${fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`, 'bench', command, ...args]]
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return 0
  }
}

function record(meta: string, line: string): void {
  appendFileSync(rawFile, `RUN ${meta}${interrupted ? ' interrupted=1' : ''} | ${line}\n`)
}

// ------------------------------------------------------------------ results

type System = 'herd' | 'zookeeper' | 'etcd'
const systems: readonly System[] = ['herd', 'zookeeper', 'etcd']

interface Row {
  readonly system: System
  /** Which pass over the matrix (1..--rounds) measured it. */
  readonly round: number
  readonly workload: string
  readonly conns: number
  /** As shown: "64" for wrk connections (herd, etcd), "64x1" for ZooKeeper sessions x outstanding. */
  readonly label: string
  readonly rps: number | null
  readonly p50Ms: number | null
  readonly p99Ms: number | null
  readonly cpuServer: number | null
  readonly cpuClient: number | null
  readonly errors: number | null
  readonly result: Record<string, string>
  readonly failure?: string
}

function parseResult(text: string, prefix = 'RESULT '): Record<string, string> | null {
  const line = text.split('\n').find((l) => l.startsWith(prefix))
  if (line === undefined) return null
  const fields: Record<string, string> = {}
  for (const pair of line.slice(prefix.length).trim().split(/\s+/)) {
    const eq = pair.indexOf('=')
    if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return fields
}

function num(fields: Record<string, string>, key: string): number | null {
  const value = fields[key]
  if (value === undefined) return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}

/** A row from wrk's RESULT line (herd or etcd). */
function wrkRow(system: 'herd' | 'etcd', workload: string, conns: number, fields: Record<string, string> | null, failure?: string): Row {
  const f = fields ?? {}
  const errorKeys = ['err_connect', 'err_read', 'err_write', 'err_status', 'err_timeout', 'non2xx_checked']
  const errors = fields === null ? null : errorKeys.reduce((sum, key) => sum + (num(f, key) ?? 0), 0)
  return {
    system,
    round,
    workload,
    conns,
    label: String(conns),
    rps: num(f, 'rps'),
    p50Ms: num(f, 'p50_ms'),
    p99Ms: num(f, 'p99_ms'),
    cpuServer: num(f, 'cpu_srv'),
    cpuClient: num(f, 'cpu_wrk'),
    errors,
    result: f,
    ...(failure === undefined ? {} : { failure }),
  }
}

function zkRow(workload: string, conns: number, fields: Record<string, string> | null, failure?: string): Row {
  const f = fields ?? {}
  return {
    system: 'zookeeper',
    round,
    workload,
    conns,
    label: `${conns}x1`,
    rps: num(f, 'ops_per_s'),
    p50Ms: num(f, 'p50_ms'),
    p99Ms: num(f, 'p99_ms'),
    cpuServer: num(f, 'cpu_srv'),
    cpuClient: num(f, 'cpu_client'),
    errors: fields === null ? null : (num(f, 'errors') ?? 0) + (num(f, 'undrained') ?? 0),
    result: f,
    ...(failure === undefined ? {} : { failure }),
  }
}

/**
 * Where the watches sit: on the read keys, which the write workload never
 * touches (the streams stay open and idle: what do open streams cost a
 * write?), or on the write keys, so that every write fires watches that are
 * re-armed at once (what does notification cost?).
 */
type Placement = 'idle' | 'firing'

interface WatchRun {
  readonly placement: Placement
  readonly streams: number
  readonly conns: number
  readonly gapless: boolean
  readonly openBefore: number
  readonly openAfter: number | null
  readonly baseline: Row | null
  readonly withWatches: Row | null
  readonly events: number | null
  readonly eventsPerSec: number | null
  readonly rearms: number | null
  readonly watchErrors: Record<string, number> | null
  readonly reconnects: number | null
  readonly lagP50Ms: number | null
  readonly lagP99Ms: number | null
  readonly lagMaxMs: number | null
  readonly cpuWatchers: number | null
  readonly failure?: string
}

const rows: Row[] = []
const notes: string[] = []
const watchRuns: WatchRun[] = []
let zkSkipped: string | null = null
/** Why etcd is not measured; null when it is (only with --cluster). */
let etcdSkipped: string | null = clusterMode ? null : 'not part of the single-node bench'

// ------------------------------------------------------------------ herd

/** Servers driven by wrk: herd (one node or the replicas) and etcd. */
interface WrkServers {
  readonly system: 'herd' | 'etcd'
  /** The wrk adapter (.lua) that builds their requests. */
  readonly adapter: string
  /** host:port, or the members' comma separated: wrk thread i sends all its requests to the (i mod n)th. */
  readonly targets: string
  /** Their process ids, space separated, for the server CPU figure (SERVER_PIDS). */
  readonly pids: string
}

type Herd = WrkServers & { readonly system: 'herd' }

function firstTarget(servers: WrkServers): string {
  return servers.targets.split(',')[0] as string
}

/**
 * Starts node src/main.ts with args (open-files limit raised, output to
 * logFile) and waits until it listens on its client port.
 */
async function spawnHerd(args: readonly string[], logFile: string, env: Record<string, string>): Promise<{ child: ChildProcess; target: string }> {
  if (interrupted) throw new Error('interrupted')
  const out = openSync(logFile, 'a')
  const [command, wrapped] = withFdLimit(nodeBinary, [...nodeFlags, mainScript, ...args])
  const child = spawn(command, wrapped, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', out, out] })
  closeSync(out)
  herdChildren.push(child)
  live.add(child)
  child.once('exit', () => live.delete(child))
  const deadline = Date.now() + 30_000
  for (;;) {
    const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''
    const match = /listening on http:\/\/([^\s:]+):(\d+)/.exec(text)
    if (match !== null) return { child, target: `127.0.0.1:${match[2]}` }
    if (!isAlive(child)) throw new Error(`herd exited before listening (${logFile}):\n${text.slice(-3000)}`)
    if (Date.now() > deadline) throw new Error(`herd did not listen within 30 s (${logFile}):\n${text.slice(-3000)}`)
    await sleep(100)
  }
}

async function startHerd(): Promise<Herd> {
  if (interrupted) throw new Error('interrupted')
  tempDir = mkdtempSync(join(tmpdir(), 'herd-bench-'))
  const logFile = join(resultsDir, `herd-${stamp}.log`)
  const dataDir = join(tempDir, 'data')
  const { child, target } = await spawnHerd(['--client-port', '0', '--data-dir', dataDir, ...herdExtraArgs], logFile, {})
  log(`herd node pid ${child.pid} on ${target}, data in ${dataDir}, log ${logFile}`)
  return { system: 'herd', adapter: herdAdapter, targets: target, pids: String(child.pid) }
}

/** Free loopback TCP ports, distinct (held open together while chosen). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolveServer, reject) => {
          const server = net.createServer()
          server.once('error', reject)
          server.listen(0, '127.0.0.1', () => resolveServer(server))
        }),
    ),
  )
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port)
  await Promise.all(servers.map((server) => new Promise((closed) => server.close(closed))))
  return ports
}

/** Starts the replicas (client ports picked by each, peer ports chosen here) and waits for an agreed leader. */
async function startHerdCluster(): Promise<Herd> {
  if (interrupted) throw new Error('interrupted')
  const dir = mkdtempSync(join(tmpdir(), 'herd-bench-cluster-'))
  tempDir = dir
  const secret = randomBytes(24).toString('base64url')
  const peerPorts = await freePorts(nodes)
  const ids = Array.from({ length: nodes }, (_, i) => i + 1)
  const peers = ids.map((id) => `${id}=127.0.0.1:${peerPorts[id - 1]}`).join(',')
  log(`herd: starting ${nodes} replicas (peers ${peers}; ${herdExtraArgs.join(' ')}), data under ${dir}`)
  const replicas = await Promise.all(
    ids.map(async (id) => {
      const logFile = join(resultsDir, `herd-${stamp}-replica-${id}.log`)
      const args = ['--replica-id', String(id), '--client-port', '0', '--peers', peers, '--data-dir', join(dir, `replica-${id}`), ...herdExtraArgs]
      const replica = await spawnHerd(args, logFile, { HERD_CLUSTER_SECRET: secret })
      log(`herd replica ${id}: pid ${replica.child.pid} on ${replica.target}, log ${logFile}`)
      return replica
    }),
  )
  const targets = replicas.map((replica) => replica.target)
  const leader = await waitForLeader(targets, 60_000)
  log(`herd: every replica names replica ${leader} the leader`)
  return { system: 'herd', adapter: herdAdapter, targets: targets.join(','), pids: replicas.map((replica) => String(replica.child.pid)).join(' ') }
}

/** Polls GET /cluster on every replica until all name the same leader and none is cut off (each serves reads). */
async function waitForLeader(targets: readonly string[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (interrupted) throw new Error('interrupted')
    const leaders = await Promise.all(
      targets.map(async (target) => {
        try {
          const response = await fetch(`http://${target}/cluster`, { signal: AbortSignal.timeout(5000) })
          const body = (await response.json()) as { leader?: unknown; cutOff?: unknown }
          return response.ok && typeof body.leader === 'number' && body.cutOff !== true ? body.leader : null
        } catch {
          return null
        }
      }),
    )
    const first = leaders[0]
    if (first !== undefined && first !== null && leaders.every((leader) => leader === first)) return first
    const dead = herdChildren.find((child) => !isAlive(child))
    if (dead !== undefined) throw new Error(`herd replica pid ${dead.pid} exited while the cluster was electing a leader (logs in ${resultsDir})`)
    if (Date.now() > deadline) {
      throw new Error(`the replicas did not agree on a leader within ${timeoutMs / 1000} s (${targets.map((t, i) => `${t}: ${leaders[i] ?? 'none'}`).join(', ')})`)
    }
    await sleep(200)
  }
}

async function stopHerd(child: ChildProcess): Promise<void> {
  if (!isAlive(child)) return
  child.kill('SIGTERM')
  if (!(await exited(child, 12_000))) {
    child.kill('SIGKILL')
    await exited(child, 5_000)
  }
}

function loopbackTarget(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    fail(`--url ${url} is not a URL`)
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '')
  if (!['127.0.0.1', 'localhost', '::1'].includes(host) && !host.startsWith('127.')) fail(`--url must be a loopback address, got ${host}`)
  if (parsed.protocol !== 'http:') fail('--url must be http://')
  const port = parsed.port === '' ? '80' : parsed.port
  return `${host === 'localhost' ? '127.0.0.1' : host}:${port}`
}

function listeningPids(port: string): string {
  const ss = spawnSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8', timeout: 5000 })
  const pids = new Set([...(ss.stdout ?? '').matchAll(/pid=(\d+)/g)].map((m) => m[1] as string))
  return [...pids].join(' ')
}

async function httpRequest(target: string, method: string, path: string, body: string): Promise<number> {
  const response = await fetch(`http://${target}${path}`, { method, body: method === 'GET' ? null : body, signal: AbortSignal.timeout(10_000) })
  await response.arrayBuffer()
  return response.status
}

/** Creates /anchors; a fresh leader may still answer 503 (ConnectionLoss) for a moment, so that is retried for up to 15 s. */
async function createAnchorsRoot(target: string): Promise<void> {
  const deadline = Date.now() + 15_000
  for (;;) {
    let status: number | string
    try {
      status = await httpRequest(target, 'PUT', '/znodes/anchors', '')
    } catch (error) {
      status = (error as Error).message
    }
    if (status === 200 || status === 201) return
    if ((typeof status === 'number' && status < 500) || Date.now() > deadline || interrupted) throw new Error(`PUT /znodes/anchors answered ${status}`)
    await sleep(250)
  }
}

async function runWrk(servers: WrkServers, workload: string, conns: number, seconds: number): Promise<{ fields: Record<string, string> | null; raw: string; failure?: string }> {
  const result = await capture(runWrkScript, [servers.adapter, servers.targets, workload, String(conns), `${seconds}s`, String(wrkThreads(conns))], {
    env: { SERVER_PIDS: servers.pids },
    timeoutMs: (seconds + 60) * 1000,
  })
  const fields = parseResult(result.stdout)
  const rawLine = result.stdout.split('\n').find((l) => l.startsWith('RESULT ')) ?? ''
  if (fields === null || result.code !== 0) {
    const why = result.timedOut ? 'timed out' : `exit ${result.code}`
    return { fields, raw: rawLine || `RESULT failed=1`, failure: `run-wrk.sh ${workload} ${conns}: ${why}: ${(result.stderr || result.stdout).trim().slice(-600)}` }
  }
  if (result.stderr.trim() !== '') log(`  wrk: ${result.stderr.trim().split('\n').slice(0, 3).join(' | ')}`)
  return { fields, raw: rawLine }
}

/**
 * The anchors' preload (2,000 keys, 8 sequential creators over the targets),
 * then unrecorded write and read load. wrk runs the preload for a fixed
 * PRELOAD_SECS (6 s unless set), too short below ~350 creates/s (a cluster of
 * replicas on a busy machine): an incomplete preload is run again, once, for
 * 30 s (both adapters' preload is an upsert, so a repeat is harmless).
 */
async function preloadAndWarmUp(servers: WrkServers): Promise<void> {
  const name = servers.system
  const attempts = [Number(process.env['PRELOAD_SECS']) || 6, 30]
  for (const [i, secs] of attempts.entries()) {
    log(`${name}: preloading 2,000 keys (anchors preload, 8 creators, ${secs} s)`)
    const preload = await capture(runWrkScript, [servers.adapter, servers.targets, 'preload', '8'], { env: { PRELOAD_SECS: String(secs) }, timeoutMs: (secs + 60) * 1000 })
    const line = preload.stdout.split('\n').find((l) => l.startsWith('PRELOAD ')) ?? ''
    if (preload.code === 0) {
      log(`  ${line}`)
      break
    }
    if (i === attempts.length - 1 || !preload.stderr.includes('preload incomplete')) throw new Error(`${name} preload failed:\n${preload.stdout}${preload.stderr}`)
    log(`${name}: preload incomplete in ${secs} s (${line}); once more, longer`)
  }

  const warmConns = Math.max(64, ...connsList)
  if (warmup > 0) {
    for (const w of ['write', 'read']) {
      const r = await runWrk(servers, w, warmConns, warmup)
      log(`${name}: warm-up ${w} ${warmConns} conns ${warmup}s (not recorded): ${r.fields?.['rps'] ?? 'failed'} req/s`)
    }
  }
}

/** Starts (or finds) the herd node, or starts the replicas; creates /anchors, preloads and warms up. */
async function prepareHerd(): Promise<Herd> {
  let herd: Herd
  if (clusterMode) {
    herd = await startHerdCluster()
  } else if (opts.url !== undefined) {
    const target = loopbackTarget(opts.url)
    const pids = opts['server-pids'] ?? listeningPids(target.slice(target.lastIndexOf(':') + 1))
    if (pids === '') notes.push('herd server CPU unknown: no --server-pids and no listening pid found')
    herd = { system: 'herd', adapter: herdAdapter, targets: target, pids }
    log(`herd: benching the running node at ${target}${pids === '' ? '' : ` (pid ${pids})`}`)
  } else {
    herd = await startHerd()
  }
  await createAnchorsRoot(firstTarget(herd))
  await preloadAndWarmUp(herd)
  return herd
}

/** One measurement of one cell on herd or etcd, recorded. */
async function wrkCell(servers: WrkServers, workload: string, conns: number): Promise<void> {
  const r = await runWrk(servers, workload, conns, duration)
  record(`system=${servers.system} nodes=${nodes} variant=${workload} conf=c${conns} round=${round}`, r.raw)
  const row = wrkRow(servers.system, workload, conns, r.fields, r.failure)
  rows.push(row)
  log(`${servers.system} ${workload} c=${conns}: ${describe(row)}`)
  await sleep(1000)
}

/**
 * The watch runs, each next to a write run without watches measured just
 * before it (an earlier one from the matrix would be minutes away).
 */
async function herdWatchRuns(herd: Herd): Promise<void> {
  log(`herd: write c=${watchConns} without watches (baseline for the watch runs)`)
  const r = await runWrk(herd, 'write', watchConns, duration)
  record(`system=herd nodes=1 variant=write-baseline conf=c${watchConns}`, r.raw)
  const baseline = wrkRow('herd', 'write', watchConns, r.fields, r.failure)
  await sleep(1000)
  for (const placement of ['idle', 'firing'] as const) {
    watchRuns.push(await benchWatches(herd, baseline, placement))
    await sleep(1000)
  }
}

/** Stops the herd node or replicas this run started (SIGTERM, all at once; SIGKILL after 12 s). */
async function stopHerdNodes(): Promise<void> {
  const running = herdChildren.filter(isAlive)
  if (running.length > 0) log(`herd: stopping the ${running.length === 1 ? 'node' : `${running.length} replicas`}`)
  await Promise.all(running.map((child) => stopHerd(child)))
}

// ------------------------------------------------------------------ watches

type WatcherStatus = Status

class Watchers {
  readonly child: ChildProcess
  readonly #waiting: Array<(status: WatcherStatus) => void> = []
  #buffer = ''
  stderr = ''

  constructor(target: string, prefix: string, keys: number) {
    if (interrupted) throw new Error('interrupted')
    const args = [watchersScript, '--target', target, '--streams', String(watchStreams), '--keys', String(keys), '--prefix', prefix, '--max-seconds', String(duration * 4 + 600)]
    if (opts['watch-gapless']) args.push('--gapless')
    const [command, wrapped] = withFdLimit(nodeBinary, args)
    this.child = spawn(command, wrapped, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] })
    live.add(this.child)
    this.child.once('exit', () => live.delete(this.child))
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.#buffer += chunk.toString()
      let nl: number
      while ((nl = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, nl)
        this.#buffer = this.#buffer.slice(nl + 1)
        const waiter = this.#waiting.shift()
        if (waiter !== undefined) waiter(JSON.parse(line) as WatcherStatus)
      }
    })
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000)
    })
  }

  command(name: 'status' | 'reset'): Promise<WatcherStatus> {
    return new Promise((resolveStatus, reject) => {
      if (!isAlive(this.child)) {
        reject(new Error(`the watcher process exited: ${this.stderr}`))
        return
      }
      const timer = setTimeout(() => reject(new Error('the watcher process did not answer within 10 s')), 10_000)
      this.#waiting.push((status) => {
        clearTimeout(timer)
        resolveStatus(status)
      })
      this.child.stdin?.write(name + '\n')
    })
  }
}

async function stopWatchers(child: ChildProcess): Promise<void> {
  child.stdin?.end()
  if (!(await exited(child, 5000))) {
    killTree(child, 'SIGKILL')
    await exited(child, 2000)
  }
  if (watcherChild === child) watcherChild = null
}

async function benchWatches(herd: Herd, baseline: Row | null, placement: Placement): Promise<WatchRun> {
  const [prefix, keys, what] = placement === 'idle' ? ['/anchors/r', readKeys, 'read keys (never written)'] : ['/anchors/w', writeKeys, 'write keys']
  log(`watch (${placement}): opening ${watchStreams} SSE data watches over the ${keys} ${what}`)
  const watchers = new Watchers(firstTarget(herd), prefix, keys)
  watcherChild = watchers.child
  const base = { placement, streams: watchStreams, conns: watchConns, gapless: opts['watch-gapless'], baseline }
  const empty = { openAfter: null, withWatches: null, events: null, eventsPerSec: null, rearms: null, watchErrors: null, reconnects: null, lagP50Ms: null, lagP99Ms: null, lagMaxMs: null, cpuWatchers: null }
  try {
    const deadline = Date.now() + 90_000
    let status = await watchers.command('status')
    while (status.open < watchStreams && Date.now() < deadline) {
      await sleep(250)
      status = await watchers.command('status')
    }
    if (status.open < watchStreams) {
      return { ...base, ...empty, openBefore: status.open, failure: `only ${status.open} of ${watchStreams} watch streams opened within 90 s (errors ${JSON.stringify(status.errors)}, connected ${status.connected})` }
    }
    // Let the server settle after the connection burst, then count from zero.
    await sleep(1000)
    status = await watchers.command('reset')
    const openBefore = status.open
    log(`watch: ${openBefore} streams open (${status.connected} connections); write c=${watchConns} for ${duration}s`)
    const pid = watchers.child.pid ?? 0
    const ticks0 = cpuTicks(pid)
    const t0 = Date.now()
    const r = await runWrk(herd, 'write', watchConns, duration)
    const secs = (Date.now() - t0) / 1000
    const ticks1 = cpuTicks(pid)
    const after = await watchers.command('status')
    record(`system=herd nodes=1 variant=write-watch${watchStreams}-${placement} conf=c${watchConns}`, `${r.raw} | WATCH ${JSON.stringify(after)}`)
    const withWatches = wrkRow('herd', 'write', watchConns, r.fields, r.failure)
    const run: WatchRun = {
      ...base,
      openBefore,
      openAfter: after.open,
      withWatches,
      events: after.events,
      eventsPerSec: Math.round(after.events / secs),
      rearms: after.rearms,
      watchErrors: after.errors,
      reconnects: after.closes,
      lagP50Ms: after.lagP50Ms,
      lagP99Ms: after.lagP99Ms,
      lagMaxMs: after.lagMaxMs,
      cpuWatchers: Math.round((100 * (ticks1 - ticks0)) / clkTck / secs),
    }
    log(`watch: ${describe(withWatches)}; ${after.events} events delivered, ${after.open} streams open at the end`)
    return run
  } catch (error) {
    return { ...base, ...empty, openBefore: 0, failure: (error as Error).message }
  } finally {
    await stopWatchers(watchers.child)
  }
}

// ------------------------------------------------------------------ ZooKeeper and etcd

/** ZooKeeper standalone, or the 3-server ensemble with --cluster (the anchors' fixed ports). */
const zkClientPorts = clusterMode ? [22181, 22182, 22183] : [22181]
const zkServers = zkClientPorts.map((port) => `127.0.0.1:${port}`).join(',')
/** Quorum and election ports of the ensemble. */
const zkPeerPorts = clusterMode ? [22881, 22882, 22883, 22891, 22892, 22893] : []
const etcdClientPorts = [23791, 23792, 23793]
const etcdPeerPorts = [23801, 23802, 23803]

interface Zk {
  readonly servers: string
  /** Space separated. */
  readonly pids: string
}

function zkUnavailable(): string | null {
  if (opts['no-zk']) return 'skipped (--no-zk)'
  if (!existsSync(zkJar)) return `not measured: ${zkJar} is missing (apt-get install -y zookeeper)`
  if (spawnSync('java', ['-version'], { stdio: 'ignore', timeout: 30_000 }).status !== 0) return 'not measured: no java on PATH'
  if (!existsSync(join('/tmp/anchors/build/zkload', 'ZkLoad.class')) && spawnSync('javac', ['-version'], { stdio: 'ignore', timeout: 30_000 }).status !== 0) {
    return 'not measured: no javac to build the anchors ZkLoad'
  }
  if (!existsSync(zkCluster) || !existsSync(runZk)) return `not measured: the anchors' ZooKeeper scripts are not in ${anchorsDir}`
  return null
}

function etcdUnavailable(): string | null {
  if (opts['no-etcd']) return 'skipped (--no-etcd)'
  if (!existsSync(etcdBinary)) return `not measured: ${etcdBinary} is missing (apt-get install -y etcd-server etcd-client)`
  if (spawnSync('etcdctl', ['version'], { stdio: 'ignore', timeout: 10_000, env: { ...process.env, ETCDCTL_API: '3' } }).status !== 0) {
    return 'not measured: no etcdctl on PATH (apt-get install -y etcd-client), which etcd-cluster.sh needs'
  }
  if (!existsSync(etcdCluster) || !existsSync(etcdAdapter)) return `not measured: the anchors' etcd-cluster.sh or adapters/etcd.lua is not in ${anchorsDir}`
  return null
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.setTimeout(1000)
    socket.once('connect', () => {
      socket.destroy()
      resolvePort(true)
    })
    socket.once('error', () => resolvePort(false))
    socket.once('timeout', () => {
      socket.destroy()
      resolvePort(false)
    })
  })
}

/**
 * Why the anchors' servers named prefix ("zk", "etcd") cannot be started
 * here, or null. Their start scripts first kill every server whose pid file
 * /tmp/anchors/<prefix>-N.pid exists: never take over servers someone else
 * started from the anchors, nor ports something else listens on.
 */
async function anchorsBusy(prefix: string, ports: readonly number[], script: string): Promise<string | null> {
  const pidFiles = existsSync(anchorsState) ? readdirSync(anchorsState).filter((name) => new RegExp(`^${prefix}-\\d\\.pid$`).test(name)) : []
  for (const name of pidFiles) {
    const pid = readFileSync(join(anchorsState, name), 'utf8').trim()
    if (/^\d+$/.test(pid) && existsSync(`/proc/${pid}`)) {
      return `not measured: an anchors server is already running (pid ${pid} in ${join(anchorsState, name)}); stop it with ${script} stop`
    }
  }
  for (const port of ports) if (await portOpen(port)) return `not measured: something already listens on 127.0.0.1:${port}`
  return null
}

/** The pids the anchors' start script wrote for members 1..count, space separated. */
function anchorsPids(prefix: string, count: number): string {
  return Array.from({ length: count }, (_, i) => readFileSync(join(anchorsState, `${prefix}-${i + 1}.pid`), 'utf8').trim()).join(' ')
}

/** Synchronous on purpose: nothing else may run (or exit the process) while the anchors' stop script works. */
function stopAnchors(script: string): void {
  const stop = spawnSync(script, ['stop'], { encoding: 'utf8', timeout: 30_000 })
  if (stop.status !== 0) process.stderr.write(`bench: ${script} stop: exit ${stop.status} ${stop.stderr}\n`)
}

function stopZk(): void {
  if (!zkStarted) return
  zkStarted = false
  stopAnchors(zkCluster)
}

function stopEtcd(): void {
  if (!etcdStarted) return
  etcdStarted = false
  stopAnchors(etcdCluster)
}

async function runZkLoad(args: readonly string[], timeoutMs: number): Promise<Captured> {
  return capture(runZk, ['--servers', zkServers, ...args], { timeoutMs })
}

/** Starts ZooKeeper (standalone, or the ensemble with --cluster), preloads and warms up; null when it is not measured. */
async function prepareZk(): Promise<Zk | null> {
  zkSkipped = zkUnavailable() ?? (await anchorsBusy('zk', [...zkClientPorts, ...zkPeerPorts], zkCluster))
  if (zkSkipped !== null) {
    log(`ZooKeeper ${zkSkipped}`)
    return null
  }
  const command = clusterMode ? 'start' : 'start1'
  log(`ZooKeeper: starting ${clusterMode ? `the ${nodes}-server ensemble` : 'standalone'} (anchors zk-cluster.sh ${command})`)
  zkStarted = true
  const start = await capture(zkCluster, [command], { timeoutMs: 90_000 })
  if (start.code !== 0) throw new Error(`zk-cluster.sh ${command} failed:\n${start.stdout}${start.stderr}`)
  const zk: Zk = { servers: zkServers, pids: anchorsPids('zk', nodes) }
  log(`ZooKeeper: pid ${zk.pids} on ${zk.servers}; preloading`)
  const preload = await runZkLoad(['--sessions', '8', '--preload-only'], 120_000)
  if (preload.code !== 0) throw new Error(`ZooKeeper preload failed:\n${preload.stdout}${preload.stderr}`)

  const warmSessions = Math.max(64, ...connsList)
  if (warmup > 0) {
    for (const w of ['write', 'read']) {
      const r = await runZkLoad(['--sessions', String(warmSessions), '--outstanding', '1', '--workload', w, '--duration', String(warmup), '--warmup', '0'], (warmup + 150) * 1000)
      log(`ZooKeeper: warm-up ${w} ${warmSessions}x1 ${warmup}s (not recorded): ${parseResult(r.stdout)?.['ops_per_s'] ?? 'failed'} ops/s`)
    }
  }
  return zk
}

async function zkCell(zk: Zk, workload: string, conns: number): Promise<void> {
  const r = await runZkLoad(
    ['--sessions', String(conns), '--outstanding', '1', '--workload', workload, '--duration', String(duration), '--warmup', '2', '--server-pids', zk.pids],
    (duration + 150) * 1000,
  )
  const fields = parseResult(r.stdout)
  const rawLine = r.stdout.split('\n').find((l) => l.startsWith('RESULT ')) ?? 'RESULT failed=1'
  record(`system=zookeeper nodes=${nodes} variant=${workload} conf=${conns}x1 round=${round}`, rawLine)
  const failure = fields === null || r.code !== 0 ? `run-zk.sh ${workload} ${conns}x1: ${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${(r.stderr || r.stdout).trim().slice(-600)}` : undefined
  const row = zkRow(workload, conns, fields, failure)
  rows.push(row)
  log(`ZooKeeper ${workload} ${conns}x1: ${describe(row)}`)
  await sleep(1000)
}

/** --cluster: starts etcd's 3 members, preloads and warms up over all three; null when it is not measured. */
async function prepareEtcd(): Promise<WrkServers | null> {
  etcdSkipped = etcdUnavailable() ?? (await anchorsBusy('etcd', [...etcdClientPorts, ...etcdPeerPorts], etcdCluster))
  if (etcdSkipped !== null) {
    log(`etcd ${etcdSkipped}`)
    return null
  }
  log(`etcd: starting ${nodes} members (anchors etcd-cluster.sh start)`)
  etcdStarted = true
  const start = await capture(etcdCluster, ['start'], { timeoutMs: 60_000 })
  if (start.code !== 0) throw new Error(`etcd-cluster.sh start failed:\n${start.stdout}${start.stderr}`)
  const etcd: WrkServers = { system: 'etcd', adapter: etcdAdapter, targets: etcdClientPorts.map((port) => `127.0.0.1:${port}`).join(','), pids: anchorsPids('etcd', nodes) }
  log(`etcd: pid ${etcd.pids} on ${etcd.targets}`)
  await preloadAndWarmUp(etcd)
  return etcd
}

// ------------------------------------------------------------------ output

function fmtInt(n: number | null): string {
  return n === null ? '–' : Math.round(n).toLocaleString('en-US')
}

function fmtMs(n: number | null): string {
  return n === null ? '–' : n.toFixed(2)
}

function fmtRatio(n: number | null): string {
  return n === null || !Number.isFinite(n) ? '–' : n.toFixed(2)
}

function describe(row: Row): string {
  if (row.failure !== undefined && row.rps === null) return `FAILED (${row.failure.split('\n')[0]})`
  return `${fmtInt(row.rps)} req/s, p50 ${fmtMs(row.p50Ms)} ms, p99 ${fmtMs(row.p99Ms)} ms, server CPU ${row.cpuServer ?? '–'} %, errors ${row.errors ?? '–'}`
}

/**
 * A cell's figures: its one row, or with --rounds the median of each figure
 * over the rounds (a failed round fails the cell).
 */
function findRow(system: System, workload: string, conns: number): Row | undefined {
  const measured = rows.filter((r) => r.system === system && r.workload === workload && r.conns === conns)
  const first = measured[0]
  if (measured.length <= 1 || first === undefined) return first
  const failed = measured.find((r) => r.failure !== undefined)
  if (failed !== undefined) return failed
  const median = (pick: (row: Row) => number | null): number | null => {
    const values = measured.map(pick).filter((v): v is number => v !== null).sort((a, b) => a - b)
    if (values.length === 0) return null
    const mid = Math.floor(values.length / 2)
    return values.length % 2 === 1 ? (values[mid] as number) : ((values[mid - 1] as number) + (values[mid] as number)) / 2
  }
  return {
    ...first,
    round: 0,
    rps: median((r) => r.rps),
    p50Ms: median((r) => r.p50Ms),
    p99Ms: median((r) => r.p99Ms),
    cpuServer: median((r) => r.cpuServer),
    cpuClient: median((r) => r.cpuClient),
    errors: measured.reduce((sum, r) => sum + (r.errors ?? 0), 0),
  }
}

/** herd's req/s and p99 over another system's in one cell; null when either was not measured. */
function compare(other: System, workload: string, conns: number): { readonly rps: number | null; readonly p99: number | null } | null {
  const herd = findRow('herd', workload, conns)
  const them = findRow(other, workload, conns)
  if (herd === undefined || them === undefined) return null
  return {
    rps: herd.rps !== null && them.rps ? herd.rps / them.rps : null,
    p99: herd.p99Ms !== null && them.p99Ms ? herd.p99Ms / them.p99Ms : null,
  }
}

interface Ratio {
  readonly workload: string
  readonly conns: number
  /** herd / ZooKeeper. */
  readonly rpsRatio: number | null
  readonly p99Ratio: number | null
  /** Single-node: only write and read at 64 have a target: req/s at least ZooKeeper's, p99 no worse. */
  readonly target: 'met' | 'missed' | null
  /** --cluster: herd / etcd. */
  readonly etcdRpsRatio?: number | null
  readonly etcdP99Ratio?: number | null
}

function ratios(): Ratio[] {
  const out: Ratio[] = []
  for (const conns of connsList) {
    for (const workload of workloads) {
      const zk = compare('zookeeper', workload, conns)
      if (clusterMode) {
        const etcd = compare('etcd', workload, conns)
        if (zk === null && etcd === null) continue
        out.push({ workload, conns, rpsRatio: zk?.rps ?? null, p99Ratio: zk?.p99 ?? null, target: null, etcdRpsRatio: etcd?.rps ?? null, etcdP99Ratio: etcd?.p99 ?? null })
        continue
      }
      if (zk === null) continue
      const { rps: rpsRatio, p99: p99Ratio } = zk
      const hasTarget = conns === 64 && (workload === 'write' || workload === 'read')
      const target = !hasTarget || rpsRatio === null || p99Ratio === null ? null : rpsRatio >= 1 && p99Ratio <= 1 ? 'met' : 'missed'
      out.push({ workload, conns, rpsRatio, p99Ratio, target })
    }
  }
  return out
}

/** The targets of the cluster benchmark (issue 3), all at 64 connections. */
const targetConns = 64

interface Target {
  readonly target: string
  readonly figures: string
  /** Met only when every comparison it needs was measured; missed when any measured one falls short. */
  readonly status: 'met' | 'missed' | 'not measured'
}

function clusterTargets(): Target[] {
  const out: Target[] = []
  const plural: Record<Workload, string> = { write: 'writes', read: 'reads', mix: '90/10 mix' }
  const throughput = (workload: Workload, other: 'zookeeper' | 'etcd', factor: number): void => {
    const ratio = compare(other, workload, targetConns)?.rps ?? null
    out.push({
      target: `${plural[workload]}: req/s ≥ ${factor === 1 ? '' : `${factor}x `}${other === 'zookeeper' ? 'ZooKeeper-3' : 'etcd-3'}`,
      figures: ratio === null ? 'not measured' : `${fmtRatio(ratio)}x`,
      status: ratio === null ? 'not measured' : ratio >= factor ? 'met' : 'missed',
    })
  }
  throughput('write', 'zookeeper', 1)
  throughput('write', 'etcd', 2)
  throughput('read', 'zookeeper', 1)
  throughput('mix', 'zookeeper', 1)
  for (const workload of allWorkloads) {
    const herd = findRow('herd', workload, targetConns)
    const figures = [`herd-3 ${herd?.p99Ms == null ? 'not measured' : `${fmtMs(herd.p99Ms)} ms`}`]
    const measured: number[] = []
    for (const [other, name] of [['zookeeper', 'ZooKeeper-3'], ['etcd', 'etcd-3']] as const) {
      const ratio = compare(other, workload, targetConns)?.p99 ?? null
      const p99 = findRow(other, workload, targetConns)?.p99Ms ?? null
      if (ratio !== null) measured.push(ratio)
      figures.push(`${name} ${p99 === null ? 'not measured' : `${fmtMs(p99)} ms`}${ratio === null ? '' : ` (${fmtRatio(ratio)}x)`}`)
    }
    out.push({
      target: `${plural[workload]}: p99 no worse than ZooKeeper-3 or etcd-3`,
      figures: figures.join(', '),
      status: measured.some((ratio) => ratio > 1) ? 'missed' : measured.length === 2 ? 'met' : 'not measured',
    })
  }
  return out
}

/**
 * Server CPU time per request, in µs (of the median CPU and median rate):
 * what a request costs each system, whatever share of the machine it got.
 */
function cpuPerRequest(row: { readonly rps: number | null; readonly cpuServer: number | null }): string {
  if (row.rps === null || row.rps === 0 || row.cpuServer === null) return '–'
  return String(Math.round((row.cpuServer * 10_000) / row.rps))
}

function medianNote(): string {
  return rounds > 1 ? `, each figure the median of ${rounds} rounds over the whole matrix (herd and its anchors measured back to back in every round)` : ''
}

/** The figures, one row per system and cell, and the failures under them. */
function resultsTable(lines: string[]): void {
  lines.push('| system | workload | conns | req/s | p50 ms | p99 ms | server CPU % | server CPU µs/req | errors |')
  lines.push('|---|---|---|---|---|---|---|---|---|')
  for (const conns of connsList) {
    for (const workload of workloads) {
      for (const system of systems) {
        const row = findRow(system, workload, conns)
        if (row === undefined) continue
        const name = clusterMode ? `${system}-${nodes}` : system
        if (row.rps === null) {
          lines.push(`| ${name} | ${workload} | ${row.label} | failed | – | – | – | – | – |`)
          continue
        }
        lines.push(`| ${name} | ${workload} | ${row.label} | ${fmtInt(row.rps)} | ${fmtMs(row.p50Ms)} | ${fmtMs(row.p99Ms)} | ${row.cpuServer ?? '–'} | ${cpuPerRequest(row)} | ${row.errors ?? '–'} |`)
      }
    }
  }
  if (rounds > 1) {
    lines.push('')
    lines.push(`Each round (req/s, p99 ms), in the order measured:`)
    for (const conns of connsList) {
      for (const workload of workloads) {
        for (const system of systems) {
          const measured = rows.filter((r) => r.system === system && r.workload === workload && r.conns === conns)
          if (measured.length === 0) continue
          const figures = measured.map((r) => (r.rps === null ? 'failed' : `${fmtInt(r.rps)} / ${fmtMs(r.p99Ms)}`))
          lines.push(`* ${system} ${workload} ${conns}: ${figures.join(', ')}`)
        }
      }
    }
  }
  const failures = rows.filter((r) => r.failure !== undefined)
  if (failures.length > 0) {
    lines.push('')
    for (const row of failures) lines.push(`* ${row.system} ${row.workload} ${row.label}: ${row.failure}`)
  }
}

function clusterReport(meta: Record<string, string>): string {
  const lines: string[] = []
  const anchors = [zkSkipped === null ? 'ZooKeeper 3-server ensemble' : null, etcdSkipped === null ? 'etcd 3 members' : null].filter((a) => a !== null)
  lines.push(`## herd, ${nodes} replicas${anchors.length > 0 ? ` vs ${anchors.join(' and ')}` : ''} — ${meta['date']}`)
  lines.push('')
  lines.push(
    `${meta['duration']} s per measurement${medianNote()}, closed loop over loopback, one request in flight per connection; wrk's threads spread over the ${nodes} members, ZooKeeper's C sessions x 1 outstanding round-robin over its servers. ` +
      `Every server and the load generator share this ${meta['cpus']}-CPU machine (server CPU = the sum over a system's ${nodes} processes, in % of one core); load average at start ${meta['loadStart']}, at end ${meta['loadEnd']}.`,
  )
  const etcdReads = process.env['ETCD_SERIALIZABLE'] === '1' ? 'serializable (local) reads' : "linearizable reads (etcd's default; herd's and ZooKeeper's are local)"
  lines.push(
    `herd ${meta['herd']}, replicas run with ${herdExtraArgs.join(' ')}; wrk driver ${meta['anchors']}/http-load/workload.lua with test/bench/herd.lua; ` +
      `ZooKeeper: ${zkSkipped ?? 'anchors zk-cluster.sh start + zk-load/run-zk.sh'}; etcd: ${etcdSkipped ?? `anchors etcd-cluster.sh start + http-load/adapters/etcd.lua, ${etcdReads}`}.`,
  )
  lines.push('')
  resultsTable(lines)

  const rs = ratios()
  if (rs.length > 0) {
    lines.push('')
    lines.push('### herd-3 / ZooKeeper-3 and herd-3 / etcd-3')
    lines.push('')
    lines.push('| workload | conns | req/s vs ZooKeeper-3 (≥ 1 is better) | p99 vs ZooKeeper-3 (≤ 1 is better) | req/s vs etcd-3 (writes: target ≥ 2) | p99 vs etcd-3 (≤ 1 is better) |')
    lines.push('|---|---|---|---|---|---|')
    for (const r of rs) lines.push(`| ${r.workload} | ${r.conns} | ${fmtRatio(r.rpsRatio)} | ${fmtRatio(r.p99Ratio)} | ${fmtRatio(r.etcdRpsRatio ?? null)} | ${fmtRatio(r.etcdP99Ratio ?? null)} |`)
  }
  for (const [name, skipped] of [['ZooKeeper', zkSkipped], ['etcd', etcdSkipped]] as const) if (skipped !== null) lines.push(`\n${name} ${skipped}: no ratios against it.`)

  lines.push('')
  lines.push(`### Targets at ${targetConns} connections`)
  lines.push('')
  lines.push('| target | herd-3 | |')
  lines.push('|---|---|---|')
  for (const t of clusterTargets()) lines.push(`| ${t.target} | ${t.figures} | ${t.status === 'met' ? 'met' : t.status === 'missed' ? '**missed**' : t.status} |`)
  for (const note of notes) lines.push(`\nNote: ${note}`)
  lines.push('')
  lines.push(`Raw RESULT lines: ${rawFile}`)
  return lines.join('\n') + '\n'
}

function report(meta: Record<string, string>): string {
  if (clusterMode) return clusterReport(meta)
  const lines: string[] = []
  lines.push(`## ${zkSkipped === null ? 'herd vs ZooKeeper standalone' : 'herd'} — ${meta['date']}`)
  lines.push('')
  lines.push(
    `${meta['duration']} s per measurement${medianNote()}, closed loop over loopback, one request in flight per connection (ZooKeeper: C sessions x 1 outstanding). ` +
      `Server and load generator share this ${meta['cpus']}-CPU machine; load average at start ${meta['loadStart']}, at end ${meta['loadEnd']}.`,
  )
  lines.push(`herd ${meta['herd']}; wrk driver ${meta['anchors']}/http-load/workload.lua with test/bench/herd.lua; ZooKeeper: ${zkSkipped ?? 'standalone, anchors zk-cluster.sh start1 + zk-load/run-zk.sh'}.`)
  lines.push('')
  resultsTable(lines)

  if (watchRuns.length > 0) {
    const first = watchRuns[0] as WatchRun
    lines.push('')
    lines.push(`### Writes with ${first.streams.toLocaleString('en-US')} open watch streams (${first.conns} connections)`)
    lines.push('')
    for (const w of watchRuns) if (w.failure !== undefined) lines.push(`Watch run (${w.placement}) failed: ${w.failure}`)
    lines.push('| run | writes/s | p50 ms | p99 ms | server CPU % | watcher CPU % | watch events | events/s | streams open before / after | notification lag p50 / p99 / max ms |')
    lines.push('|---|---|---|---|---|---|---|---|---|---|')
    const b = first.baseline
    if (b !== null) lines.push(`| no watches | ${fmtInt(b.rps)} | ${fmtMs(b.p50Ms)} | ${fmtMs(b.p99Ms)} | ${b.cpuServer ?? '–'} | – | – | – | – | – |`)
    for (const w of watchRuns) {
      const x = w.withWatches
      if (x === null) continue
      const label = w.placement === 'idle' ? 'streams open, idle (on keys not written)' : 'streams firing (on the written keys, re-armed)'
      lines.push(
        `| ${w.streams.toLocaleString('en-US')} ${label} | ${fmtInt(x.rps)} | ${fmtMs(x.p50Ms)} | ${fmtMs(x.p99Ms)} | ${x.cpuServer ?? '–'} | ${w.cpuWatchers ?? '–'} | ${fmtInt(w.events)} | ${fmtInt(w.eventsPerSec)} | ${w.openBefore} / ${w.openAfter ?? '–'} | ${w.lagP50Ms ?? '–'} / ${w.lagP99Ms ?? '–'} / ${w.lagMaxMs ?? '–'} |`,
      )
    }
    lines.push('')
    for (const w of watchRuns) {
      const x = w.withWatches
      if (b === null || x === null || !b.rps || x.rps === null) continue
      lines.push(
        `${w.placement === 'idle' ? 'Idle' : 'Firing'} streams: ${fmtRatio(x.rps / b.rps)}x the writes/s, p99 ${fmtRatio(x.p99Ms !== null && b.p99Ms ? x.p99Ms / b.p99Ms : null)}x` +
          (w.placement === 'firing'
            ? `; watches re-armed ${w.gapless ? 'from the zxid each fired at (gapless)' : 'from the current zxid as each fires (ZooKeeper-style)'}, ${fmtInt(w.rearms)} re-arms, ${w.reconnects ?? 0} reconnects, non-200 answers ${JSON.stringify(w.watchErrors ?? {})}.`
            : '.'),
      )
    }
    lines.push('Lag = time of receipt minus the event stat.mtime (whole ms). The watcher process shares the machine.')
  }

  const rs = ratios()
  if (rs.length > 0) {
    lines.push('')
    lines.push('### herd / ZooKeeper')
    lines.push('')
    lines.push('| workload | conns | req/s ratio (≥ 1 is better) | p99 ratio (≤ 1 is better) | target at 64 (write, read): req/s ≥ ZK, p99 ≤ ZK |')
    lines.push('|---|---|---|---|---|')
    for (const r of rs) lines.push(`| ${r.workload} | ${r.conns} | ${fmtRatio(r.rpsRatio)} | ${fmtRatio(r.p99Ratio)} | ${r.target ?? '–'} |`)
  } else if (zkSkipped !== null) {
    lines.push('')
    lines.push(`ZooKeeper ${zkSkipped}: no ratios.`)
  }
  for (const note of notes) lines.push(`\nNote: ${note}`)
  lines.push('')
  lines.push(`Raw RESULT lines: ${rawFile}`)
  return lines.join('\n') + '\n'
}

// ------------------------------------------------------------------ main

function herdVersion(): string {
  const rev = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim()
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', 'src'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim() !== ''
  const node = spawnSync(nodeBinary, ['--version'], { encoding: 'utf8' }).stdout.trim()
  return `${rev || '?'}${dirty ? ' (src modified)' : ''} on Node ${node}`
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
}

/** True when every measurement produced figures. */
async function main(): Promise<boolean> {
  if (!existsSync(runWrkScript)) fail(`no ${runWrkScript}; set HERD_ANCHORS to the anchors directory`)
  if (spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error !== undefined) fail('wrk is not installed (apt-get install -y wrk)')
  if (opts.url === undefined && !existsSync(nodeBinary)) fail(`no ${nodeBinary}: the project's Node 24 is missing (npm ci)`)
  mkdirSync(resultsDir, { recursive: true })
  mkdirSync(anchorsState, { recursive: true }) // run-wrk.sh keeps its temporary files there
  const meta: Record<string, string> = {
    date: new Date().toISOString(),
    duration: String(duration),
    cpus: String(cpus().length),
    loadStart: load(),
    herd: herdVersion(),
    anchors: anchorsDir,
  }
  writeFileSync(rawFile, `# npm run bench ${process.argv.slice(2).join(' ')} — ${meta['date']}, herd ${meta['herd']}, load ${meta['loadStart']}\n`)
  log(
    `bench${clusterMode ? ` --cluster (${nodes} replicas)` : ''}: ${duration}s per run, conns ${connsList.join(',')}, workloads ${workloads.join(',')}; raw lines to ${rawFile}`,
  )

  // All servers stay up through the matrix and each cell is measured for
  // herd, then ZooKeeper, then etcd, back to back: on a shared machine whose
  // speed drifts by tens of percent over minutes, only neighbouring
  // measurements compare fairly. Each server idles while another is measured.
  const herd = await prepareHerd()
  const zk = await prepareZk()
  const etcd = clusterMode ? await prepareEtcd() : null
  for (round = 1; round <= rounds; round++) {
    if (rounds > 1) log(`round ${round} of ${rounds}`)
    for (const conns of connsList) {
      for (const workload of workloads) {
        if (interrupted) return false
        await wrkCell(herd, workload, conns)
        if (zk !== null) await zkCell(zk, workload, conns)
        if (etcd !== null) await wrkCell(etcd, workload, conns)
      }
    }
  }
  if (zk !== null) {
    log('ZooKeeper: stopping (zk-cluster.sh stop)')
    stopZk()
  }
  if (etcd !== null) {
    log('etcd: stopping (etcd-cluster.sh stop)')
    stopEtcd()
  }
  if (watchEnabled) await herdWatchRuns(herd)
  await stopHerdNodes()
  if (interrupted) return false

  meta['loadEnd'] = load()
  const text = report(meta)
  process.stdout.write('\n' + text)
  if (opts.json !== undefined) {
    writeFileSync(
      // npm runs scripts in the package root; INIT_CWD is where `npm run bench` was typed.
      resolve(process.env['INIT_CWD'] ?? process.cwd(), opts.json),
      JSON.stringify(
        {
          meta: {
            ...meta,
            mode: clusterMode ? 'cluster' : 'single',
            nodes,
            herdArgs: herdExtraArgs,
            conns: connsList,
            workloads,
            warmup,
            rounds,
            ...(clusterMode ? {} : { watchStreams, watchConns }),
            rawFile,
            zookeeper: zkSkipped ?? 'measured',
            ...(clusterMode ? { etcd: etcdSkipped ?? 'measured' } : {}),
          },
          rows,
          ...(clusterMode ? { targets: clusterTargets() } : { watch: watchRuns }),
          ratios: ratios(),
          notes,
        },
        null,
        2,
      ) + '\n',
    )
    log(`JSON written to ${opts.json}`)
  }
  const failed = rows.filter((r) => r.failure !== undefined).length + watchRuns.filter((w) => w.failure !== undefined).length
  log(`done in ${Math.round((Date.now() - started) / 1000)} s${failed > 0 ? `; ${failed} measurement(s) failed` : ''}`)
  return failed === 0
}

let ok = false
try {
  ok = await main()
} catch (error) {
  if (!interrupted) process.stderr.write(`bench: ${(error as Error)?.stack ?? String(error)}\n`)
}
// After a signal its handler owns the shutdown and the exit.
if (interrupted) await new Promise(() => {})
await stopEverything()
process.exit(ok ? 0 : 1)
