// The nemesis schedules of the fault suite, one per row of RELIABILITY.md's
// matrix that runs on real processes today. Each runs for about `seconds`
// while the clients work, keeps `live` to the replicas that are running
// (clients only talk to those), and reports how long each election it caused
// took. The runner heals every link and restarts every replica afterwards.
import type { Prng } from '../support/raft-sim-prng.ts'
import type { TestCluster } from '../support/cluster-process.ts'
import type { Observer } from './lib/observer.ts'

export interface NemesisContext {
  readonly cluster: TestCluster
  readonly random: Prng
  readonly observer: Observer
  readonly live: Set<number>
  readonly seconds: number
}

export interface NemesisResult {
  /** Time from each fault that removed the leader to a new leader a majority follows. */
  readonly newLeaderMs: number[]
  readonly failures: string[]
}

export interface Scenario {
  readonly size?: number
  readonly args?: readonly string[]
  run(context: NemesisContext): Promise<NemesisResult>
}

/** RELIABILITY.md allows 3 s for a new leader on the loaded 2-core CI box (2 s elsewhere). */
const newLeaderBoundMs = 3000

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

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
}
