// Linearizable reads without log entries (thesis §6.4): the leader records
// its commit index, confirms with a heartbeat round that a majority still
// follows it, and only then lets the read be served at that index; before
// its first commit in its term it waits; a deposed leader never answers.
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../../support/raft-sim-cluster.ts'

describe('§6.4 read index', () => {
  it('a read is ready once a majority confirmed the leader after it was asked', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    cluster.propose(1, 'a')
    cluster.stabilize()
    expect(cluster.core(1).readIndex(7)).toBe(true)
    cluster.flush()
    expect(cluster.replica(1).readStates).toEqual([])
    cluster.deliver((message) => message.type === 'heartbeat' && message.to === 2)
    expect(cluster.replica(1).readStates).toEqual([]) // heartbeat delivered, reply not yet
    cluster.deliver((message) => message.type === 'heartbeatReply')
    expect(cluster.replica(1).readStates).toEqual([{ context: 7, index: 2 }])
  })

  it('reads wait for the leader\'s first commit in its term', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.core(1).campaign()
    for (let hop = 0; hop < 4; hop++) cluster.deliver() // pre-votes, their grants, votes, their grants
    expect(cluster.core(1).status()).toMatchObject({ role: 'leader', commit: 0 })
    expect(cluster.core(1).readIndex(1)).toBe(true)
    cluster.stabilize()
    expect(cluster.replica(1).readStates).toEqual([{ context: 1, index: 1 }])
  })

  it('a leader cut off from the majority never answers', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    cluster.isolate(1)
    cluster.core(1).readIndex(3)
    for (let tick = 0; tick < 30; tick++) {
      cluster.tick(1)
      cluster.deliver()
    }
    expect(cluster.core(1).status().role).toBe('follower')
    expect(cluster.replica(1).readStates).toEqual([])
  })

  it('followers refuse; a single voter answers at once', () => {
    const cluster = new Cluster({ ids: [1, 2, 3] })
    cluster.elect(1)
    expect(cluster.core(2).readIndex(1)).toBe(false)
    const alone = new Cluster({ ids: [1] })
    alone.elect(1)
    alone.flush()
    expect(alone.core(1).readIndex(5)).toBe(true)
    alone.flush()
    expect(alone.replica(1).readStates).toEqual([{ context: 5, index: 1 }])
  })
})
