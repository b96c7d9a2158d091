// The deterministic simulation of the Raft core (test/support/raft-sim.ts):
// thousands of seeded worlds with loss, duplication, reordering, partitions,
// crashes that lose unsynced writes, snapshots, membership changes (half of
// the added voters caught up as learners first), reads and leadership
// transfers; the safety properties are checked after every event,
// and liveness once the faults stop.
//
//   HERD_SIM_SEEDS=n     seeds per cluster size (default below)
//   HERD_SIM_SEED=s      replay one seed, printing its trace
//   HERD_SIM_REPLICAS=r  with HERD_SIM_SEED: the cluster size (default 3)
import { describe, expect, it } from 'vitest'
import { runSimulation, type SimOptions, type SimResult } from '../../../support/raft-sim.ts'

const seedsDefault = { 3: 1500, 5: 700 } as const
const chaosTicks = 300
const healTicksMax = 200
/** Seeds per test case, so each stays well inside the test timeout. */
const chunkSeeds = 250

const seedsOverride = process.env['HERD_SIM_SEEDS']
const replaySeed = process.env['HERD_SIM_SEED']

function options(seed: number, replicas: number, isTracing: boolean): SimOptions {
  return { seed, replicas, chaosTicks, healTicksMax, isTracing }
}

function replayCommand(seed: number, replicas: number): string {
  return `HERD_SIM_SEED=${seed} HERD_SIM_REPLICAS=${replicas} npx vitest run --config test/vitest.config.ts --project unit test/unit/replication/core/sim.test.ts`
}

function describeFailure(result: SimResult, replicas: number): string {
  return `seed ${result.seed} (${replicas} replicas) failed: ${result.failure}\nreplay: ${replayCommand(result.seed, replicas)}`
}

if (replaySeed !== undefined) {
  describe('raft simulation (replay)', () => {
    it(`seed ${replaySeed}`, () => {
      const replicas = Number(process.env['HERD_SIM_REPLICAS'] ?? 3)
      const result = runSimulation(options(Number(replaySeed), replicas, true))
      console.log(result.trace.join('\n'))
      expect(result.failure, describeFailure(result, replicas)).toBeNull()
    })
  })
} else {
  for (const replicas of [3, 5] as const) {
    describe(`raft simulation, ${replicas} replicas`, () => {
      const seeds = seedsOverride === undefined ? seedsDefault[replicas] : Number(seedsOverride)
      for (let first = 1; first <= seeds; first += chunkSeeds) {
        const last = Math.min(seeds, first + chunkSeeds - 1)
        it(`seeds ${first}..${last} keep every safety property and recover once healed`, () => {
          const totals = new Map<string, number>()
          for (let seed = first; seed <= last; seed++) {
            const result = runSimulation(options(seed, replicas, false))
            if (result.failure !== null) expect.fail(describeFailure(result, replicas))
            for (const [what, count] of result.counts) totals.set(what, (totals.get(what) ?? 0) + count)
          }
          // The worlds did what they are for (checked over a chunk, not per seed).
          if (last - first >= 100) {
            const expected = ['crash', 'leader elected', 'snapshot installed', 'membership change applied', 'read served', 'leadership transfer', 'learner promoted with entries', 'learner given up']
            // A follower of three commits what it and its leader hold (RaftCore's #maybeCommitAsPair).
            if (replicas === 3) expected.push('follower committed as a pair')
            for (const what of expected) {
              expect(totals.get(what) ?? 0, what).toBeGreaterThan(0)
            }
          }
        })
      }
    })
  }

  describe('raft simulation, negative control', () => {
    it('finds violations on a disk that loses acknowledged writes', () => {
      let found = 0
      for (let seed = 1; seed <= 60; seed++) {
        const result = runSimulation({ ...options(seed, 3, false), isDiskLying: true })
        if (result.failure !== null) found++
      }
      expect(found).toBeGreaterThan(0)
    })
  })
}
