// The nemesis schedules of the fault suite, one per row of RELIABILITY.md's
// matrix that runs on real processes today. Each runs for about `seconds`
// while the clients work, keeps `live` to the replicas that are running
// (clients only talk to those), and reports how long each election it caused
// took. The runner heals every link and restarts every replica afterwards.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RocksLevel } from '@nxtedition/rocksdb'
import { powerCutFile } from '../../src/storage/index.ts'
import { decodeLogStart, decodeSyncedThrough, logStartKey, syncedThroughKey } from '../../src/storage/rocks-codec.ts'
import { segmentDirName } from '../../src/storage/rocks-store.ts'
import { liveRecords, overwrite } from '../support/segment-records.ts'
import type { Prng } from '../support/raft-sim-prng.ts'
import type { TestCluster } from '../support/cluster-process.ts'
import type { Observer } from './lib/observer.ts'
import { exists, type SessionClient } from './lib/session-client.ts'
import { sleep } from './lib/znode-reads.ts'
import type { LockClient } from './lib/lock-client.ts'
import type { History } from './lib/register-client.ts'
import type { FaultProxy } from '../support/fault-proxy.ts'

export interface NemesisContext {
  readonly cluster: TestCluster
  readonly random: Prng
  readonly observer: Observer
  readonly live: Set<number>
  readonly seconds: number
  readonly sessions: readonly SessionClient[]
  /** The W1 register history so far (for checks of what was acknowledged when). */
  readonly history: History
  readonly locks: readonly LockClient[]
  /** The session timeout the session clients ask for. */
  readonly sessionTimeoutMs: number
  /** The proxy between replica 1 and the clients that reach it only through it (a session client and watchers). */
  readonly clientProxy: FaultProxy
  /** The session client behind clientProxy. */
  readonly proxiedSession: SessionClient
}

export interface NemesisResult {
  /** Time from each fault that removed the leader to a new leader a majority follows. */
  readonly newLeaderMs: number[]
  readonly failures: string[]
}

export interface Scenario {
  readonly size?: number
  readonly args?: readonly string[]
  /** Environment of every replica (failpoints). */
  readonly env?: Readonly<Record<string, string>>
  /** Environment of single replicas, over `env` (a clock fault on one node). */
  readonly replicaEnv?: Readonly<Record<number, Readonly<Record<string, string>>>>
  /** Bad clocks may expire a session early (RELIABILITY.md, F14): not a failure here, only never unsafe. */
  readonly allowsEarlyExpiry?: boolean
  /** A negative control: the checkers must find a violation, or the suite could not see one. */
  readonly mustFail?: boolean
  run(context: NemesisContext): Promise<NemesisResult>
}

/** RELIABILITY.md allows 3 s for a new leader on the loaded 2-core CI box (2 s elsewhere). */
const newLeaderBoundMs = 3000


async function leaderAndTerm(cluster: TestCluster): Promise<{ readonly id: number; readonly term: number }> {
  const id = await cluster.leader(cluster.ids, 15_000)
  const status = await cluster.status(id)
  if (status === null) throw new Error(`the leader ${id} stopped answering`)
  return { id, term: status.term }
}

/** Repeats `fault` (which answers how to undo it) with pauses, until `seconds` are over. */
async function repeatedly(context: NemesisContext, fault: (result: NemesisResult) => Promise<() => Promise<void>>): Promise<NemesisResult> {
  const result: NemesisResult = { newLeaderMs: [], failures: [] }
  const endMs = performance.now() + context.seconds * 1000
  while (performance.now() < endMs) {
    await sleep(context.random.between(1000, 3000))
    const undo = await fault(result)
    await sleep(context.random.between(1000, 3000))
    await undo()
  }
  return result
}

/** Measures the election after the leader (in `term`) was taken away. */
async function timeElection(context: NemesisContext, term: number, result: NemesisResult, what: string): Promise<void> {
  try {
    const elected = await context.observer.newLeader(term, 10_000)
    result.newLeaderMs.push(elected.ms)
    if (elected.ms > newLeaderBoundMs) result.failures.push(`${what}: a new leader took ${elected.ms.toFixed(0)} ms (bound ${newLeaderBoundMs})`)
  } catch (error) {
    result.failures.push(`${what}: ${(error as Error).message}`)
  }
}

