// `npm run bench`: herd beside ZooKeeper standalone, on the anchors' load
// generators, in one run.
//
//   npm run bench -- [--duration 10] [--conns 16,64] [--workloads write,read,mix]
//                    [--warmup 5] [--watch-streams 5000] [--watch-conns 64] [--watch-gapless]
//                    [--no-zk] [--no-watch] [--url http://127.0.0.1:8181] [--server-pids "pid ..."]
//                    [--json out.json]
//
// herd: unless --url names a running node, starts one (node src/main.ts with
// the project's Node 24, --client-port 0, a fresh temporary data dir, default
// settings, so every write is synced), creates /anchors, preloads the 2,000
// keys with the anchors' preload, warms up (unrecorded write, then read, at 64
// connections), then runs each workload at each connection count for
// --duration seconds with the anchors' wrk driver
// ($HERD_ANCHORS/http-load/run-wrk.sh + workload.lua, used in place) and
// test/bench/herd.lua as the adapter. SERVER_PIDS is passed so the server's
// CPU is reported.
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
// (data under /tmp/anchors/zk-1), zk-load/run-zk.sh preloads, warms up, and
// runs the same workloads with --sessions C --outstanding 1 (C in flight, as
// wrk's C connections), then zk-cluster.sh stop. Both servers stay up and
// each cell is measured for herd and then for ZooKeeper, back to back, so the
// machine's drift does not favour either.
//
// Prints markdown tables on stdout (progress on stderr); raw RESULT lines go
// to bench-results/bench-<time>.txt, and with --json a machine-readable copy.
// Every step is bounded in time; the herd node, the watchers, any load
// generator and ZooKeeper are stopped on exit, error or Ctrl-C. Loopback only.
import type { Status } from './watchers.ts'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'

const repoRoot = new URL('../..', import.meta.url).pathname
const nodeBinary = join(repoRoot, 'node_modules/.bin/node')
const mainScript = join(repoRoot, 'src/main.ts')
const adapter = join(repoRoot, 'test/bench/herd.lua')
const watchersScript = join(repoRoot, 'test/bench/watchers.ts')
const anchorsDir = resolve(repoRoot, process.env['HERD_ANCHORS'] ?? '../shared/anchors')
const runWrkScript = join(anchorsDir, 'http-load/run-wrk.sh')
const zkCluster = join(anchorsDir, 'zk-cluster.sh')
const runZk = join(anchorsDir, 'zk-load/run-zk.sh')
const anchorsState = '/tmp/anchors'
const zkJar = '/usr/share/java/zookeeper.jar'
const zkServers = '127.0.0.1:22181'
const zkPidFile = join(anchorsState, 'zk-1.pid')
const writeKeys = 1000
/** The read keys (NKEYS in the anchors' workload.lua), which the write workload never touches. */
const readKeys = 1000
const fdLimit = 65536

// ------------------------------------------------------------------ options

const usage = `usage: npm run bench -- [options]
  --duration S          seconds per measurement (default 10)
  --conns LIST          connection counts, comma separated (default 16,64)
  --workloads LIST      of write, read, mix (default write,read,mix)
  --warmup S            seconds of unrecorded write and then read load before measuring (default 5; 0 = none)
  --watch-streams N     watch streams held open in the watch run (default 5000)
  --watch-conns C       connections of the write workload in the watch run (default 64)
  --watch-gapless       re-arm each watch from the zxid it fired at (default: from now, like ZooKeeper)
  --no-watch            skip the watch-stream run
  --no-zk               skip ZooKeeper
  --url URL             bench a running herd node (loopback) instead of starting one
  --server-pids "P ..." with --url: the node's process ids, for its CPU figure (default: found with ss)
  --json FILE           also write the results as JSON
env HERD_ANCHORS        the anchors directory (default ../shared/anchors from the repo)`

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    conns: { type: 'string', default: '16,64' },
    workloads: { type: 'string', default: 'write,read,mix' },
    warmup: { type: 'string', default: '5' },
    'watch-streams': { type: 'string', default: '5000' },
    'watch-conns': { type: 'string', default: '64' },
    'watch-gapless': { type: 'boolean', default: false },
    'no-watch': { type: 'boolean', default: false },
    'no-zk': { type: 'boolean', default: false },
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
const watchStreams = positiveInt('watch-streams', opts['watch-streams'])
const watchConns = positiveInt('watch-conns', opts['watch-conns'])
const connsList = opts.conns.split(',').map((c) => positiveInt('conns', c.trim()))
const workloads = opts.workloads.split(',').map((w) => {
  const name = w.trim()
  if (!allWorkloads.includes(name as Workload)) fail(`unknown workload ${JSON.stringify(name)} (write, read, mix)`)
  return name as Workload
})
for (const c of [...connsList, watchConns]) wrkThreads(c)

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
const rawFile = join(resultsDir, `bench-${stamp}.txt`)

