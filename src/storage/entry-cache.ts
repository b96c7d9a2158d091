// The newest log entries, kept in memory so that entries() rarely reads the
// disk: a leader sends its followers the tail of its log, and an entry is
// usually read back within milliseconds of being appended.
//
// Invariant: the cache holds a contiguous run of entries that ends at the
// log's last index (or nothing), and the data it holds adds up to at most
// bytesMax. Oldest entries are dropped first.

import { assert } from '../assert.ts'
import type { LogRecord } from './log-store.ts'

/** Bookkeeping bytes counted per entry besides its data, so that many tiny entries are bounded too. */
const entryOverheadBytes = 64

export class EntryCache {
  private readonly bytesMax: number
  /** Slots before `head` are dead (undefined), so their data can be collected. */
  private records: (LogRecord | undefined)[] = []
  /** Position in `records` of the oldest entry held. */
  private head = 0
  private bytes = 0

  constructor(bytesMax: number) {
    assert(Number.isSafeInteger(bytesMax) && bytesMax >= 0, `storage: bad cache size ${bytesMax}`)
    this.bytesMax = bytesMax
  }

  /** The index of the oldest entry held, or undefined when empty. */
  firstIndex(): number | undefined {
    return this.records[this.head]?.index
  }

  get(index: number): LogRecord | undefined {
    const first = this.firstIndex()
    if (first === undefined || index < first) return undefined
    return this.records[this.head + index - first]
  }

  /** Adds entries that follow the newest held; drops the oldest to stay within bytesMax. */
  push(record: LogRecord): void {
    const newest = this.records[this.records.length - 1]
    if (this.head < this.records.length) {
      assert(newest !== undefined && record.index === newest.index + 1, 'storage: cache entries must be contiguous')
    }
    this.records.push(record)
    this.bytes += record.data.length + entryOverheadBytes
    this.trim()
  }

  /** Forgets the entries at `index` and after. */
  truncateFrom(index: number): void {
    const first = this.firstIndex()
    if (first === undefined) return
    if (index <= first) {
      this.clear()
      return
    }
    const end = this.head + index - first
    for (let i = end; i < this.records.length; i++) this.bytes -= this.records[i]!.data.length + entryOverheadBytes
    this.records.length = Math.min(this.records.length, end)
  }

  /** Forgets the entries at `index` and before. */
  dropThrough(index: number): void {
    while (this.head < this.records.length && this.records[this.head]!.index <= index) this.dropOldest()
    this.compactArray()
  }

  clear(): void {
    this.records = []
    this.head = 0
    this.bytes = 0
  }

  private trim(): void {
    while (this.bytes > this.bytesMax && this.head < this.records.length) this.dropOldest()
    this.compactArray()
  }

  private dropOldest(): void {
    const record = this.records[this.head]!
    this.bytes -= record.data.length + entryOverheadBytes
    this.records[this.head] = undefined
    this.head++
  }

  /** Reclaims the dead prefix once it is the larger part, so the array's cost stays amortised O(1). */
  private compactArray(): void {
    if (this.head === this.records.length) {
      this.clear()
    } else if (this.head > 1024 && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head)
      this.head = 0
    }
  }
}
