// herd's fault-injection suite (RELIABILITY.md, "Test plan"): real replica
// processes on loopback, every peer link through a fault proxy, clients
// recording a history while a nemesis kills, pauses and partitions replicas,
// then checkers: linearizable (WGL per znode), no acknowledged write lost,
// at most one leader per term, replicas converged.
//
//   npm run test:faults                       the CI tier
//   npm run test:faults -- --scenario kill-leader --seed 7 --time 30
//   npm run test:faults -- --all --time 600   every scenario, longer
//
// Every run prints its seed; the same seed replays the same nemesis schedule
// and client choices (process scheduling still varies). A failing scenario
// keeps its history and node logs in the report directory; a run where every
// scenario passed removes the directory, unless --out named it.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Prng } from '../support/raft-sim-prng.ts'
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts'
import { TestCluster, missingOn, writer, type Acked } from '../support/cluster-process.ts'
import { checkLinearizability, formatReport } from './lib/linearizability.ts'
import { History, perform, registerClient, type RegisterWorkload } from './lib/register-client.ts'
import { Observer } from './lib/observer.ts'
import { SessionClient } from './lib/session-client.ts'
import { checkSequential, sequentialClient, type SequentialCreate } from './lib/sequential-client.ts'
import { ChangeLog, changeWriter, checkWatches, Watcher } from './lib/watch-client.ts'
import { readStat, sleep } from './lib/znode-reads.ts'
import { checkMulti, multiClient, multiRoot, type MultiRecord } from './lib/multi-client.ts'
import { checkFencedWrites, LockClient, lockRoot } from './lib/lock-client.ts'
import { scenarios, type Scenario } from './scenarios.ts'

const ciTier = [
  'baseline',
  'kill-leader',
  'kill-all',
  'isolate-leader',
  'minority-partition',
  'pause-leader',
  'flaky-links',
  'power-loss',
  'power-loss-unsynced',
  'crash-failpoints',
  'session-pause',
  'lagging-follower',
  'clock-skew',
  'client-partition',
]
/**
 * Seeds that once made a scenario fail, each for a bug since fixed: without
 * --seed, the scenario runs at its regression seed. (A seed replays the
 * nemesis schedule and the clients' choices; process scheduling varies, so
 * each bug also has a deterministic unit test.)
 *   crash-failpoints 322: a follower snapshotted past its own durable log
 *   (test/unit/replication/cluster.test.ts, "a replica whose disk lags").
 *   clock-skew 400: an Idempotency-Key's expiry came from the clock of the
 *   replica that took the request, so behind a leader whose clock ran ahead
 *   every key was expired on arrival and a retried delete ran twice
 *   (test/unit/tree/idempotency.test.ts, "a window counts from the entry");
 *   later, a leader an hour ahead made entry time jump and end every window
 *   (test/unit/replication/replica.test.ts, "a clock that jumps an hour").
 *   crash-failpoints 322 again: a watch event found across a snapshot jump
 *   named the newest change as if it were the first (now marked resync).
 *   pause-leader 1424391659: a deposed leader, resumed, answered heartbeats
 *   (test/unit/replication/cluster.test.ts, "a leader cut off").
 */
const regressionSeeds: Readonly<Record<string, number>> = { 'crash-failpoints': 322, 'clock-skew': 400, 'pause-leader': 1424391659 }

/** The znodes W4's watchers follow. */
const watchedPaths = ['/w4/k0', '/w4/k1']
/** Session clients (W5) ask for this timeout: the smallest the default tick allows. */
const sessionTimeoutMs = 4000

