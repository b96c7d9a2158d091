// The W3 checker: multis all or nothing, acknowledged ones kept, failed ones invisible, the counter bumped once per multi.
import { describe, expect, it } from 'vitest'
import { checkMultiState, type MultiRecord } from '../../faults/lib/multi-client.ts'

const records: MultiRecord[] = [
  { tag: 'm0-0', outcome: 'ok' },
  { tag: 'm0-1', outcome: 'fail' },
  { tag: 'm1-0', outcome: 'unknown' },
]

describe('checkMultiState', () => {
  it('accepts whole multis, an unknown one either way', () => {
    expect(checkMultiState({ a: new Set(['m0-0']), b: new Set(['m0-0']), counterVersion: 1 }, records)).toEqual([])
    expect(checkMultiState({ a: new Set(['m0-0', 'm1-0']), b: new Set(['m0-0', 'm1-0']), counterVersion: 2 }, records)).toEqual([])
  })

  it('rejects a multi that took effect in part', () => {
    expect(checkMultiState({ a: new Set(['m0-0', 'm1-0']), b: new Set(['m0-0']), counterVersion: 2 }, records)).toEqual([expect.stringContaining('m1-0 took effect in part')])
  })

  it('rejects a lost acknowledged multi and a visible failed one', () => {
    const failures = checkMultiState({ a: new Set(['m0-1']), b: new Set(['m0-1']), counterVersion: 1 }, records)
    expect(failures).toContainEqual(expect.stringContaining('acknowledged multi m0-0 is gone'))
    expect(failures).toContainEqual(expect.stringContaining('m0-1 failed, yet took effect'))
  })

  it('rejects a counter bumped other than once per multi', () => {
    expect(checkMultiState({ a: new Set(['m0-0']), b: new Set(['m0-0']), counterVersion: 2 }, records)).toEqual([expect.stringContaining('at version 2, but 1 multis took effect')])
  })
})
