// The LogStore in memory, for unit tests and the deterministic simulator. It
// keeps the same contract as the rocks store (same checks, same answers) and
// models what a power cut does to RocksDB:
//
// - A write made with sync=false is "unsynced": readers see it at once, but a
//   power loss may drop it.
// - A synced write (and sync()) makes itself and every earlier write durable,
//   as RocksDB's single WAL does: fdatasync covers everything written before.
// - simulatePowerLoss() returns the store a restarted replica would find on
//   disk: only the durable writes. simulateProcessCrash() returns what a
//   kill -9 leaves, which is everything (the page cache survives), with the
//   unsynced writes still unsynced.
//
// Only append() can be unsynced; hard state, snapshots and compaction are
// always synced, as they are in the rocks store. Writes apply synchronously
// when called (the promise only reports it; a broken precondition rejects
// it, as in the rocks store), which keeps the simulator deterministic. Data is copied on the way in, so a caller reusing its
// buffers cannot change the log.

import { assert } from '../assert.ts'
import { assertAppendable } from './append-rules.ts'
import { emptyHardState } from './log-store.ts'
import type { HardState, LogRecord, LogStore, Snapshot, SnapshotMeta } from './log-store.ts'

type Write =
  | { readonly kind: 'append'; readonly entries: readonly LogRecord[]; readonly hardState: HardState | null }
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  | { readonly kind: 'snapshot'; readonly snapshot: Snapshot }
  | { readonly kind: 'compact'; readonly throughIndex: number }

/** The contents of a store at one moment; writes are applied to it in order. */
class MemoryState {
  hardState: HardState = emptyHardState
  snapshot: Snapshot | null = null
  /** Index and term of the entry just before the log. */
  startIndex = 0
  startTerm = 0
  /** log[i] has index startIndex + 1 + i. */
  log: LogRecord[] = []

  clone(): MemoryState {
    const copy = new MemoryState()
    copy.hardState = this.hardState
    copy.snapshot = this.snapshot
    copy.startIndex = this.startIndex
    copy.startTerm = this.startTerm
    copy.log = this.log.slice()
    return copy
  }

  lastIndex(): number {
    return this.startIndex + this.log.length
  }

  term(index: number): number | undefined {
    if (index === this.startIndex) return this.startTerm
    return this.log[index - this.startIndex - 1]?.term
  }

  apply(write: Write): void {
    switch (write.kind) {
      case 'append': {
        const first = write.entries[0]
        if (first !== undefined) {
          this.log.length = first.index - this.startIndex - 1
          for (const entry of write.entries) this.log.push(entry)
        }
        if (write.hardState !== null) this.hardState = write.hardState
        return
      }
      case 'hardState':
        this.hardState = write.hardState
        return
      case 'snapshot': {
        const { meta } = write.snapshot
        const keepsLog = meta.index <= this.lastIndex() && this.term(meta.index) === meta.term
        this.snapshot = write.snapshot
        if (!keepsLog) {
          this.startIndex = meta.index
          this.startTerm = meta.term
          this.log = []
        }
        return
      }
      case 'compact': {
        if (write.throughIndex <= this.startIndex) return
        const term = this.term(write.throughIndex)
        assert(term !== undefined)
        this.log = this.log.slice(write.throughIndex - this.startIndex)
        this.startIndex = write.throughIndex
        this.startTerm = term
        return
      }
    }
  }
}

export class MemoryStore implements LogStore {
  /** What readers see: every write made. */
  private current: MemoryState
  /** What survives a power loss: every write up to the last synced one. */
  private durable: MemoryState
  /** Writes made since the last synced one, oldest first. */
  private unsynced: Write[]
  private closed = false

  constructor() {
    this.current = new MemoryState()
    this.durable = new MemoryState()
    this.unsynced = []
  }

  hardState(): HardState {
    this.assertOpen()
    return this.current.hardState
  }

  snapshotMeta(): SnapshotMeta | null {
    this.assertOpen()
    return this.current.snapshot?.meta ?? null
  }

  firstIndex(): number {
    this.assertOpen()
    return this.current.startIndex + 1
  }

  lastIndex(): number {
    this.assertOpen()
    return this.current.lastIndex()
  }

  term(index: number): number | undefined {
    this.assertOpen()
    return this.current.term(index)
  }

