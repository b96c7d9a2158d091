// The W7 checker: sequence numbers unique and in real-time order.
import { describe, expect, it } from 'vitest'
import { checkSequential, type SequentialCreate } from '../../faults/lib/sequential-client.ts'

const create = (client: number, sequence: number, invokeMs: number, completeMs: number): SequentialCreate => ({
  client,
  path: `/w7/n-${String(sequence).padStart(10, '0')}`,
  sequence,
  invokeMs,
  completeMs,
})

describe('checkSequential', () => {
  it('accepts unique numbers in real-time order, concurrent ones in either order', () => {
    expect(checkSequential([create(0, 1, 0, 10), create(1, 3, 5, 12), create(0, 2, 6, 20), create(1, 4, 21, 30)])).toEqual([])
  })

  it('rejects a number handed out twice', () => {
    expect(checkSequential([create(0, 1, 0, 10), create(1, 1, 5, 12)])).toEqual([expect.stringContaining('sequence 1 was handed out twice')])
  })

  it('rejects a create numbered below one that completed before it began', () => {
    const failures = checkSequential([create(0, 5, 0, 10), create(1, 4, 11, 20)])
    expect(failures).toHaveLength(1)
    expect(failures[0]).toContain('got a sequence below /w7/n-0000000005')
  })

  it('does not mistake overlapping creates for disorder', () => {
    expect(checkSequential([create(0, 5, 0, 10), create(1, 4, 9, 20)])).toEqual([])
  })
})
