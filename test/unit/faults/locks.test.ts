// The W6 checker: fenced writes never share a version, and tenures never interleave.
import { describe, expect, it } from 'vitest'
import { checkFencedWrites } from '../../faults/lib/lock-client.ts'

describe('checkFencedWrites', () => {
  it('accepts tenures one after another, in any order of recording', () => {
    expect(checkFencedWrites([{ tenure: 'b', version: 3 }, { tenure: 'a', version: 1 }, { tenure: 'a', version: 2 }, { tenure: 'c', version: 4 }])).toEqual([])
  })

  it('rejects a stale holder writing after the next holder (tenures interleaved)', () => {
    expect(checkFencedWrites([{ tenure: 'a', version: 1 }, { tenure: 'b', version: 2 }, { tenure: 'a', version: 3 }])).toEqual([expect.stringContaining('a wrote version 3 after another holder')])
  })

  it('rejects two writes that made the same version', () => {
    expect(checkFencedWrites([{ tenure: 'a', version: 1 }, { tenure: 'b', version: 1 }])).toContainEqual(expect.stringContaining('two fenced writes made version 1'))
  })
})