  entries(lo: number, hi: number, bytesMax: number): LogRecord[] {
    this.assertOpen()
    const { startIndex, log } = this.current
    assert(
      startIndex < lo && lo <= hi && hi <= this.current.lastIndex() + 1,
      `storage: entries [${lo}, ${hi}) outside the log [${startIndex + 1}, ${this.current.lastIndex() + 1})`,
    )
    const result: LogRecord[] = []
    let bytes = 0
    for (let index = lo; index < hi; index++) {
      const record = log[index - startIndex - 1]!
      bytes += record.data.length
      if (result.length > 0 && bytes > bytesMax) break
      result.push(record)
    }
    return result
  }

  async append(entries: readonly LogRecord[], hardState: HardState | null, sync: boolean): Promise<void> {
    this.assertOpen()
    this.assertAppendable(entries)
    const copies = entries.map((entry) =>
      Object.freeze({ index: entry.index, term: entry.term, data: new Uint8Array(entry.data) }),
    )
    this.write({ kind: 'append', entries: copies, hardState: hardState && Object.freeze({ ...hardState }) }, sync)
  }

  private assertAppendable(entries: readonly LogRecord[]): void {
    assertAppendable(entries, {
      firstIndex: this.current.startIndex + 1,
      lastIndex: this.current.lastIndex(),
      snapshotIndex: this.snapshotMeta()?.index ?? 0,
      term: (index) => this.current.term(index),
    })
  }


  async saveHardState(hardState: HardState): Promise<void> {
    this.assertOpen()
    this.write({ kind: 'hardState', hardState: Object.freeze({ ...hardState }) }, true)
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    this.assertOpen()
    const { meta } = snapshot
    const previous = this.current.snapshot?.meta.index ?? 0
    assert(meta.index > previous, `storage: snapshot at ${meta.index} is not newer than the one at ${previous}`)
    assert(meta.index > this.current.startIndex, 'storage: snapshot is older than the log start')
    const copy: Snapshot = Object.freeze({
      meta: Object.freeze({ index: meta.index, term: meta.term, extra: new Uint8Array(meta.extra) }),
      chunks: Object.freeze(snapshot.chunks.map((chunk) => new Uint8Array(chunk))),
    })
    this.write({ kind: 'snapshot', snapshot: copy }, true)
  }

  loadSnapshot(): Snapshot | null {
    this.assertOpen()
    return this.current.snapshot
  }

  async compact(throughIndex: number): Promise<void> {
    this.assertOpen()
    const snapshotIndex = this.current.snapshot?.meta.index
    assert(
      snapshotIndex !== undefined && throughIndex <= snapshotIndex,
      `storage: compact through ${throughIndex} beyond the newest snapshot (${snapshotIndex ?? 'none'})`,
    )
    this.write({ kind: 'compact', throughIndex }, true)
  }

  async close(): Promise<void> {
    this.closed = true
  }

  /** Makes every write so far durable, as a synced write would. */
  async sync(): Promise<void> {
    this.assertOpen()
    this.makeDurable()
  }

  /** How many writes a power loss would drop now. */
  unsyncedWrites(): number {
    return this.unsynced.length
  }

  /**
   * The store a replica finds after the power was cut now: the durable
   * writes only. This store is dead from then on (the process died with it).
   */
  simulatePowerLoss(): MemoryStore {
    this.closed = true
    return MemoryStore.fromStates(this.durable.clone(), this.durable.clone(), [])
  }

  /**
   * The store a replica finds after its process was killed now: everything
   * written survives in the page cache, but unsynced writes stay exposed to
   * a later power loss. This store is dead from then on.
   */
  simulateProcessCrash(): MemoryStore {
    this.closed = true
    return MemoryStore.fromStates(this.current.clone(), this.durable.clone(), this.unsynced.slice())
  }

  private static fromStates(current: MemoryState, durable: MemoryState, unsynced: Write[]): MemoryStore {
    const store = new MemoryStore()
    store.current = current
    store.durable = durable
    store.unsynced = unsynced
    return store
  }

  private write(write: Write, sync: boolean): void {
    this.current.apply(write)
    this.unsynced.push(write)
    if (sync) this.makeDurable()
  }

  private makeDurable(): void {
    for (const write of this.unsynced) this.durable.apply(write)
    this.unsynced = []
  }

  private assertOpen(): void {
    assert(!this.closed, 'storage: memory store used after close (or after a simulated crash)')
  }
}
