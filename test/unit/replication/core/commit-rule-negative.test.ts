// Negative control for the §5.4.2 test and the SafetyChecker: with the
// current-term rule replaced by plain counting, Figure 8's leader commits its
// old entry in (c), and the checker reports the loss of that committed entry
// in (d). It proves the scenario reaches the rule and the checker can fail.
import { describe, expect, it, vi } from 'vitest'
import { figure8Cluster, figure8StepD, figure8UpToC } from '../../../support/raft-sim-figure-8.ts'

vi.mock('../../../../src/replication/core/commit-rule.ts', () => ({
  isCommittableByCount: (entryTerm: number | undefined) => entryTerm !== undefined,
}))

describe('§5.4.2 negative control: commit by counting alone', () => {
  it('Figure 8 commits the old entry in (c) and loses it in (d), and the checker says so', () => {
    const cluster = figure8Cluster()
    expect(figure8UpToC(cluster)).toBe(2)
    expect(() => figure8StepD(cluster)).toThrow(/leader completeness/)
  })
})