/** SIGKILLs replicas `ids`, cuts their power (storage/power-loss.ts), waits, starts them again. */
async function powerCut(context: NemesisContext, ids: readonly number[]): Promise<void> {
  const { cluster, live } = context
  for (const id of ids) live.delete(id)
  await Promise.all(ids.map((id) => cluster.nodes.get(id)?.kill()))
  for (const id of ids) writeFileSync(join(cluster.dataDir(id), powerCutFile), '')
  await sleep(context.random.between(200, 1500))
  for (const id of ids) {
    await cluster.startReplica(id)
    live.add(id)
  }
}

/** Crash points for F17, rare enough that a quorum is up most of the time (a few crashes a minute across 3 replicas under the suite's load). */
const crashFailpoints = 'before-sync=crash:0.0002,after-sync=crash:0.0002,before-apply=crash:0.0002,after-snapshot-write=crash:0.2,expiry-apply=crash:0.5'

/**
 * Flips one byte (in the header or the data) of one log entry a stopped
 * replica holds in its segment files and vouches for as synced (bit rot, or
 * a write the disk garbled without saying); answers how to put it back. An
 * entry past the synced-through mark may be a torn tail, which open ends the
 * log at by design, so the damage is done below it.
 */
async function corruptLogEntry(dir: string, random: Prng): Promise<{ readonly index: number; restore(): void }> {
  const db = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  let syncedThrough = 0
  let logStart = 0
  try {
    const [syncedValue, logStartValue] = db._getManySync([syncedThroughKey, logStartKey])
    syncedThrough = syncedValue ? decodeSyncedThrough(syncedValue) : 0
    logStart = logStartValue ? decodeLogStart(logStartValue).index : 0
  } finally {
    await db.close()
  }
  const candidates = liveRecords(join(dir, segmentDirName)).filter((record) => record.index > logStart && record.index <= syncedThrough)
  if (candidates.length === 0) throw new Error(`no synced log entries in ${dir} to corrupt (synced through ${syncedThrough}, log start ${logStart})`)
  const record = random.pick(candidates)
  const at = record.offset + random.int(record.bytes)
  const original = readFileSync(record.file).subarray(at, at + 1)
  overwrite(record.file, at, Uint8Array.from([(original[0] as number) ^ (1 + random.int(255))]))
  return { index: record.index, restore: () => overwrite(record.file, at, original) }
}

/** Waits until replica `id` has applied what `leader` had applied, or the time is up. */
async function caughtUp(cluster: TestCluster, id: number, leader: number, timeoutMs: number): Promise<boolean> {
  const target = (await cluster.status(leader, 3000, true))?.appliedZxid ?? Number.POSITIVE_INFINITY
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    const status = await cluster.status(id, 3000, true)
    if (status !== null && status.appliedZxid >= target) return true
    await sleep(100)
  }
  return false
}

/**
 * Runs the replicas with `failpoints` (given by a rolling restart once the
 * clients run) for the scenario's time, restarting every replica that dies
 * (each must die the way the failpoints make it: `expected`), then takes the
 * failpoints away by another rolling restart before the checks.
 */
async function underFailpoints(context: NemesisContext, failpoints: string, expected: 'SIGKILL' | 'exit 1'): Promise<NemesisResult> {
  const { cluster, live } = context
  const result: NemesisResult = { newLeaderMs: [], failures: [] }
  let deaths = 0
  const restartDead = async (): Promise<void> => {
    for (const id of cluster.ids) {
      const child = cluster.nodes.get(id)?.child
      if (child === undefined || (child.exitCode === null && child.signalCode === null)) continue
      const how = child.signalCode ?? `exit ${child.exitCode}`
      if (how !== expected) result.failures.push(`replica ${id} ended by ${how}, not by its failpoints (${expected})`)
      deaths++
      live.delete(id)
      await sleep(context.random.between(100, 800))
      await cluster.startReplica(id)
      live.add(id)
    }
  }
  const rollingRestart = async (): Promise<void> => {
    for (const id of cluster.ids) {
      await restartDead()
      live.delete(id)
      await cluster.nodes.get(id)?.kill()
      await cluster.startReplica(id)
      live.add(id)
      await cluster.leader(cluster.ids, 15_000)
    }
  }
  cluster.setEnv({ HERD_FAILPOINTS: failpoints })
  await rollingRestart()
  const endMs = performance.now() + context.seconds * 1000
  while (performance.now() < endMs) {
    await restartDead()
    await sleep(100)
  }
  cluster.setEnv({})
  await rollingRestart()
  if (deaths === 0) result.failures.push(`no failpoint (${failpoints}) stopped a replica: the scenario tested nothing`)
  return result
}

