// Leader election (Raft §5.2, the election restriction of §5.4.1, thesis
// §3.4): randomized timeouts, one vote per term, a majority wins, a stale log
// loses, and a replica outside the membership never campaigns.
import { describe, expect, it } from 'vitest'
import { RaftCore } from '../../../../src/replication/core/index.ts'
import { Cluster } from '../../../support/raft-sim-cluster.ts'
import { SimStorage, simMembership, simNoop } from '../../../support/raft-sim-storage.ts'
import { Prng } from '../../../support/raft-sim-prng.ts'

describe('§5.2 leader election', () => {
  it('a follower that hears nothing for an election timeout campaigns and wins with a majority', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    let ticks = 0
    while (cluster.core(1).status().role === 'follower') {
      cluster.tick(1)
      ticks++
    }
    expect(ticks).toBeGreaterThanOrEqual(10)
    expect(ticks).toBeLessThan(20)
    cluster.stabilize()
    for (const id of [1, 2, 3]) expect(cluster.core(id).status()).toMatchObject({ term: 1, leader: 1, commit: 1 })
    expect(cluster.core(1).status().role).toBe('leader')
    // The new leader's first entry is its noop (§5.4.2, §6.4).
    expect(cluster.log(2)).toEqual(['1@1:noop'])
  })

  it('election timeouts are drawn from [electionTicks, 2 * electionTicks)', () => {
    const timeouts = new Set<number>()
    const random = new Prng(7)
    for (let i = 0; i < 50; i++) {
      const core = new RaftCore(
        {
          id: 1,
          voters: [1, 2, 3],
          electionTicks: 10,
          heartbeatTicks: 1,
          random: () => random.next(),
          appendBytesMax: 1024,
          inflightAppendsMax: 1,
          noop: simNoop,
          membership: simMembership,
        },
        new SimStorage(),
      )
      let ticks = 0
      while (core.status().role === 'follower') {
        core.tick()
        ticks++
      }
      timeouts.add(ticks)
    }
    expect(Math.min(...timeouts)).toBeGreaterThanOrEqual(10)
    expect(Math.max(...timeouts)).toBeLessThan(20)
    expect(timeouts.size).toBeGreaterThan(3)
  })

  it('a replica grants one vote per term, first come first served', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    const voter = cluster.core(2)
    voter.step({ type: 'vote', from: 1, to: 2, term: 1, lastIndex: 0, lastTerm: 0, transfer: false })
    voter.step({ type: 'vote', from: 3, to: 2, term: 1, lastIndex: 0, lastTerm: 0, transfer: false })
    voter.step({ type: 'vote', from: 1, to: 2, term: 1, lastIndex: 0, lastTerm: 0, transfer: false })
    const replies = voter.ready().messages
    expect(replies.map((m) => [m.to, m.type === 'voteReply' && m.granted])).toEqual([
      [1, true],
      [3, false],
      [1, true], // asking again gets the same answer
    ])
  })

  it('split votes end: randomized timeouts elect exactly one leader', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const cluster = new Cluster({ ids: [1, 2, 3, 4, 5], seed })
      for (let tick = 0; tick < 100 && cluster.leader() === null; tick++) cluster.tickAll()
      const leader = cluster.leader()
      expect(leader).not.toBeNull()
      const term = cluster.core(leader as number).status().term
      for (const id of [1, 2, 3, 4, 5]) expect(cluster.core(id).status()).toMatchObject({ term, leader })
    }
  })
})

describe('§5.4.1 election restriction', () => {
  it('a candidate whose log is behind a majority loses, and one that is up to date wins', () => {
    const cluster = new Cluster({
      ids: [1, 2, 3],
      logs: { 1: [1], 2: [1, 2], 3: [1, 2] },
      hardStates: { 1: { term: 2, vote: 0, commit: 1 }, 2: { term: 2, vote: 0, commit: 1 }, 3: { term: 2, vote: 0, commit: 1 } },
    })
    cluster.core(1).campaign()
    cluster.stabilize()
    expect(cluster.core(1).status()).toMatchObject({ role: 'follower', term: 2 })
    cluster.elect(2)
    expect(cluster.core(2).status().term).toBe(3)
    cluster.stabilize()
    expect(cluster.log(1)).toEqual(['1@1:1@1', '2@2:2@2', '3@3:noop'])
  })
})

describe('membership and elections', () => {
  it('a replica outside the membership never campaigns', () => {
    const cluster = new Cluster({ ids: [1, 2, 3, 4], voters: [1, 2, 3] })
    cluster.tick(4, 100)
    cluster.core(4).campaign()
    expect(cluster.core(4).status()).toMatchObject({ role: 'follower', term: 0 })
    expect(cluster.queue).toEqual([])
  })
})
