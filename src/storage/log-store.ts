// The contract between replication and the disk: a log of entries, Raft's
// hard state and snapshots. Two implementations keep it: rocks-store.ts
// (@nxtedition/rocksdb, the real thing) and memory-store.ts (tests and the
// simulator; it can also lose what was not synced, to model a power cut).
// Entries are opaque bytes here; their meaning belongs to tree/codec.ts.

export interface LogRecord {
  /** The log index, which is also the zxid of the entry. Starts at 1. */
  readonly index: number
  /** The Raft term the entry was proposed in. */
  readonly term: number
  readonly data: Uint8Array
}

/** Raft's persistent state besides the log: synced before a vote is answered. */
export interface HardState {
  readonly term: number
  /** The replica voted for in `term`; 0 for none. */
  readonly vote: number
  /** Highest index known committed (an optimisation on restart; never ahead of a quorum). */
  readonly commit: number
}

export const emptyHardState: HardState = Object.freeze({ term: 0, vote: 0, commit: 0 })

export interface SnapshotMeta {
  /** The index of the last entry the snapshot includes. */
  readonly index: number
  /** The term of that entry. */
  readonly term: number
  /** Opaque replication state kept with the snapshot (e.g. the membership); may be empty. */
  readonly extra: Uint8Array
}

export interface Snapshot {
  readonly meta: SnapshotMeta
  /** The serialized state machine, in the chunks it was saved as. */
  readonly chunks: readonly Uint8Array[]
}

export interface LogStore {
  /** The hard state as last saved (emptyHardState on a new store). */
  hardState(): HardState
  /** The newest complete snapshot's metadata, or null. */
  snapshotMeta(): SnapshotMeta | null
  /** Index of the first entry held in the log; lastIndex() + 1 when the log is empty. */
  firstIndex(): number
  /** Index of the last entry held; the snapshot's index (or 0) when the log is empty. */
  lastIndex(): number
  /**
   * The term of the entry at `index`, for index in [firstIndex() - 1, lastIndex()]
   * (firstIndex() - 1 answers from the snapshot, or 0 at index 0); undefined otherwise.
   */
  term(index: number): number | undefined
  /**
   * Entries in [lo, hi), stopping early once their data adds up to more than
   * bytesMax (at least one entry is returned when lo < hi). The range must lie
   * within [firstIndex(), lastIndex() + 1].
   */
  entries(lo: number, hi: number, bytesMax: number): LogRecord[]
  /**
   * Appends entries in one atomic write, together with the hard state when given.
   * The first entry may overwrite the log from its index on (Raft's truncation of a
   * conflicting suffix): every held entry at or after entries[0].index is dropped.
   * It must come after the newest snapshot's index: snapshotted entries are
   * committed, and Raft never rewrites a committed entry.
   * When `sync` is true the promise resolves only after the write is durable.
   * A failed write rejects; callers must then stop (a write that may or may not
   * have reached the disk cannot be retried and assumed durable).
   */
  append(entries: readonly LogRecord[], hardState: HardState | null, sync: boolean): Promise<void>
  /** Saves the hard state alone, synced. */
  saveHardState(hardState: HardState): Promise<void>
  /**
   * Saves a snapshot durably. It becomes the newest snapshot only once all
   * its chunks are written (a crash part way leaves the previous one). Log
   * entries after meta.index are kept; entries up to it may then be compacted.
   * If meta.index is beyond lastIndex(), the whole log is discarded (a follower
   * installing a leader's snapshot).
   */
  saveSnapshot(snapshot: Snapshot): Promise<void>
  /** The newest complete snapshot, or null. */
  loadSnapshot(): Snapshot | null
  /**
   * Drops log entries with index <= throughIndex; throughIndex must not
   * exceed the newest snapshot's index. Older snapshots are dropped too.
   */
  compact(throughIndex: number): Promise<void>
  close(): Promise<void>
}