/** The acknowledged writes of the W1 history that were both invoked and answered inside [fromMs, toMs]. */
function ackedWithin(context: NemesisContext, fromMs: number, toMs: number): string[] {
  return context.history.operations
    .filter((operation) => operation.outcome === 'ok' && operation.input.kind !== 'read' && operation.invokeMs >= fromMs && (operation.completeMs ?? Infinity) <= toMs)
    .map((operation) => `#${operation.id} ${operation.input.kind} ${operation.path}`)
}

export const scenarios: Record<string, Scenario> = {
  /** F0: no faults. */
  baseline: {
    async run(context) {
      await sleep(context.seconds * 1000)
      return { newLeaderMs: [], failures: [] }
    },
  },

  /** F1: SIGKILL the leader, restart it after a while, again and again. */
  'kill-leader': {
    run: (context) =>
      repeatedly(context, async (result) => {
        const { cluster, live } = context
        const leader = await leaderAndTerm(cluster)
        live.delete(leader.id)
        await cluster.nodes.get(leader.id)?.kill()
        await timeElection(context, leader.term, result, `after killing leader ${leader.id}`)
        return async () => {
          await cluster.startReplica(leader.id)
          live.add(leader.id)
        }
      }),
  },

  /** F4: SIGKILL every replica at once, then start them all again. */
  'kill-all': {
    async run(context) {
      const { cluster, live } = context
      const result: NemesisResult = { newLeaderMs: [], failures: [] }
      const endMs = performance.now() + context.seconds * 1000
      while (performance.now() < endMs) {
        await sleep(context.random.between(2000, 4000))
        const before = await leaderAndTerm(cluster)
        live.clear()
        await Promise.all(cluster.ids.map((id) => cluster.nodes.get(id)?.kill()))
        await sleep(context.random.between(200, 1000))
        await Promise.all(cluster.ids.map((id) => cluster.startReplica(id)))
        for (const id of cluster.ids) live.add(id)
        await timeElection(context, before.term, result, 'after restarting every replica')
      }
      return result
    },
  },

  /** F7: cut every link of the leader, both ways; heal later. */
  'isolate-leader': {
    run: (context) =>
      repeatedly(context, async (result) => {
        const { cluster } = context
        const leader = await leaderAndTerm(cluster)
        cluster.links?.isolate(leader.id)
        await timeElection(context, leader.term, result, `after isolating leader ${leader.id}`)
        return async () => cluster.links?.heal()
      }),
  },

  /** F8: a random minority (one replica of three) partitioned from the majority. */
  'minority-partition': {
    run: (context) =>
      repeatedly(context, async (result) => {
        const { cluster, random } = context
        const leader = await leaderAndTerm(cluster)
        const cut = random.pick(cluster.ids)
        cluster.links?.partition([[cut], cluster.ids.filter((id) => id !== cut)])
        if (cut === leader.id) await timeElection(context, leader.term, result, `after partitioning leader ${cut} away`)
        return async () => cluster.links?.heal()
      }),
  },

  /** F5: SIGSTOP the leader for a few election timeouts, then SIGCONT: the zombie must not serve. */
  'pause-leader': {
    run: (context) =>
      repeatedly(context, async (result) => {
        const { cluster } = context
        const leader = await leaderAndTerm(cluster)
        const child = cluster.nodes.get(leader.id)?.child
        child?.kill('SIGSTOP')
        await timeElection(context, leader.term, result, `after pausing leader ${leader.id}`)
        await sleep(context.random.between(0, 1000))
        return async () => {
          child?.kill('SIGCONT')
        }
      }),
  },

  /** F11: slow and flaky peer links (delay with jitter, dropped connections, one garbling link). */
  'flaky-links': {
    async run(context) {
      const { cluster, random } = context
      const links = cluster.links
      if (links === null) throw new Error('flaky-links needs proxied peer links')
      const pairs = cluster.ids.flatMap((from) => cluster.ids.filter((to) => to !== from).map((to) => [from, to] as const))
      const garbled = random.pick(pairs)
      for (const [from, to] of pairs) {
        const mode =
          from === garbled[0] && to === garbled[1]
            ? ({ kind: 'garble', probability: 0.02 } as const)
            : random.chance(0.5)
              ? ({ kind: 'delay', ms: 25, jitterMs: 50 } as const)
              : ({ kind: 'drop', probability: random.between(1, 5) / 100 } as const)
        links.link(from, to).setMode(mode)
      }
      await sleep(context.seconds * 1000)
      links.heal()
      return { newLeaderMs: [], failures: [] }
    },
  },

  /**
   * F17: every replica crashes itself (SIGKILL) at random passes of its
   * failpoints; the nemesis restarts what died. The replicas get their
   * failpoints by a rolling restart once the clients run, and lose them the
   * same way before the checks.
   */
  'crash-failpoints': {
    args: ['--snapshot-entries-interval', '200'],
    run: (context) => underFailpoints(context, crashFailpoints, 'SIGKILL'),
  },

  /** F18: power cuts (every write no completed sync covered is lost) on one replica, on the leader, on all at once. */
  'power-loss': {
    env: { HERD_FAILPOINTS: 'power-loss' },
    run: (context) =>
      repeatedly(context, async () => {
        const { cluster, random } = context
        const leader = await leaderAndTerm(cluster)
        const shape = random.pick(['follower', 'leader', 'all'] as const)
        const ids = shape === 'all' ? cluster.ids : shape === 'leader' ? [leader.id] : [random.pick(cluster.ids.filter((id) => id !== leader.id))]
        await powerCut(context, ids)
        // Election timing is F1's and F4's business: the replicas were down for a random while here.
        await cluster.leader(cluster.ids, 15_000)
        return async () => undefined
      }),
  },

  /** F18's negative control: the log appended without syncing; power cuts on every replica must lose acknowledged writes. */
  'power-loss-unsynced': {
    env: { HERD_FAILPOINTS: 'power-loss,unsafe-no-sync' },
    mustFail: true,
    async run(context) {
      const endMs = performance.now() + context.seconds * 1000
      while (performance.now() < endMs) {
        await sleep(context.random.between(2000, 4000))
        await powerCut(context, context.cluster.ids)
        await context.cluster.leader(context.cluster.ids, 15_000)
      }
      return { newLeaderMs: [], failures: [] }
    },
  },

  /** F13: a follower cut off while the leader snapshots and truncates its log; healed, it must catch up by InstallSnapshot. */
  'lagging-follower': {
    args: ['--snapshot-entries-interval', '100'],
    async run(context) {
      const { cluster, random } = context
      const result: NemesisResult = { newLeaderMs: [], failures: [] }
      await sleep(random.between(1000, 2000))
      const leader = await leaderAndTerm(cluster)
      const lagging = random.pick(cluster.ids.filter((id) => id !== leader.id))
      const before = cluster.output(lagging).length
      // Clients leave it alone meanwhile, so that the others take writes at full speed and compact past it.
      context.live.delete(lagging)
      cluster.links?.isolate(lagging)
      await sleep(Math.max(3000, context.seconds * 1000 - 6000))
      cluster.links?.heal()
      context.live.add(lagging)
      const current = await cluster.leader(cluster.ids, 15_000)
      if (!(await caughtUp(cluster, lagging, current, 15_000))) result.failures.push(`replica ${lagging} did not catch up within 15 s of the heal`)
      const output = cluster.output(lagging).slice(before)
      if (!output.includes("installed the leader's snapshot")) result.failures.push(`replica ${lagging} caught up without a snapshot: the leader had not truncated past it (the scenario tested less than it should)`)
      return result
    },
  },

  /**
   * F6: a session client paused past its timeout (or killed and started
   * again): its ephemeral goes in time, and the resumed client learns its
   * session expired. Every other
   * time a lock client (W6) is paused past its timeout instead, often while
   * holding the lock: resumed, its fenced writes must be refused.
   */
  'session-pause': {
    run: (context) =>
      repeatedly(context, async (result) => {
        const { cluster, random, live } = context
        if (random.chance(0.5)) {
          // The holder, when there is one: a holder paused past its timeout is the case the fence is for.
          const candidates = context.locks.filter((candidate) => !candidate.isPaused)
          const lock = candidates.find((candidate) => candidate.isHolding) ?? random.pick(candidates)
          lock.pause()
          await sleep(context.sessionTimeoutMs + 2500)
          return async () => lock.resume()
        }
        const client = random.pick(context.sessions.filter((session) => !session.isPaused))
        // A third of the time the client process dies instead (and starts again with a new session).
        const isCrash = random.chance(1 / 3)
        const paused = isCrash ? client.crash() : client.pause()
        const boundMs = context.sessionTimeoutMs + 2500
        if (paused.ephemeral !== null) {
          for (;;) {
            const url = cluster.url(random.pick([...live]))
            const sinceMs = performance.now() - paused.lastOkInvokeMs
            if (!(await exists(url, paused.ephemeral).catch(() => true))) break
            if (sinceMs > boundMs) {
              result.failures.push(`${paused.ephemeral} still exists ${sinceMs.toFixed(0)} ms after its client's last heartbeat, the client paused or dead (bound ${boundMs} ms)`)
              break
            }
            await sleep(100)
          }
        }
        if (isCrash) return async () => undefined
        await sleep(500)
        client.resume()
        return async () => {
          for (let waitedMs = 0; paused.ephemeral !== null && !client.sawExpiryAfterPause() && waitedMs < 5000; waitedMs += 100) await sleep(100)
          if (paused.ephemeral !== null && !client.sawExpiryAfterPause()) result.failures.push(`the client of ${paused.ephemeral}, resumed, was not told its session had expired (${client.describe()})`)
        }
      }),
  },

  /**
   * F14: bad clocks. Replica 1's clock runs 1.5 times as fast, replica 2's
   * at half speed with its wall clock an hour ahead, replica 3's wall clock
   * an hour behind; the leader is killed now and then so that each clock
   * gets to lead. Elections may be slow or spurious and sessions may expire
   * early; the history must stay linearizable and nothing acknowledged lost.
   */
  'clock-skew': {
    replicaEnv: {
      1: { HERD_FAILPOINTS: 'clock-rate=1.5' },
      2: { HERD_FAILPOINTS: 'clock-rate=0.5,clock-offset-ms=3600000' },
      3: { HERD_FAILPOINTS: 'clock-offset-ms=-3600000' },
    },
    allowsEarlyExpiry: true,
    run: (context) =>
      repeatedly(context, async () => {
        const { cluster, live } = context
        const leader = await leaderAndTerm(cluster)
        live.delete(leader.id)
        await cluster.nodes.get(leader.id)?.kill()
        await cluster.leader(cluster.ids.filter((id) => id !== leader.id), 15_000)
        return async () => {
          await cluster.startReplica(leader.id)
          live.add(leader.id)
        }
      }),
  },

  /**
   * F12: a session client and watchers cut off from their replica (their
   * own proxy blackholes), briefly or past the session timeout. A brief cut
   * must not cost the session; a long one must (the client is told once it
   * is back); the watchers resume at the zxid they last saw and miss
   * nothing (the W4 checks).
   */
  'client-partition': {
    run: (context) =>
      repeatedly(context, async (result) => {
        const { clientProxy, proxiedSession, random, sessionTimeoutMs } = context
        const isLong = random.chance(0.5)
        const cutMs = isLong ? sessionTimeoutMs + 2500 : 800
        const startMs = performance.now()
        clientProxy.setMode({ kind: 'blackhole' })
        await sleep(cutMs)
        clientProxy.setMode({ kind: 'pass' })
        return async () => {
          // The client's next heartbeats tell it either way.
          for (let waitedMs = 0; isLong && (proxiedSession.expiredSeenMs ?? 0) < startMs && waitedMs < 5000; waitedMs += 100) await sleep(100)
          const expired = (proxiedSession.expiredSeenMs ?? 0) >= startMs
          if (isLong && !expired) result.failures.push(`a client cut off for ${cutMs} ms (timeout ${sessionTimeoutMs} ms) was not told its session had expired (${proxiedSession.describe()})`)
          if (!isLong && expired) result.failures.push(`a client cut off for only ${cutMs} ms lost its session (timeout ${sessionTimeoutMs} ms)`)
        }
      }),
  },

  /** F16: log syncs fail now and then (an injected EIO): the replica must stop (exit 1, fenced), never go on as if the write were durable. */
  'sync-error': {
    run: (context) => underFailpoints(context, 'before-sync=error:0.0005,after-sync=error:0.0005', 'exit 1'),
  },

  /** F2: SIGKILL a follower, restart it later; the leader survives, so its term must not change (no spurious election). */
  'kill-follower': {
    run: (context) =>
      repeatedly(context, async (result) => {
        const { cluster, live, random } = context
        const leader = await leaderAndTerm(cluster)
        const follower = random.pick(cluster.ids.filter((id) => id !== leader.id))
        live.delete(follower)
        await cluster.nodes.get(follower)?.kill()
        return async () => {
          await cluster.startReplica(follower)
          live.add(follower)
          const after = await leaderAndTerm(cluster)
          if (after.term !== leader.term) result.failures.push(`killing follower ${follower} moved the term from ${leader.term} to ${after.term} (leader ${leader.id} then ${after.id})`)
        }
      }),
  },

  /** F3: SIGKILL a majority; while fewer than a quorum run, no write may be acknowledged. */
  'kill-majority': {
    run: (context) =>
      repeatedly(context, async (result) => {
        const { cluster, live, random } = context
        const survivor = random.pick(cluster.ids)
        const killed = cluster.ids.filter((id) => id !== survivor)
        for (const id of killed) live.delete(id)
        await Promise.all(killed.map((id) => cluster.nodes.get(id)?.kill()))
        const downMs = performance.now()
        await sleep(random.between(3000, 5000))
        const upMs = performance.now()
        for (const write of ackedWithin(context, downMs, upMs)) result.failures.push(`${write} was acknowledged while only replica ${survivor} ran`)
        return async () => {
          for (const id of killed) {
            await cluster.startReplica(id)
            live.add(id)
          }
        }
      }),
  },

  /** F10: one-way cuts: the leader's bytes to the followers dropped (and, the next time, the followers' to the leader). */
  asymmetric: {
    run: (context) =>
      repeatedly(context, async () => {
        const { cluster, random } = context
        const leader = await leaderAndTerm(cluster)
        const isOutbound = random.chance(0.5)
        for (const other of cluster.ids.filter((id) => id !== leader.id)) {
          if (isOutbound) cluster.links?.oneWay(leader.id, other, { kind: 'blackhole' })
          else cluster.links?.oneWay(other, leader.id, { kind: 'blackhole' })
        }
        return async () => {
          cluster.links?.heal()
          await cluster.leader(cluster.ids, 5000)
        }
      }),
  },

  /** F1 on five replicas. */
  'five-kill-leader': {
    size: 5,
    run: (context) => (scenarios['kill-leader'] as Scenario).run(context),
  },

  /** F9: five replicas in a ring, each reaching only its two neighbours (a majority each, but different ones); safety must hold, and a leader must come back within 5 s of the heal. */
  'five-ring': {
    size: 5,
    run: (context) =>
      repeatedly(context, async () => {
        const { cluster } = context
        const links = cluster.links
        if (links === null) throw new Error('five-ring needs proxied peer links')
        const n = cluster.ids.length
        for (const from of cluster.ids) {
          for (const to of cluster.ids) {
            const distance = Math.min((from - to + n) % n, (to - from + n) % n)
            if (from !== to && distance > 1) links.link(from, to).setMode({ kind: 'blackhole' })
          }
        }
        await sleep(context.random.between(2000, 4000))
        return async () => {
          links.heal()
          await cluster.leader(cluster.ids, 5000)
        }
      }),
  },

  /**
   * F19: a follower's stored log gets a flipped byte while it is down. It
   * must refuse to start (the entry's checksum), never serve or replicate the
   * damage; the others go on; once the entry is put back it rejoins.
   */
  'corrupt-follower': {
    async run(context) {
      let refusals = 0
      const result = await repeatedly(context, async (result) => {
        const { cluster, live, random } = context
        const leader = await leaderAndTerm(cluster)
        const victim = random.pick(cluster.ids.filter((id) => id !== leader.id))
        live.delete(victim)
        await cluster.nodes.get(victim)?.kill()
        const corruption = await corruptLogEntry(cluster.dataDir(victim), random)
        try {
          await cluster.startReplica(victim)
          result.failures.push(`replica ${victim} started on a log whose entry ${corruption.index} was corrupted`)
          await cluster.nodes.get(victim)?.kill()
        } catch (error) {
          if (String(error).includes('DataInconsistency')) refusals++
          else result.failures.push(`replica ${victim}, its entry ${corruption.index} corrupted, failed to start without saying why: ${String(error).slice(0, 300)}`)
        }
        corruption.restore()
        return async () => {
          await cluster.startReplica(victim)
          live.add(victim)
        }
      })
      if (refusals === 0) result.failures.push('no corrupted replica was refused: the scenario tested nothing')
      return result
    },
  },
}
