// storage/ keeps what a replica must find again after a crash: the Raft log,
// the hard state (term, vote, commit) and snapshots of the tree. It is the
// LogStore contract of log-store.ts and two keepers of it:
//
// - openRocksStore(dir): RocksDB through @nxtedition/rocksdb, the real thing.
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
//   big-endian, so RocksDB's key order is log order. 'f' log start (index and
//   term of the entry just before the log), 'h' hard state, 'l'+u64 entries,
//   's'+u64+u32 snapshot chunks, 'S'+u64 snapshot meta. Every value carries a
//   crc32 over key and payload; a mismatch is a DataInconsistency error, on
//   open (the whole log and the newest snapshot meta are checked) or on read.
// - Atomicity: an append (entries, the deletion of a conflicting suffix, the
//   hard state) is one write batch. A snapshot is chunk batches and then its
//   meta; without the meta the chunks are ignored on open and removed, so a
//   crash part way leaves the previous snapshot. Installing a snapshot that
//   the log does not hold (beyond lastIndex, or another term at its index,
//   Raft §7) moves the log start in the same batch as the meta.
// - Durability: sync=true means RocksDB's WriteOptions.sync (write, then
//   fdatasync of the WAL), and the promise settles only after it returned.
//   A synced write also makes every earlier write durable (one WAL). Hard
//   state, snapshots and compaction are always synced; only append may not be.
// - In memory, state changes only after its write succeeded, in the same
//   synchronous step. A failed write fences the store (every later write is
//   refused): the caller must stop, never retry and assume it durable.
// - Entries must be contiguous, start within [firstIndex, lastIndex + 1] and
//   have non-decreasing terms; anything else is a programmer error (assert).
// - Range deletes (compaction, dropped snapshots) are unsynced; anything they
//   miss after a crash lies below the log start or the newest snapshot, is
//   never read, and is deleted again on open.
// - One process per directory: RocksDB's LOCK; a second open fails with a
//   clear SystemError.
//
// Must never import: tree/, replication/, api/ (nor sessions/, watches/).
// storage/ sits below them and imports only the leaves (assert.ts,
// errors.ts) and RocksDB.

export { emptyHardState } from './log-store.ts'
export type { HardState, LogRecord, LogStore, Snapshot, SnapshotMeta } from './log-store.ts'
export { MemoryStore } from './memory-store.ts'
export { openRocksStore, rocksStoreDefaults } from './rocks-store.ts'
export { PowerLossJournal, powerCutFile, rollBackPowerCut } from './power-loss.ts'
export type { RocksStoreOptions } from './rocks-store.ts'
