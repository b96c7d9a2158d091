// Log compaction and InstallSnapshot (Raft §7): a follower behind the
// leader's log start gets the snapshot, restores its state from it and takes
// the membership it records; a follower that already holds the snapshot's
// last entry just commits; a lost snapshot is sent again.
import { describe, expect, it } from 'vitest'
import type { Snapshot } from '../../../../src/replication/core/index.ts'
import { Cluster, text } from '../../../support/raft-sim-cluster.ts'
import { encodeImage, simMembership } from '../../../support/raft-sim-storage.ts'

function behindCompactedLeader(): Cluster {
  const cluster = new Cluster({ ids: [1, 2, 3] })
  cluster.elect(1)
  cluster.crash(3)
  for (let i = 0; i < 10; i++) cluster.propose(1, `p${i}`)
  cluster.stabilize()
  cluster.compact(1)
  return cluster
}

describe('§7 log compaction', () => {
  it('a follower behind the leader\'s log start gets the snapshot and catches up from it', () => {
    const cluster = behindCompactedLeader()
    expect(cluster.replica(1).storage.firstIndex()).toBe(12)
    cluster.restart(3)
    cluster.tickAll(3)
    const replica = cluster.replica(3)
    expect(replica.readies.some((ready) => ready.snapshot?.meta.index === 11)).toBe(true)
    expect(replica.machine.image()).toEqual(cluster.replica(1).machine.image())
    expect(replica.storage.snapshotMeta()?.index).toBe(11)
    cluster.propose(1, 'after')
    cluster.stabilize()
    expect(cluster.log(3)).toEqual(['12@1:after'])
    // Its restart applied the noop again from its log; p0..p9 came in the snapshot.
    expect(replica.applied).toEqual(['noop', 'after'])
  })

  it('a lost snapshot is sent again', () => {
    const cluster = behindCompactedLeader()
    cluster.restart(3)
    cluster.intercept = (message) => (message.type === 'snapshot' ? null : message)
    cluster.tickAll(3)
    expect(cluster.core(1).status().progress?.get(3)?.state).toBe('snapshot')
    cluster.intercept = null
    cluster.tickAll(25)
    expect(cluster.replica(3).storage.snapshotMeta()?.index).toBe(11)
    expect(cluster.core(1).status().progress?.get(3)?.state).toBe('replicate')
  })

  it('the snapshot brings its membership with it', () => {
    const cluster = new Cluster({ ids: [1, 2, 3, 4], voters: [1, 2, 3] })
    cluster.elect(1)
    cluster.crash(4)
    expect(cluster.core(1).proposeMembership([1, 2, 3, 4])).not.toBeNull()
    cluster.crash(3)
    // With 4 voters a majority is 3: replica 4 must catch up for anything to commit.
    cluster.stabilize()
    cluster.restart(3)
    cluster.stabilize()
    for (let i = 0; i < 3; i++) cluster.propose(1, `p${i}`)
    cluster.stabilize()
    cluster.compact(1)
    cluster.restart(4)
    cluster.tickAll(3)
    expect(cluster.core(4).voters()).toEqual([1, 2, 3, 4])
    expect(cluster.replica(4).storage.snapshotMeta()?.extra).toEqual(simMembership.encode([1, 2, 3, 4]))
  })

  it('a follower whose log holds the snapshot\'s last entry only moves its commit index', () => {
    const cluster = new Cluster({
      ids: [1, 2, 3],
      logs: { 2: [1, 1, 1, 1] },
      hardStates: { 2: { term: 1, vote: 0, commit: 1 } },
    })
    const follower = cluster.core(2)
    const snapshot: Snapshot = {
      meta: { index: 3, term: 1, extra: simMembership.encode([1, 2, 3]) },
      chunks: [encodeImage({ index: 3, chain: 0, digest: 0 })],
    }
    follower.step({ type: 'snapshot', from: 1, to: 2, term: 1, snapshot })
    const ready = follower.ready()
    expect(ready.snapshot).toBeNull()
    expect(ready.hardState?.commit).toBe(3)
    expect(ready.committed.map((entry) => entry.index)).toEqual([1, 2, 3]) // 1 again, after the restart
    expect(ready.messages).toMatchObject([{ type: 'appendReply', success: true, index: 3 }])
    expect(follower.status().lastIndex).toBe(4)
  })

  it('a snapshot at or below the commit index is answered with the commit index and not installed', () => {
    const cluster = new Cluster({
      ids: [1, 2, 3],
      logs: { 2: [1, 1, 1, 1] },
      hardStates: { 2: { term: 1, vote: 0, commit: 4 } },
    })
    const follower = cluster.core(2)
    const snapshot: Snapshot = { meta: { index: 2, term: 1, extra: new Uint8Array() }, chunks: [] }
    follower.step({ type: 'snapshot', from: 1, to: 2, term: 1, snapshot })
    const ready = follower.ready()
    expect(ready.snapshot).toBeNull()
    expect(ready.messages).toMatchObject([{ type: 'appendReply', success: true, index: 4 }])
  })

  it('a follower with a conflicting log drops it for the snapshot', () => {
    const cluster = new Cluster({
      ids: [1, 2, 3],
      logs: { 2: [1, 2, 2, 2, 2] },
      hardStates: { 2: { term: 2, vote: 0, commit: 1 } },
    })
    const follower = cluster.core(2)
    const snapshot: Snapshot = {
      meta: { index: 3, term: 3, extra: simMembership.encode([1, 2, 3]) },
      chunks: [encodeImage({ index: 3, chain: 0, digest: 0 })],
    }
    follower.step({ type: 'snapshot', from: 1, to: 2, term: 3, snapshot })
    expect(follower.status()).toMatchObject({ lastIndex: 3, commit: 3, term: 3 })
    cluster.flush()
    const replica = cluster.replica(2)
    expect(replica.readies.some((ready) => ready.snapshot === snapshot)).toBe(true)
    expect(cluster.log(2)).toEqual([])
    expect(replica.storage.firstIndex()).toBe(4)
    // Entries that follow go after the snapshot.
    follower.step({ type: 'append', from: 1, to: 2, term: 3, prevIndex: 3, prevTerm: 3, entries: [{ index: 4, term: 3, data: text('x') }], commit: 4, durable: 0 })
    cluster.flush()
    expect(cluster.log(2)).toEqual(['4@3:x'])
    expect(replica.applied.at(-1)).toBe('x')
  })
})
