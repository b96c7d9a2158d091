// What every LogStore checks of an append before writing it: a violation is
// a programmer error in replication, never a disk condition, so it asserts.
import { assert } from '../assert.ts'
import type { LogRecord } from './log-store.ts'

export interface LogBounds {
  /** Index of the first entry held (the entry before it is the log start). */
  readonly firstIndex: number
  readonly lastIndex: number
  /** The newest snapshot's index, 0 without one. */
  readonly snapshotIndex: number
  term(index: number): number | undefined
}

/**
 * Entries must be contiguous, start within [firstIndex, lastIndex + 1] and
 * after the newest snapshot (a snapshot covers committed entries, which Raft
 * never rewrites), and carry positive terms that never decrease.
 */
export function assertAppendable(entries: readonly LogRecord[], log: LogBounds): void {
  const first = entries[0]
  if (first === undefined) return
  assert(
    log.firstIndex <= first.index && first.index <= log.lastIndex + 1,
    `storage: append at ${first.index} outside [${log.firstIndex}, ${log.lastIndex + 1}]`,
  )
  assert(first.index > log.snapshotIndex, `storage: append at ${first.index} rewrites entries covered by snapshot ${log.snapshotIndex}`)
  let previousTerm = log.term(first.index - 1)
  assert(previousTerm !== undefined)
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as LogRecord
    assert(entry.index === first.index + i, `storage: append of non-contiguous entries (${entry.index} at position ${i})`)
    assert(
      Number.isSafeInteger(entry.term) && entry.term >= previousTerm && entry.term > 0,
      `storage: entry ${entry.index} has term ${entry.term}, below the ${previousTerm} before it`,
    )
    previousTerm = entry.term
  }
}
