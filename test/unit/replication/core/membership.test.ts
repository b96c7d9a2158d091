// Single-server membership changes (thesis §4.1-§4.2): a change takes effect
// as soon as it is in a replica's log; one change at a time, each adding or
// removing one voter, and only after the leader committed an entry of its
// term; a removed leader steps down once the change commits.
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../../support/raft-sim-cluster.ts'

describe('§4.1 adding and removing a voter', () => {
  it('an added replica catches up and counts in the quorum', () => {
    const cluster = new Cluster({ ids: [1, 2, 3, 4], voters: [1, 2, 3] })
    cluster.elect(1)
    expect(cluster.core(1).proposeMembership([1, 2, 3, 4])).toBe(2)
    cluster.stabilize()
    for (const id of [1, 2, 3, 4]) expect(cluster.core(id).voters()).toEqual([1, 2, 3, 4])
    expect(cluster.log(4)).toEqual(cluster.log(1))
    // A majority of four is three: with two down, nothing commits.
    cluster.crash(2)
    cluster.crash(3)
    const index = cluster.propose(1, 'x') as number
    cluster.stabilize()
    expect(cluster.core(1).status().commit).toBeLessThan(index)
    cluster.restart(3)
    cluster.tickAll(2)
    expect(cluster.core(1).status().commit).toBe(index)
  })

  it('§4.2.1 a learner is replicated to, counts toward no quorum and never campaigns, and is forgotten with leadership', () => {
    const cluster = new Cluster({ ids: [1, 2, 3, 4], voters: [1, 2, 3] })
    cluster.elect(1)
    const leader = cluster.core(1)
    expect(leader.addLearner(2)).toBe(false) // a voter already
    expect(cluster.core(2).addLearner(4)).toBe(false) // not the leader
    expect(leader.addLearner(4)).toBe(true)
    cluster.propose(1, 'a')
    cluster.stabilize()
    expect(cluster.log(4)).toEqual(cluster.log(1))
    expect(leader.matchOf(4)).toBe(leader.status().commit)
    expect(cluster.core(4).voters()).toEqual([1, 2, 3])
    // With two voters down, the learner's copy makes no majority.
    cluster.crash(2)
    cluster.crash(3)
    const index = cluster.propose(1, 'b') as number
    cluster.stabilize()
    expect(cluster.log(4).length).toBe(cluster.log(1).length)
    expect(leader.status().commit).toBeLessThan(index)
    cluster.tick(4, 100)
    expect(cluster.core(4).status().role).toBe('follower')
    // Removed, it gets nothing more.
    cluster.restart(2)
    cluster.restart(3)
    cluster.tickAll(2)
    cluster.stabilize()
    leader.removeLearner(4)
    expect(leader.matchOf(4)).toBeNull()
    cluster.propose(1, 'c')
    cluster.stabilize()
    expect(cluster.log(4).length).toBeLessThan(cluster.log(1).length)
  })

  it('a removed follower no longer counts, and never campaigns', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    cluster.core(1).proposeMembership([1, 2])
    cluster.stabilize()
    expect(cluster.core(3).voters()).toEqual([1, 2])
    cluster.crash(3)
    const index = cluster.propose(1, 'x') as number
    cluster.stabilize()
    expect(cluster.core(1).status().commit).toBe(index)
    cluster.restart(3)
    cluster.tick(3, 100)
    expect(cluster.core(3).status().role).toBe('follower')
  })

  it('a removed leader steps down once the change commits and hands over at once', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    const index = cluster.core(1).proposeMembership([2, 3]) as number
    cluster.stabilize()
    expect(cluster.core(1).status()).toMatchObject({ role: 'follower' })
    const leader = cluster.leader()
    expect(leader === 2 || leader === 3).toBe(true)
    expect(cluster.core(leader as number).status()).toMatchObject({ term: 2, voters: [2, 3] })
    expect(cluster.core(leader as number).status().commit).toBeGreaterThan(index)
    cluster.tick(1, 100)
    expect(cluster.core(1).status().role).toBe('follower')
  })

  it('one change at a time, each by one voter, after the leader committed in its term', () => {
    const cluster = new Cluster({ ids: [1, 2, 3, 4, 5], voters: [1, 2, 3] })
    cluster.core(1).campaign()
    for (let hop = 0; hop < 4; hop++) cluster.deliver() // pre-votes, their grants, votes, their grants
    expect(cluster.core(1).status()).toMatchObject({ role: 'leader', commit: 0 }) // its noop is not committed yet
    expect(cluster.core(1).proposeMembership([1, 2, 3, 4])).toBeNull()
    cluster.stabilize()
    expect(cluster.core(1).proposeMembership([1, 2, 3, 4, 5])).toBeNull() // two at once
    expect(cluster.core(1).proposeMembership([1, 2, 3])).toBeNull() // no change
    expect(cluster.core(1).proposeMembership([1, 2, 4])).toBeNull() // one out, one in
    expect(cluster.core(1).proposeMembership([1, 2, 3, 4])).not.toBeNull()
    expect(cluster.core(1).proposeMembership([1, 2, 3, 4, 5])).toBeNull() // the first is not committed
    cluster.stabilize()
    expect(cluster.core(1).proposeMembership([1, 2, 3, 4, 5])).not.toBeNull()
    expect(cluster.core(2).proposeMembership([1, 2, 3, 4])).toBeNull() // followers refuse
  })

  it('a change that never committed is undone when a new leader overwrites it', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    cluster.isolate(1)
    cluster.core(1).proposeMembership([1, 2])
    cluster.flush()
    expect(cluster.core(1).voters()).toEqual([1, 2])
    for (let tick = 0; tick < 60 && (cluster.leader() ?? 1) === 1; tick++) cluster.tickAll()
    const leader = cluster.leader() as number
    expect(leader === 2 || leader === 3).toBe(true)
    cluster.heal()
    cluster.tickAll(3)
    expect(cluster.core(1).voters()).toEqual([1, 2, 3])
    expect(cluster.log(1)).toEqual(cluster.log(leader))
  })

  it('a restart finds the latest membership in the log, committed or not', () => {
    const cluster = new Cluster({ ids: [1, 2, 3, 4], voters: [1, 2, 3] })
    cluster.elect(1)
    cluster.core(1).proposeMembership([1, 2, 3, 4])
    cluster.flush()
    cluster.crash(1)
    cluster.restart(1)
    expect(cluster.core(1).voters()).toEqual([1, 2, 3, 4])
  })
})
