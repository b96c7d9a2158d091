// A follower of at most three voters commits what it and its leader both
// hold on disk (RaftCore's #maybeCommitAsPair): the leader sends new entries
// after its own sync, saying so in `durable`, and the follower counts the
// two of them as a majority once it has synced them too. The SafetyChecker
// watches every step (a commit of one's own must be on a majority's disks).
import { describe, expect, it } from 'vitest'
import type { AppendMessage } from '../../../../src/replication/core/index.ts'
import { Cluster, text } from '../../../support/raft-sim-cluster.ts'

const isAppendFrom = (from: number) => (message: { type: string; from: number }) => message.type === 'append' && message.from === from

/** A cluster led by n1 that proposed 'x' (at `index`) and delivered its appends, but no acknowledgement. */
function proposedWithoutAcks(ids: readonly number[]): { cluster: Cluster; index: number } {
  const cluster = new Cluster({ ids })
  cluster.elect(1)
  const index = cluster.propose(1, 'x') as number
  cluster.deliver(isAppendFrom(1))
  return { cluster, index }
}

describe('a follower paired with its leader', () => {
  it('of three voters, commits and applies an entry it and the leader hold before the leader knows it is committed', () => {
    const { cluster, index } = proposedWithoutAcks([1, 2, 3])
    expect(cluster.core(1).status().commit).toBeLessThan(index)
    for (const id of [2, 3]) {
      expect(cluster.core(id).status().commit, `n${id}`).toBe(index)
      expect(cluster.replica(id).applied.at(-1), `n${id}`).toBe('x')
    }
  })

  it('of five voters, waits for the commit index from its leader', () => {
    const { cluster, index } = proposedWithoutAcks([1, 2, 3, 4, 5])
    for (const id of [2, 3, 4, 5]) expect(cluster.core(id).status().commit, `n${id}`).toBeLessThan(index)
    cluster.stabilize()
    for (const id of [2, 3, 4, 5]) expect(cluster.replica(id).applied.at(-1), `n${id}`).toBe('x')
  })

  it('counts only what the leader announced durable', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    const index = cluster.propose(1, 'x') as number
    // The same appends, but saying nothing is durable on the leader yet.
    cluster.intercept = (message) => (message.type === 'append' ? { ...message, durable: 0 } : message)
    cluster.deliver(isAppendFrom(1))
    for (const id of [2, 3]) expect(cluster.core(id).status().commit, `n${id}`).toBeLessThan(index)
  })

  it("leaves a leader's new entries for after its sync in a cluster of three, and sends them at once in one of five", () => {
    for (const [voters, isHeld] of [[[1, 2, 3], true], [[1, 2, 3, 4, 5], false]] as const) {
      const cluster = new Cluster({ ids: [...voters] })
      cluster.elect(1)
      const leader = cluster.core(1)
      const index = leader.propose([text('x')]) as number
      const eager = leader.takeEagerMessages().filter((message): message is AppendMessage => message.type === 'append')
      const ready = leader.ready()
      const held = ready.messages.filter((message): message is AppendMessage => message.type === 'append')
      if (isHeld) {
        expect(eager).toEqual([])
        expect(held.map((message) => message.durable)).toEqual([index, index])
      } else {
        expect(eager.map((message) => message.entries.at(-1)?.index)).toEqual([index, index, index, index])
        expect(eager.every((message) => message.durable === 0)).toBe(true)
      }
    }
  })

  it("puts a leader's read index at or past what its followers may have committed without it", () => {
    const { cluster, index } = proposedWithoutAcks([1, 2, 3])
    expect(cluster.core(2).status().commit).toBe(index)
    expect(cluster.core(1).status().commit).toBeLessThan(index)
    cluster.core(1).readIndex(7)
    cluster.stabilize()
    const read = cluster.replica(1).readStates.find((state) => state.context === 7)
    expect(read?.index).toBeGreaterThanOrEqual(index)
  })

  it("does not commit an older term's entry by counting (Figure 8)", () => {
    const cluster = new Cluster({
      ids: [1, 2, 3],
      logs: { 1: [1, 2], 2: [1, 2], 3: [1] },
      hardStates: { 1: { term: 2, vote: 0, commit: 1 }, 2: { term: 2, vote: 0, commit: 1 }, 3: { term: 2, vote: 0, commit: 1 } },
    })
    cluster.core(1).campaign()
    for (let round = 0; round < 10 && cluster.core(1).status().role !== 'leader'; round++) cluster.deliver((message) => message.type !== 'append')
    expect(cluster.core(1).status()).toMatchObject({ role: 'leader', term: 3 })
    // Its term-3 noop (index 3) is held back: n2 hears that 2, of term 2, is durable on the leader.
    cluster.intercept = (message) => (message.type === 'append' ? { ...message, prevIndex: 2, prevTerm: 2, entries: [], durable: 2 } : message)
    cluster.deliver((message) => message.type === 'append' && message.to === 2)
    expect(cluster.core(2).status().commit).toBe(1)
  })
})
