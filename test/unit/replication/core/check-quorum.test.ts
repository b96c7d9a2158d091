// Check quorum and leader stickiness (thesis §6.2 and §4.2.3): a leader that
// stops hearing from a majority steps down within an election timeout, and
// a replica that hears from a live leader ignores requests to elect another,
// unless the leader itself hands over (§3.10).
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../../support/raft-sim-cluster.ts'

describe('§6.2 check quorum', () => {
  it('a leader cut off from the majority steps down within an election timeout', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    cluster.isolate(1)
    for (let tick = 0; tick < 30 && cluster.core(1).status().role === 'leader'; tick++) {
      cluster.tick(1)
      cluster.deliver()
    }
    expect(cluster.core(1).status()).toMatchObject({ role: 'follower', leader: 0, term: 1 })
  })

  it('the majority side elects a new leader, and the old one follows it once the partition heals', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    cluster.isolate(1)
    for (let tick = 0; tick < 60 && cluster.core(2).status().leader < 2; tick++) cluster.tickAll()
    const leader = cluster.leader()
    expect(leader === 2 || leader === 3).toBe(true)
    cluster.heal()
    cluster.tickAll(5)
    expect(cluster.core(1).status()).toMatchObject({ role: 'follower', leader })
  })
})

describe('§4.2.3 leader stickiness', () => {
  it('a follower that hears from its leader ignores a vote request of a later term', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    const follower = cluster.core(2)
    follower.step({ type: 'vote', from: 3, to: 2, term: 5, lastIndex: 10, lastTerm: 4, transfer: false })
    expect(follower.hasReady()).toBe(false)
    expect(follower.status()).toMatchObject({ term: 1, leader: 1 })
  })

  it('once the leader is silent for an election timeout, the same request is granted', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    cluster.crash(1)
    cluster.tick(2, 10)
    cluster.drop()
    const follower = cluster.core(2)
    follower.step({ type: 'vote', from: 3, to: 2, term: 5, lastIndex: 10, lastTerm: 4, transfer: false })
    expect(follower.ready().messages).toContainEqual({ type: 'voteReply', from: 2, to: 3, term: 5, granted: true })
  })

  it('§3.10 leadership transfer: the leader catches the target up and tells it to campaign past the leases', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    cluster.isolate(3)
    cluster.propose(1, 'a', 'b')
    cluster.stabilize()
    cluster.heal()
    expect(cluster.core(1).transferLeadership(3)).toBe(true)
    expect(cluster.core(1).propose([new Uint8Array([9])])).toBeNull() // no proposals while handing over
    cluster.tickAll(3) // a heartbeat reply resumes the paused probe of replica 3
    expect(cluster.leader()).toBe(3)
    expect(cluster.core(3).status().term).toBe(2)
    expect(cluster.log(3).slice(1, 3)).toEqual(['2@1:a', '3@1:b'])
  })
})
