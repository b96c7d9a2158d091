// Pre-vote (thesis §9.6): a replica asks whether it could win before it
// raises its term, so a replica cut off from the cluster comes back without
// forcing an election, and a pre-vote changes no one's term or vote.
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../../support/raft-sim-cluster.ts'

describe('§9.6 pre-vote', () => {
  it('a partitioned follower keeps its term, and its return does not disturb the leader', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    cluster.isolate(3)
    for (let i = 0; i < 100; i++) {
      cluster.tick(3)
      cluster.deliver() // its pre-votes go nowhere
    }
    expect(cluster.core(3).status()).toMatchObject({ term: 1, role: 'precandidate' })
    cluster.heal()
    cluster.tickAll(30)
    expect(cluster.leader()).toBe(1)
    for (const id of [1, 2, 3]) expect(cluster.core(id).status()).toMatchObject({ term: 1, leader: 1 })
  })

  it('granting a pre-vote changes neither the voter\'s term nor its vote', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    const voter = cluster.core(2)
    voter.step({ type: 'preVote', from: 1, to: 2, term: 1, lastIndex: 0, lastTerm: 0 })
    const ready = voter.ready()
    expect(ready.messages).toEqual([{ type: 'preVoteReply', from: 2, to: 1, term: 1, granted: true }])
    expect(ready.hardState).toBeNull()
    expect(voter.status().term).toBe(0)
  })

  it('a replica whose log is behind fails its pre-vote and never raises its term', () => {
    const cluster = new Cluster({
      ids: [1, 2, 3],
      logs: { 1: [1], 2: [1, 1], 3: [1, 1] },
      hardStates: { 1: { term: 1, vote: 0, commit: 1 }, 2: { term: 1, vote: 0, commit: 1 }, 3: { term: 1, vote: 0, commit: 1 } },
    })
    cluster.core(1).campaign()
    cluster.stabilize()
    expect(cluster.core(1).status()).toMatchObject({ role: 'follower', term: 1 })
    for (const id of [2, 3]) expect(cluster.core(id).status().term).toBe(1)
  })
})
