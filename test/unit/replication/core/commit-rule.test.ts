// The commit rule (Raft §5.4.2, Figure 8): a leader commits by counting
// replicas only entries of its own term; an older entry on a majority is not
// committed and can still be overwritten.
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../../support/raft-sim-cluster.ts'
import { figure8Cluster, figure8StepD, figure8UpToC } from '../../../support/raft-sim-figure-8.ts'

describe('§5.4.2 committing entries from previous terms', () => {
  it('Figure 8 (c): an old entry on a majority is not committed by counting', () => {
    const cluster = figure8Cluster()
    expect(figure8UpToC(cluster)).toBe(1)
    for (const id of [1, 2, 3]) expect(cluster.log(id)[1]).toBe('2@2:2@2')
  })

  it('Figure 8 (d): so a leader of a later term may overwrite it, and no committed entry is lost', () => {
    const cluster = figure8Cluster()
    figure8UpToC(cluster)
    figure8StepD(cluster) // the SafetyChecker watches every step
    expect(cluster.leader()).toBe(5)
    for (const id of [2, 3, 4, 5]) expect(cluster.log(id).slice(0, 3)).toEqual(['1@1:1@1', '2@3:2@3', '3@5:noop'])
  })

  it('Figure 8 (e): once an entry of its own term is committed, the older ones before it are committed with it', () => {
    const cluster = figure8Cluster()
    figure8UpToC(cluster)
    cluster.intercept = null
    cluster.tickAll(2) // the term-4 entry now reaches S2 and S3
    expect(cluster.core(1).status().commit).toBe(3)
    for (const id of [1, 2, 3]) expect(cluster.log(id).slice(0, 3)).toEqual(['1@1:1@1', '2@2:2@2', '3@4:noop'])
    // S5 can no longer win: a majority's last term (4) is newer than its (3).
    cluster.heal()
    cluster.core(5).campaign()
    cluster.stabilize()
    expect(cluster.leader()).toBe(1)
    void Cluster
  })
})
