// The log as the core sees it: the durable part read through RaftStorage,
// followed by the unstable part kept here (entries appended or received, and
// a leader's snapshot being installed, that no advance() has yet reported
// durable). Nothing read from storage is cached: the driver may compact it
// between Readies.
//
// Invariants
// - Unstable entries are contiguous from #offset; everything before #offset
//   is durable and agrees with them (or the pending snapshot covers it).
// - Entries up to #handedTo (and the snapshot, once #isSnapshotHanded) went
//   out in a Ready; the next Ready carries only what follows.
// - applied <= applying <= committed <= lastIndex().
import { assert } from '../../assert.ts'
import type { RaftEntry, RaftStorage, Snapshot } from './types.ts'

export class RaftLog {
  readonly #storage: RaftStorage
  #entries: RaftEntry[] = []
  #offset: number
  #snapshot: Snapshot | null = null
  #isSnapshotHanded = false
  #handedTo: number
  /** Highest index known committed. */
  committed: number
  /** Highest index handed to the driver to apply (in `committed` or as a snapshot). */
  applying: number
  /** Highest index the driver reported applied (by advance). */
  applied: number

  constructor(storage: RaftStorage, committed: number, applied: number) {
    this.#storage = storage
    this.#offset = storage.lastIndex() + 1
    this.#handedTo = this.#offset - 1
    assert(applied <= committed && committed <= storage.lastIndex(), `raft log: applied ${applied}, commit ${committed} beyond the log (${storage.lastIndex()})`)
    this.committed = committed
    this.applying = applied
    this.applied = applied
  }

  get storage(): RaftStorage {
    return this.#storage
  }