interface Verdict {
  readonly scenario: string
  readonly seed: number
  readonly passed: boolean
  readonly mustFail: boolean
  readonly operations: number
  readonly okOperations: number
  readonly unknownOperations: number
  readonly ackedCreates: number
  readonly sequentialCreates: number
  readonly multisOk: number
  readonly locks: string
  readonly watchEvents: number
  readonly lost: number
  readonly linearizable: string
  readonly leaderConflicts: number
  readonly newLeaderMs: number[]
  readonly failures: string[]
  readonly seconds: number
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', multiple: true },
      all: { type: 'boolean', default: false },
      seed: { type: 'string' },
      time: { type: 'string' },
      out: { type: 'string' },
    },
  })
  const names = values.all ? Object.keys(scenarios) : (values.scenario ?? ciTier)
  for (const name of names) if (!(name in scenarios)) throw new Error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`)
  const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31)
  const seconds = values.time !== undefined ? Number(values.time) / names.length : 20
  const out = values.out ?? join(tmpdir(), `herd-faults-${Date.now()}`)
  mkdirSync(out, { recursive: true })
  const isOutGiven = values.out !== undefined
  console.log(`herd fault suite: seed ${seed}, ${names.length} scenarios, ${seconds.toFixed(0)} s of faults each, report in ${out}${isOutGiven ? '' : ' (kept only if a scenario fails)'}`)

  const verdicts: Verdict[] = []
  for (const [i, name] of names.entries()) {
    const scenarioSeed = values.seed === undefined ? (regressionSeeds[name] ?? seed + i) : seed + i
    const verdict = await runScenario(scenarios[name] as Scenario, name, scenarioSeed, seconds, out)
    verdicts.push(verdict)
    console.log(`${verdict.passed ? 'PASS' : 'FAIL'} ${name} (seed ${verdict.seed}): ${summary(verdict)}`)
    if (verdict.mustFail) console.log(`     negative control: ${verdict.passed ? 'the checkers caught the violation it causes' : 'the checkers did NOT catch the violation it causes'}`)
    // A negative control's violations are expected: their first lines are enough.
    for (const failure of verdict.failures) console.log(verdict.mustFail ? `     (expected) ${failure.split('\n')[0]}` : `     ${failure.split('\n').slice(0, 12).join('\n     ')}`)
  }
  writeFileSync(join(out, 'report.json'), JSON.stringify(verdicts, null, 2))
  console.log('')
  console.log(table(verdicts))
  const failed = verdicts.filter((verdict) => !verdict.passed)
  if (failed.length > 0) {
    console.log(`\n${failed.length} scenario(s) failed; replay with --scenario <name> --seed <seed>; histories and logs in ${out}`)
    process.exitCode = 1
  } else if (!isOutGiven) {
    // All passed: nothing in the default report directory is worth keeping (the table above is the report).
    rmSync(out, { recursive: true, force: true })
  }
}

/** A negative control passes when the checkers caught what it broke (and only that: a run that broke off proves nothing). */
function isPassed(scenario: Scenario, failures: readonly string[]): boolean {
  if (scenario.mustFail !== true) return failures.length === 0
  return failures.some((failure) => failure.includes('lacks') || failure.startsWith('history is')) && !failures.some((failure) => failure.startsWith('the run broke off'))
}

async function runScenario(scenario: Scenario, name: string, seed: number, seconds: number, out: string): Promise<Verdict> {
  const startedMs = performance.now()
  const random = new Prng(seed)
  const size = scenario.size ?? 3
  const cluster = await startCluster({ size, proxied: true, seed, args: scenario.args ?? [], env: scenario.env ?? {}, replicaEnv: scenario.replicaEnv ?? {} })
  const failures: string[] = []
  const history = new History()
  const acked: Acked[] = []
  const sequential: SequentialCreate[] = []
  const changes = new ChangeLog()
  const multis: MultiRecord[] = []
  let lockFigures = ''
  let clientProxy: FaultProxy | null = null
  let watchEvents = 0
  const observer = new Observer(cluster)
  let newLeaderMs: number[] = []
  let linearizable = 'not checked'
  let isDone = false
  try {
    await cluster.leader()
    const first = cluster.url(1)
    for (const path of ['/w1', '/w2', multiRoot, `${multiRoot}/a`, `${multiRoot}/b`, `${multiRoot}/n`, '/w4', '/w5', lockRoot, `${lockRoot}/lock`, `${lockRoot}/resource`, '/w7', ...watchedPaths]) await setUp(first, path)
    await cluster.converged()
    observer.start()

    const live = new Set(cluster.ids)
    const targets = (): string[] => [...live].map((id) => cluster.url(id))
    const workload: RegisterWorkload = { root: '/w1', keys: 3, opsPerKeySet: 300, requestTimeoutMs: 4000, resolveMs: 15_000 }
    // A proxy per client (F12): one session client and one watcher reach replica 1 only through it, so a nemesis can cut them off.
    clientProxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(first).port) }, { seed })
    const proxied = `http://127.0.0.1:${clientProxy.port}`
    const proxiedTargets = (): string[] => (live.has(1) ? [proxied] : [])
    const watchers: Watcher[] = []
    for (const path of watchedPaths) {
      const since = (await readStat(first, path))?.mzxid
      if (since === undefined) throw new Error(`cannot read ${path}`)
      for (let w = 0; w < 2; w++) watchers.push(new Watcher(path, since, targets))
      watchers.push(new Watcher(path, since, proxiedTargets))
    }
    const sessionWorkload = { root: '/w5', timeoutMs: sessionTimeoutMs, requestTimeoutMs: 3000, isEarlyExpiryAllowed: scenario.allowsEarlyExpiry === true }
    const proxiedSession = new SessionClient('sp', sessionWorkload, proxiedTargets)
    const sessions = [...Array.from({ length: 3 }, (_, c) => new SessionClient(`s${c}`, sessionWorkload, targets)), proxiedSession]
    const locks = Array.from({ length: 3 }, (_, c) => new LockClient(`l${c}`, sessionTimeoutMs, targets))
    const clients = [
      ...Array.from({ length: 5 }, (_, c) => registerClient(history, workload, random.fork(), targets, () => isDone)),
      ...Array.from({ length: 2 }, (_, c) => writer(c, '/w2', targets, acked, () => isDone, 4000)),
      ...sessions.map((session) => session.run(() => isDone)),
      ...Array.from({ length: 2 }, (_, c) => sequentialClient(c, '/w7', targets, sequential, () => isDone)),
      changeWriter(watchedPaths, targets, changes, () => isDone),
      ...Array.from({ length: 2 }, (_, c) => multiClient(c, targets, multis, () => isDone)),
      ...locks.map((lock) => lock.run(() => isDone)),
      ...watchers.map((watcher) => watcher.run(() => isDone)),
    ]

    const nemesis = await scenario.run({ cluster, random: random.fork(), observer, live, seconds, sessions, history, locks, sessionTimeoutMs, clientProxy, proxiedSession })
    newLeaderMs = nemesis.newLeaderMs
    failures.push(...nemesis.failures)

    // Heal everything, bring every replica back, let the clients see a healthy cluster for a moment.
    cluster.links?.heal()
    clientProxy.setMode({ kind: 'pass' })
    for (const id of cluster.ids) {
      if (!live.has(id)) {
        await cluster.startReplica(id)
        live.add(id)
      }
    }
    await cluster.leader(cluster.ids, 15_000)
    await sleep(2000)
    isDone = true
    await Promise.all(clients)

    const statuses = await cluster.converged(cluster.ids, 20_000)
    if (new Set(statuses.map((status) => status.digest)).size !== 1) failures.push(`digests differ at zxid ${statuses[0]?.appliedZxid}: ${statuses.map((s) => s.digest).join(' ')}`)

    // Final linearizable reads of every key, so a lost write shows as a read that no order explains.
    await finalReads(history, cluster.url(cluster.ids[0] as number))
    for (const session of sessions) {
      await session.finalCheck(cluster.url(cluster.ids[0] as number))
      failures.push(...session.failures)
    }
    if (sessions.every((session) => session.okHeartbeats === 0)) failures.push('no heartbeat was acknowledged: the session checks tested nothing')
    const ackedSequential = sequential.map((create) => ({ path: create.path, data: '' }))
    for (const id of cluster.ids) {
      const missing = await missingOn(cluster.url(id), acked)
      if (missing.length > 0) failures.push(`replica ${id} lacks ${missing.length} acknowledged creates, e.g. ${missing.slice(0, 3).join(', ')}`)
      const missingSequential = await missingOn(cluster.url(id), ackedSequential)
      if (missingSequential.length > 0) failures.push(`replica ${id} lacks ${missingSequential.length} acknowledged sequential creates, e.g. ${missingSequential.slice(0, 3).join(', ')}`)
    }
    failures.push(...checkSequential(sequential))
    await Promise.all(watchers.map((watcher, i) => watcher.final(cluster.url(cluster.ids[i % cluster.ids.length] as number), changes)))
    failures.push(...checkWatches(watchers, changes))
    failures.push(...(await checkMulti(cluster.url(cluster.ids[0] as number), multis)))
    const fenced = locks.flatMap((lock) => lock.writes)
    failures.push(...checkFencedWrites(fenced))
    lockFigures = `${locks.reduce((sum, lock) => sum + lock.tenures, 0)} tenures, ${fenced.length} fenced writes, ${locks.reduce((sum, lock) => sum + lock.refused, 0)} refused`
    watchEvents = watchers.reduce((sum, watcher) => sum + watcher.events.length, 0)
    const elections = await observer.stop()
    for (const conflict of elections.conflicts) failures.push(`term ${conflict.term} had leaders ${conflict.leaders.join(' and ')}`)

    // Bounded so that a pathological component ends as 'unknown' (a failure), not out of memory.
    const result = checkLinearizability(history.operations, { searchMsMax: 20_000, memoEntriesMax: 200_000 })
    linearizable = result.verdict
    if (result.verdict !== 'ok') failures.push(`history is ${result.verdict}:\n${formatReport(result, history.operations)}`)
    if (history.operations.filter((operation) => operation.outcome === 'ok').length === 0) failures.push('no operation succeeded')
    if (acked.length === 0) failures.push('no create was acknowledged')
  } catch (error) {
    isDone = true
    failures.push(`the run broke off: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  } finally {
    await observer.stop().catch(() => undefined)
    if (!isPassed(scenario, failures)) {
      const dir = join(out, `${name}-${seed}`)
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'history.jsonl'), history.operations.map((operation) => JSON.stringify(operation)).join('\n'))
      for (const id of cluster.nodes.keys()) writeFileSync(join(dir, `replica-${id}.log`), cluster.output(id))
    }
    await cluster.stop()
    await clientProxy?.close()
  }
  const operations = history.operations
  return {
    scenario: name,
    seed,
    mustFail: scenario.mustFail === true,
    passed: isPassed(scenario, failures),
    operations: operations.length,
    okOperations: operations.filter((operation) => operation.outcome === 'ok').length,
    unknownOperations: operations.filter((operation) => operation.outcome === 'unknown').length,
    ackedCreates: acked.length,
    sequentialCreates: sequential.length,
    multisOk: multis.filter((record) => record.outcome === 'ok').length,
    locks: lockFigures,
    watchEvents,
    lost: failures.filter((failure) => failure.includes('lacks')).length,
    linearizable,
    leaderConflicts: failures.filter((failure) => failure.startsWith('term ')).length,
    newLeaderMs,
    failures,
    seconds: Math.round((performance.now() - startedMs) / 1000),
  }
}

/** Starts the scenario's cluster, again on other ports if a port was taken meanwhile (three tries). */
async function startCluster(options: Parameters<typeof TestCluster.start>[0]): Promise<TestCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestCluster.start(options)
    } catch (error) {
      if (attempt >= 3 || !String(error).includes('EADDRINUSE')) throw error
    }
  }
}

/** Creates `path` for the workloads, asking again while the new cluster settles (a leader change, a write timing out). */
async function setUp(url: string, path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(`${url}/znodes${path}`, { method: 'PUT', body: 'initial', headers: { 'idempotency-key': `setup${path}` }, signal: AbortSignal.timeout(5000) })
      await response.arrayBuffer()
      if (response.status === 201 || response.status === 409) return
      if (attempt >= 20) throw new Error(`cannot create ${path}: ${response.status}`)
    } catch (error) {
      if (attempt >= 20) throw error
    }
    await sleep(250)
  }
}

/** One linearizable read of every key the clients touched, by a client of its own, recorded like theirs. */
async function finalReads(history: History, url: string): Promise<void> {
  const paths = [...new Set(history.operations.map((operation) => operation.path))]
  const client = history.newClient()
  for (const path of paths) {
    const invokeMs = performance.now()
    const answer = await perform(url, path, { kind: 'read' }, '', 10_000)
    const completeMs = performance.now()
    if (answer.outcome !== 'ok') throw new Error(`the final read of ${path} did not answer (${answer.outcome}${answer.code !== undefined ? ` ${answer.code}` : ''})`)
    history.record({ client, path, input: { kind: 'read' }, invokeMs, completeMs, ...answer })
  }
}

function summary(verdict: Verdict): string {
  const leader = verdict.newLeaderMs.length > 0 ? `, new leader in ${verdict.newLeaderMs.map((ms) => ms.toFixed(0)).join('/')} ms` : ''
  return `${verdict.operations} ops (${verdict.okOperations} ok, ${verdict.unknownOperations} unknown), ${verdict.ackedCreates} acked creates, ${verdict.sequentialCreates} sequential, ${verdict.multisOk} multis, lock: ${verdict.locks}, ${verdict.watchEvents} watch events, linearizable: ${verdict.linearizable}${leader}, ${verdict.seconds} s`
}

function table(verdicts: readonly Verdict[]): string {
  const rows = [
    ['scenario', 'seed', 'verdict', 'ops', 'unknown', 'acked creates', 'sequential', 'multis ok', 'watch events', 'lost', 'linearizable', 'new leader (ms)'],
    ...verdicts.map((v) => [
      v.scenario,
      String(v.seed),
      v.passed ? (v.mustFail ? 'pass (caught)' : 'pass') : 'FAIL',
      String(v.operations),
      String(v.unknownOperations),
      String(v.ackedCreates),
      String(v.sequentialCreates),
      String(v.multisOk),
      String(v.watchEvents),
      String(v.lost),
      v.linearizable,
      v.newLeaderMs.map((ms) => ms.toFixed(0)).join(' ') || '-',
    ]),
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`).join('\n')
}

await main()
