// The terms of the log's entries, kept in memory as runs of equal terms.
//
// Raft asks term(i) on every message it handles, so the rocks store must
// answer without touching the disk. Terms never decrease along a Raft log and
// change only when leadership does, so a log of millions of entries has a
// handful of runs: memory is O(leader changes), not O(entries), and a lookup
// is a binary search over those runs (the tail, asked most, is checked first).

import { assert } from '../assert.ts'

export class TermRuns {
  /** The first index of each run, increasing. */
  private starts: number[] = []
  /** The term of each run, non-decreasing. */
  private terms: number[] = []
  /** The index of the first entry covered. */
  private first: number
  /** The index of the last entry covered; first - 1 when empty. */
  private last: number

  constructor(firstIndex: number) {
    this.first = firstIndex
    this.last = firstIndex - 1
  }

  firstIndex(): number {
    return this.first
  }

  lastIndex(): number {
    return this.last
  }

  /** The term at `index`, or undefined outside [firstIndex, lastIndex]. */
  term(index: number): number | undefined {
    if (index < this.first || index > this.last) return undefined
    let high = this.starts.length - 1
    if (index >= this.starts[high]!) return this.terms[high]
    let low = 0
    // Invariant: starts[low] <= index < starts[high].
    while (high - low > 1) {
      const middle = (low + high) >>> 1
      if (this.starts[middle]! <= index) low = middle
      else high = middle
    }
    return this.terms[low]
  }

  /** Adds the entry at lastIndex + 1. */
  push(index: number, term: number): void {
    assert(index === this.last + 1, `storage: term pushed at ${index}, expected ${this.last + 1}`)
    const runs = this.terms.length
    if (runs === 0 || this.terms[runs - 1] !== term) {
      assert(runs === 0 || term > this.terms[runs - 1]!, `storage: term ${term} at ${index} is below the term before it`)
      this.starts.push(index)
      this.terms.push(term)
    }
    this.last = index
  }

  /** Forgets the entries at `index` and after. */
  truncateFrom(index: number): void {
    if (index > this.last) return
    assert(index >= this.first, `storage: truncation at ${index} is before the first index ${this.first}`)
    while (this.starts.length > 0 && this.starts[this.starts.length - 1]! >= index) {
      this.starts.pop()
      this.terms.pop()
    }
    this.last = index - 1
  }

  /** Forgets the entries at `index` and before. */
  dropThrough(index: number): void {
    if (index < this.first) return
    if (index >= this.last) {
      this.reset(index + 1)
      return
    }
    // The run holding index + 1 becomes the first run, starting there.
    let keep = 0
    while (keep + 1 < this.starts.length && this.starts[keep + 1]! <= index + 1) keep++
    this.starts.splice(0, keep)
    this.terms.splice(0, keep)
    this.starts[0] = index + 1
    this.first = index + 1
  }

  /** Empties the runs; the next entry pushed is at firstIndex. */
  reset(firstIndex: number): void {
    this.starts = []
    this.terms = []
    this.first = firstIndex
    this.last = firstIndex - 1
  }
}