/** Children whose process trees are killed on exit. */
const live = new Set<ChildProcess>()
let herdChild: ChildProcess | null = null
let watcherChild: ChildProcess | null = null
let zkStarted = false
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
  await Promise.all([...live].filter((child) => child !== herdChild && child !== watcherChild).map((child) => stopTree(child)))
  if (watcherChild !== null) await stopWatchers(watcherChild)
  if (herdChild !== null) await stopHerd(herdChild)
  stopZk()
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

interface Row {
  readonly system: 'herd' | 'zookeeper'
  readonly workload: string
  readonly conns: number
  /** As shown: "64" for wrk connections, "64x1" for ZooKeeper sessions x outstanding. */
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

function herdRow(workload: string, conns: number, fields: Record<string, string> | null, failure?: string): Row {
  const f = fields ?? {}
  const errorKeys = ['err_connect', 'err_read', 'err_write', 'err_status', 'err_timeout', 'non2xx_checked']
  const errors = fields === null ? null : errorKeys.reduce((sum, key) => sum + (num(f, key) ?? 0), 0)
  return {
    system: 'herd',
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

// ------------------------------------------------------------------ herd

interface Herd {
  readonly target: string
  readonly pids: string
}

async function startHerd(): Promise<Herd> {
  if (interrupted) throw new Error('interrupted')
  tempDir = mkdtempSync(join(tmpdir(), 'herd-bench-'))
  const logFile = join(resultsDir, `herd-${stamp}.log`)
  const out = openSync(logFile, 'a')
  const [command, args] = withFdLimit(nodeBinary, [mainScript, '--client-port', '0', '--data-dir', join(tempDir, 'data')])
  const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', out, out] })
  closeSync(out)
  herdChild = child
  live.add(child)
  child.once('exit', () => live.delete(child))
  const deadline = Date.now() + 30_000
  for (;;) {
    const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''
    const match = /listening on http:\/\/([^\s:]+):(\d+)/.exec(text)
    if (match !== null) {
      log(`herd node pid ${child.pid} on 127.0.0.1:${match[2]}, data in ${join(tempDir, 'data')}, log ${logFile}`)
      return { target: `127.0.0.1:${match[2]}`, pids: String(child.pid) }
    }
    if (!isAlive(child)) throw new Error(`herd exited before listening:\n${text}`)
    if (Date.now() > deadline) throw new Error(`herd did not listen within 30 s:\n${text}`)
    await sleep(100)
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

async function runWrk(target: string, pids: string, workload: string, conns: number, seconds: number): Promise<{ fields: Record<string, string> | null; raw: string; failure?: string }> {
  const result = await capture(runWrkScript, [adapter, target, workload, String(conns), `${seconds}s`, String(wrkThreads(conns))], {
    env: { SERVER_PIDS: pids },
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

/** Starts (or finds) the herd node, creates /anchors, preloads and warms up. */
async function prepareHerd(): Promise<Herd> {
  let herd: Herd
  if (opts.url !== undefined) {
    const target = loopbackTarget(opts.url)
    const pids = opts['server-pids'] ?? listeningPids(target.slice(target.lastIndexOf(':') + 1))
    if (pids === '') notes.push('herd server CPU unknown: no --server-pids and no listening pid found')
    herd = { target, pids }
    log(`herd: benching the running node at ${target}${pids === '' ? '' : ` (pid ${pids})`}`)
  } else {
    herd = await startHerd()
  }
  const status = await httpRequest(herd.target, 'PUT', '/znodes/anchors', '')
  if (status !== 200 && status !== 201) throw new Error(`PUT /znodes/anchors answered ${status}`)

  log('herd: preloading 2,000 keys (anchors preload, 8 creators)')
  const preload = await capture(runWrkScript, [adapter, herd.target, 'preload', '8'], { timeoutMs: 90_000 })
  if (preload.code !== 0) throw new Error(`herd preload failed:\n${preload.stdout}${preload.stderr}`)
  log(`  ${preload.stdout.split('\n').find((l) => l.startsWith('PRELOAD ')) ?? ''}`)

  const warmConns = Math.max(64, ...connsList)
  if (warmup > 0) {
    for (const w of ['write', 'read']) {
      const r = await runWrk(herd.target, herd.pids, w, warmConns, warmup)
      log(`herd: warm-up ${w} ${warmConns} conns ${warmup}s (not recorded): ${r.fields?.['rps'] ?? 'failed'} req/s`)
    }
  }

  return herd
}

async function herdCell(herd: Herd, workload: string, conns: number): Promise<void> {
  const r = await runWrk(herd.target, herd.pids, workload, conns, duration)
  record(`system=herd nodes=1 variant=${workload} conf=c${conns}`, r.raw)
  const row = herdRow(workload, conns, r.fields, r.failure)
  rows.push(row)
  log(`herd ${workload} c=${conns}: ${describe(row)}`)
  await sleep(1000)
}

/**
 * The watch runs, each next to a write run without watches measured just
 * before it (an earlier one from the matrix would be minutes away).
 */
async function herdWatchRuns(herd: Herd): Promise<void> {
  log(`herd: write c=${watchConns} without watches (baseline for the watch runs)`)
  const r = await runWrk(herd.target, herd.pids, 'write', watchConns, duration)
  record(`system=herd nodes=1 variant=write-baseline conf=c${watchConns}`, r.raw)
  const baseline = herdRow('write', watchConns, r.fields, r.failure)
  await sleep(1000)
  for (const placement of ['idle', 'firing'] as const) {
    watchRuns.push(await benchWatches(herd, baseline, placement))
    await sleep(1000)
  }
}

async function stopHerdNode(): Promise<void> {
  if (herdChild !== null) {
    log('herd: stopping the node')
    await stopHerd(herdChild)
    herdChild = null
  }
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
  const watchers = new Watchers(herd.target, prefix, keys)
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
    const r = await runWrk(herd.target, herd.pids, 'write', watchConns, duration)
    const secs = (Date.now() - t0) / 1000
    const ticks1 = cpuTicks(pid)
    const after = await watchers.command('status')
    record(`system=herd nodes=1 variant=write-watch${watchStreams}-${placement} conf=c${watchConns}`, `${r.raw} | WATCH ${JSON.stringify(after)}`)
    const withWatches = herdRow('write', watchConns, r.fields, r.failure)
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

// ------------------------------------------------------------------ ZooKeeper

function zkUnavailable(): string | null {
  if (opts['no-zk']) return 'skipped (--no-zk)'
  if (!existsSync(zkJar)) return `not measured: ${zkJar} is missing (apt-get install -y zookeeper)`
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).status !== 0) return 'not measured: no java on PATH'
  if (!existsSync(join('/tmp/anchors/build/zkload', 'ZkLoad.class')) && spawnSync('javac', ['-version'], { stdio: 'ignore' }).status !== 0) {
    return 'not measured: no javac to build the anchors ZkLoad'
  }
  if (!existsSync(zkCluster) || !existsSync(runZk)) return `not measured: the anchors' ZooKeeper scripts are not in ${anchorsDir}`
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

/** Synchronous on purpose: nothing else may run (or exit the process) while the anchors' stop script works. */
function stopZk(): void {
  if (!zkStarted) return
  const stop = spawnSync(zkCluster, ['stop'], { encoding: 'utf8', timeout: 30_000 })
  zkStarted = false
  if (stop.status !== 0) process.stderr.write(`bench: zk-cluster.sh stop: exit ${stop.status} ${stop.stderr}\n`)
}

async function runZkLoad(args: readonly string[], timeoutMs: number): Promise<Captured> {
  return capture(runZk, ['--servers', zkServers, ...args], { timeoutMs })
}

/** Starts ZooKeeper standalone, preloads and warms up; its pid, or null when it is not measured. */
async function prepareZk(): Promise<string | null> {
  zkSkipped = zkUnavailable()
  if (zkSkipped !== null) {
    log(`ZooKeeper ${zkSkipped}`)
    return null
  }
  // Never take over a ZooKeeper someone else started from the anchors (start1 would kill it).
  if (existsSync(zkPidFile)) {
    const pid = readFileSync(zkPidFile, 'utf8').trim()
    if (pid !== '' && existsSync(`/proc/${pid}`)) {
      zkSkipped = `not measured: an anchors ZooKeeper is already running (pid ${pid} in ${zkPidFile}); stop it with ${zkCluster} stop`
      log(`ZooKeeper ${zkSkipped}`)
      return null
    }
  }
  if (await portOpen(22181)) {
    zkSkipped = 'not measured: something already listens on 127.0.0.1:22181'
    log(`ZooKeeper ${zkSkipped}`)
    return null
  }
  log('ZooKeeper: starting standalone (anchors zk-cluster.sh start1)')
  zkStarted = true
  const start = await capture(zkCluster, ['start1'], { timeoutMs: 90_000 })
  if (start.code !== 0) throw new Error(`zk-cluster.sh start1 failed:\n${start.stdout}${start.stderr}`)
  const pid = readFileSync(zkPidFile, 'utf8').trim()
  log(`ZooKeeper: pid ${pid} on ${zkServers}; preloading`)
  const preload = await runZkLoad(['--sessions', '8', '--preload-only'], 120_000)
  if (preload.code !== 0) throw new Error(`ZooKeeper preload failed:\n${preload.stdout}${preload.stderr}`)

  const warmSessions = Math.max(64, ...connsList)
  if (warmup > 0) {
    for (const w of ['write', 'read']) {
      const r = await runZkLoad(['--sessions', String(warmSessions), '--outstanding', '1', '--workload', w, '--duration', String(warmup), '--warmup', '0'], (warmup + 150) * 1000)
      log(`ZooKeeper: warm-up ${w} ${warmSessions}x1 ${warmup}s (not recorded): ${parseResult(r.stdout)?.['ops_per_s'] ?? 'failed'} ops/s`)
    }
  }
  return pid
}

async function zkCell(pid: string, workload: string, conns: number): Promise<void> {
  const r = await runZkLoad(
    ['--sessions', String(conns), '--outstanding', '1', '--workload', workload, '--duration', String(duration), '--warmup', '2', '--server-pids', pid],
    (duration + 150) * 1000,
  )
  const fields = parseResult(r.stdout)
  const rawLine = r.stdout.split('\n').find((l) => l.startsWith('RESULT ')) ?? 'RESULT failed=1'
  record(`system=zookeeper nodes=1 variant=${workload} conf=${conns}x1`, rawLine)
  const failure = fields === null || r.code !== 0 ? `run-zk.sh ${workload} ${conns}x1: ${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${(r.stderr || r.stdout).trim().slice(-600)}` : undefined
  const row = zkRow(workload, conns, fields, failure)
  rows.push(row)
  log(`ZooKeeper ${workload} ${conns}x1: ${describe(row)}`)
  await sleep(1000)
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

interface Ratio {
  readonly workload: string
  readonly conns: number
  readonly rpsRatio: number | null
  readonly p99Ratio: number | null
  /** Only write and read at 64 have a target: req/s at least ZooKeeper's, p99 no worse. */
  readonly target: 'met' | 'missed' | null
}

function ratios(): Ratio[] {
  const out: Ratio[] = []
  for (const conns of connsList) {
    for (const workload of workloads) {
      const herd = rows.find((r) => r.system === 'herd' && r.workload === workload && r.conns === conns)
      const zk = rows.find((r) => r.system === 'zookeeper' && r.workload === workload && r.conns === conns)
      if (herd === undefined || zk === undefined) continue
      const rpsRatio = herd.rps !== null && zk.rps ? herd.rps / zk.rps : null
      const p99Ratio = herd.p99Ms !== null && zk.p99Ms ? herd.p99Ms / zk.p99Ms : null
      const hasTarget = conns === 64 && (workload === 'write' || workload === 'read')
      const target = !hasTarget || rpsRatio === null || p99Ratio === null ? null : rpsRatio >= 1 && p99Ratio <= 1 ? 'met' : 'missed'
      out.push({ workload, conns, rpsRatio, p99Ratio, target })
    }
  }
  return out
}

function report(meta: Record<string, string>): string {
  const lines: string[] = []
  lines.push(`## ${zkSkipped === null ? 'herd vs ZooKeeper standalone' : 'herd'} — ${meta['date']}`)
  lines.push('')
  lines.push(
    `${meta['duration']} s per measurement, closed loop over loopback, one request in flight per connection (ZooKeeper: C sessions x 1 outstanding). ` +
      `Server and load generator share this ${meta['cpus']}-CPU machine; load average at start ${meta['loadStart']}, at end ${meta['loadEnd']}.`,
  )
  lines.push(`herd ${meta['herd']}; wrk driver ${meta['anchors']}/http-load/workload.lua with test/bench/herd.lua; ZooKeeper: ${zkSkipped ?? 'standalone, anchors zk-cluster.sh start1 + zk-load/run-zk.sh'}.`)
  lines.push('')
  lines.push('| system | workload | conns | req/s | p50 ms | p99 ms | server CPU % | errors |')
  lines.push('|---|---|---|---|---|---|---|---|')
  for (const conns of connsList) {
    for (const workload of workloads) {
      for (const system of ['herd', 'zookeeper'] as const) {
        const row = rows.find((r) => r.system === system && r.workload === workload && r.conns === conns)
        if (row === undefined) continue
        if (row.rps === null) {
          lines.push(`| ${system} | ${workload} | ${row.label} | failed | – | – | – | – |`)
          continue
        }
        lines.push(`| ${system} | ${workload} | ${row.label} | ${fmtInt(row.rps)} | ${fmtMs(row.p50Ms)} | ${fmtMs(row.p99Ms)} | ${row.cpuServer ?? '–'} | ${row.errors ?? '–'} |`)
      }
    }
  }
  const failures = rows.filter((r) => r.failure !== undefined)
  if (failures.length > 0) {
    lines.push('')
    for (const row of failures) lines.push(`* ${row.system} ${row.workload} ${row.label}: ${row.failure}`)
  }

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
  log(`bench: ${duration}s per run, conns ${connsList.join(',')}, workloads ${workloads.join(',')}; raw lines to ${rawFile}`)

  // Both servers stay up through the matrix and each cell is measured for
  // herd and then for ZooKeeper, back to back: on a shared machine whose speed
  // drifts by tens of percent over minutes, only neighbouring measurements
  // compare fairly. Each server idles while the other is measured.
  const herd = await prepareHerd()
  const zkPid = await prepareZk()
  for (const conns of connsList) {
    for (const workload of workloads) {
      if (interrupted) return false
      await herdCell(herd, workload, conns)
      if (zkPid !== null) await zkCell(zkPid, workload, conns)
    }
  }
  if (zkPid !== null) {
    log('ZooKeeper: stopping (zk-cluster.sh stop)')
    stopZk()
  }
  if (!opts['no-watch']) await herdWatchRuns(herd)
  await stopHerdNode()
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
          meta: { ...meta, conns: connsList, workloads, warmup, watchStreams, watchConns, rawFile, zookeeper: zkSkipped ?? 'measured' },
          rows,
          watch: watchRuns,
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