  firstIndex(): number {
    if (this.#snapshot !== null) return this.#snapshot.meta.index + 1
    return this.#storage.firstIndex()
  }

  lastIndex(): number {
    if (this.#entries.length > 0) return this.#offset + this.#entries.length - 1
    if (this.#snapshot !== null) return this.#snapshot.meta.index
    return this.#storage.lastIndex()
  }

  /** The term at index, for index in [firstIndex() - 1, lastIndex()]; undefined outside. */
  term(index: number): number | undefined {
    if (index >= this.#offset) return this.#entries[index - this.#offset]?.term
    if (this.#snapshot !== null) return index === this.#snapshot.meta.index ? this.#snapshot.meta.term : undefined
    if (index < this.#storage.firstIndex() - 1) return undefined
    return this.#storage.term(index)
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex())
    assert(term !== undefined, 'raft log: no term for the last index')
    return term
  }

  /**
   * The last index known durable and part of this log: what a leader may
   * count as its own match. Entries before the unstable part are durable.
   */
  stableLastIndex(): number {
    assert(this.#snapshot === null, 'raft log: a leader never installs a snapshot')
    return this.#offset - 1
  }

  /** The last index known durable, on any replica: 0 while a snapshot it received is on its way to the disk. */
  durableLastIndex(): number {
    return this.#snapshot === null ? this.#offset - 1 : 0
  }

  /** Whether the unstable part holds entries at or below index (not yet known durable). */
  hasUnstableThrough(index: number): boolean {
    return this.#entries.length > 0 && this.#offset <= index
  }

  /**
   * Entries in [lo, hi), at least one when lo < hi, stopping once their data
   * passes bytesMax. lo must be at least firstIndex().
   */
  entries(lo: number, hi: number, bytesMax: number): RaftEntry[] {
    assert(lo >= this.firstIndex() && lo <= hi && hi <= this.lastIndex() + 1, `raft log: entries [${lo}, ${hi}) outside the log`)
    const result: RaftEntry[] = []
    let bytes = 0
    if (lo < this.#offset) {
      const stored = this.#storage.entries(lo, Math.min(hi, this.#offset), bytesMax)
      assert(stored.length > 0 && stored[0]?.index === lo, 'raft log: storage returned no entries')
      for (const entry of stored) {
        bytes += entry.data.length
        result.push(entry)
      }
      if (lo + stored.length < Math.min(hi, this.#offset)) return result
    }
    for (let index = Math.max(lo, this.#offset); index < hi; index++) {
      const entry = this.#entries[index - this.#offset] as RaftEntry
      bytes += entry.data.length
      if (result.length > 0 && bytes > bytesMax) break
      result.push(entry)
    }
    return result
  }

  /** Appends entries; the first may truncate the log from its index on. */
  append(entries: readonly RaftEntry[]): void {
    const first = entries[0]
    if (first === undefined) return
    assert(first.index > this.committed, `raft log: append at ${first.index} rewrites committed entries (commit ${this.committed})`)
    assert(first.index <= this.lastIndex() + 1, `raft log: append at ${first.index} leaves a gap after ${this.lastIndex()}`)
    if (first.index === this.#offset + this.#entries.length) {
      for (const entry of entries) this.#entries.push(entry)
      return
    }
    this.#handedTo = Math.min(this.#handedTo, first.index - 1)
    if (first.index <= this.#offset) {
      this.#offset = first.index
      this.#entries = entries.slice()
      return
    }
    this.#entries = this.#entries.slice(0, first.index - this.#offset).concat(entries)
  }

  /** Replaces the log by a leader's snapshot (§7); everything before and after it is dropped. */
  restore(snapshot: Snapshot): void {
    const { index } = snapshot.meta
    assert(index > this.committed, 'raft log: restoring an older snapshot')
    assert(!this.hasUnstableThrough(index), 'raft log: a snapshot over unstable entries')
    this.#snapshot = snapshot
    this.#isSnapshotHanded = false
    this.#entries = []
    this.#offset = index + 1
    this.#handedTo = index
    this.committed = index
  }

  commitTo(index: number): void {
    assert(index <= this.lastIndex(), `raft log: commit ${index} beyond the last index ${this.lastIndex()}`)
    if (index > this.committed) this.committed = index
  }

  // The Ready's view.

  hasUnhandedEntries(): boolean {
    return this.#offset + this.#entries.length - 1 > this.#handedTo
  }

  unhandedEntries(): RaftEntry[] {
    const from = this.#handedTo + 1 - this.#offset
    return from >= this.#entries.length ? [] : this.#entries.slice(Math.max(0, from))
  }

  unhandedSnapshot(): Snapshot | null {
    return this.#isSnapshotHanded ? null : this.#snapshot
  }

  hasCommittedToApply(): boolean {
    const snapshot = this.unhandedSnapshot()
    return this.committed > Math.max(this.applying, snapshot?.meta.index ?? 0)
  }

  /** The committed entries the next Ready hands out, after its snapshot if any. */
  committedToApply(bytesMax: number): RaftEntry[] {
    const from = Math.max(this.applying, this.unhandedSnapshot()?.meta.index ?? 0) + 1
    if (from > this.committed) return []
    return this.entries(from, this.committed + 1, bytesMax)
  }

  /** Marks what a Ready carried as handed out. */
  handOut(entries: readonly RaftEntry[], snapshot: Snapshot | null, committed: readonly RaftEntry[]): void {
    const last = entries[entries.length - 1]
    if (last !== undefined) this.#handedTo = last.index
    if (snapshot !== null) {
      this.#isSnapshotHanded = true
      this.applying = Math.max(this.applying, snapshot.meta.index)
    }
    const lastCommitted = committed[committed.length - 1]
    if (lastCommitted !== undefined) this.applying = lastCommitted.index
  }

  /**
   * The driver made a Ready durable and applied it: its snapshot leaves the
   * unstable part, and so do its entries, up to the newest one the log still
   * holds with the same term (a later append may have replaced the rest; by
   * log matching everything before a matching entry matches too).
   */
  advance(entries: readonly RaftEntry[], snapshot: Snapshot | null): void {
    if (snapshot !== null && this.#snapshot === snapshot) this.#snapshot = null
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i] as RaftEntry
      if (entry.index < this.#offset) break
      if (this.term(entry.index) !== entry.term) continue
      const count = entry.index + 1 - this.#offset
      this.#entries = this.#entries.slice(count)
      this.#offset = entry.index + 1
      break
    }
    this.applied = this.applying
  }
}
