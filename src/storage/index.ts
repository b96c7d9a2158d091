// storage/ keeps what a replica must find again after a crash: the Raft log,
// the hard state (term, vote, commit) and snapshots of the tree. It is the
// LogStore contract of log-store.ts and two keepers of it:
//
// - openRocksStore(dir): the real thing. The log's entries in segment files
//   of our own under <dir>/log (segment-log.ts, which says why and how a
//   crash is recovered from); the hard state, the log start, the log epoch
//   and snapshots in RocksDB through @nxtedition/rocksdb.
// - MemoryStore: the same contract in memory, for unit tests and the
//   deterministic simulator, with a power-loss model (simulatePowerLoss drops
//   every write not yet covered by a synced one).
// - PowerLossJournal / rollBackPowerCut: the same power-loss model on a real
//   RocksDB directory, for the fault suite's node processes (failpoint
//   power-loss; power-loss.ts).
//
// Invariants
//
// - Key layout (rocks-codec.ts): one prefix byte per kind of record, numbers
//   big-endian. 'd' synced-through mark (every entry up to it was synced and
//   not cut off since: a log that ends before it is damaged, not torn),
//   'e' log epoch, 'f' log start (index and term of the entry
//   just before the log, and the segment log's floor epoch), 'h' hard state,
//   's'+u64+u32 snapshot chunks, 'S'+u64 snapshot meta ('l'+u64 entries only
//   in stores from before the segment log, moved into it on open). Every
//   value and every segment record carries a crc32; a mismatch is a
//   DataInconsistency error, on open (the whole log and the newest snapshot
//   meta are checked) or on read, except a torn record at the log's tail,
//   past the synced-through mark, which ends the log there.
// - Order of an append: entries written to their segment, fdatasynced (when
//   sync), then the hard state to RocksDB, synced only if its term or vote
//   changed (a commit index alone is an optimisation on restart, and written
//   after the entries it covers, it never points past the durable log). A
//   cut of a conflicting suffix first saves a new log epoch (synced), so
//   the cut-off records can never be read back. A snapshot is chunk batches
//   and then its meta; without the meta the chunks are ignored on open and
//   removed, so a crash part way leaves the previous snapshot. Installing a
//   snapshot that the log does not hold (beyond lastIndex, or another term
//   at its index, Raft §7) moves the log start and a new floor epoch in the
//   same batch as the meta: every record written before is then no longer
//   part of the log.
// - Durability: sync=true means the segments written since the last sync
//   are fdatasynced, and the promise settles only after that returned. A
//   synced append also makes every earlier append durable. Hard state
//   (term, vote), snapshots and compaction are always synced; only append
//   may not be.
// - In memory, state changes only after its write succeeded, in the same
//   synchronous step. A failed write fences the store (every later write is
//   refused): the caller must stop, never retry and assume it durable.
// - Entries must be contiguous, start within [firstIndex, lastIndex + 1] and
//   have non-decreasing terms; anything else is a programmer error (assert).
// - Range deletes (dropped snapshots) and deletions of compacted segments
//   are unsynced; anything they miss after a crash lies below the log start
//   or the newest snapshot, is never read, and is deleted again on open.
// - One process per directory: RocksDB's LOCK; a second open fails with a
//   clear SystemError.
//
// Must never import: tree/, replication/, api/ (nor sessions/, watches/).
// storage/ sits below them and imports only the leaves (assert.ts,
// errors.ts), RocksDB and node:fs.

export { emptyHardState } from './log-store.ts'
export type { HardState, LogRecord, LogStore, Snapshot, SnapshotMeta } from './log-store.ts'
export { MemoryStore } from './memory-store.ts'
export { openRocksStore, rocksStoreDefaults } from './rocks-store.ts'
export { PowerLossJournal, powerCutFile, rollBackPowerCut } from './power-loss.ts'
export type { RocksStoreOptions } from './rocks-store.ts'
