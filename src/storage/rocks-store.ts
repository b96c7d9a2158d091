// The LogStore over RocksDB (@nxtedition/rocksdb) and a segment log of our
// own. RocksDB keeps the hard state, the log start and snapshots (key layout
// and value framing in rocks-codec.ts); the log's entries are in segment
// files under <dir>/log (segment-log.ts: why, and how a crash is recovered
// from). The rules every write follows are in index.ts. In short: entries are
// written and fdatasynced in their segment, then the hard state goes to
// RocksDB (synced only when term or vote changed); in-memory state changes
// only after the writes, and a failed write fences the store.
//
// What is kept in memory so Raft's hot path never reads the disk: the first
// and last index, the hard state, the newest snapshot's meta, the terms of
// all entries (as runs, term-runs.ts) and the newest entries' data up to
// cacheBytesMax (entry-cache.ts). Everything else is read synchronously when
// asked (pread of a segment, MultiGet of snapshot chunks, on the calling
// thread), which is what the synchronous entries() and loadSnapshot() of the
// interface need.

import { join } from 'node:path'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { RocksLevel, type RocksBatch } from '@nxtedition/rocksdb'
import { assert } from '../assert.ts'
import { assertAppendable } from './append-rules.ts'
import { HerdError } from '../errors.ts'
import {
  corrupt,
  decodeEntry,
  decodeHardState,
  decodeLogEpoch,
  decodeLogStart,
  decodeSnapshotChunk,
  decodeSnapshotMeta,
  decodeSyncedThrough,
  encodeHardState,
  encodeLogEpoch,
  encodeLogStart,
  encodeSnapshotChunk,
  encodeSnapshotMeta,
  encodeSyncedThrough,
  entryKey,
  entryKeysEnd,
  hardStateKey,
  indexOfKey,
  logEpochKey,
  logStartKey,
  snapshotChunkKey,
  snapshotChunkKeysEnd,
  snapshotChunksStart,
  snapshotMetaKey,
  snapshotMetaKeysEnd,
  syncedThroughKey,
  type LogStart,
} from './rocks-codec.ts'
import { EntryCache } from './entry-cache.ts'
import { SegmentLog, segmentLogDefaults } from './segment-log.ts'
import { TermRuns } from './term-runs.ts'
import { emptyHardState, type HardState, type LogRecord, type LogStore, type Snapshot, type SnapshotMeta } from './log-store.ts'

const MiB = 1024 * 1024

export interface RocksStoreOptions {
  /**
   * Bytes of the newest entries' data kept in memory to answer entries()
   * without the disk. Small by default: a single replica never reads its log
   * back, and cached entries outlive V8's young generation, so a large cache
   * is pure garbage-collector work at high write rates (measured).
   */
  readonly cacheBytesMax?: number
  /** Bytes of snapshot chunks per write batch: bounds the memory a save holds and how long one write blocks. */
  readonly snapshotBatchBytesMax?: number
  /** Make synced appends durable on libuv's threads (write and fdatasync), so the caller's thread is not blocked. */
  readonly syncInWorker?: boolean
  /** Bytes each log segment is zero-filled to ahead of use (segment-log.ts). */
  readonly segmentBytes?: number
}

export const rocksStoreDefaults = Object.freeze({
  cacheBytesMax: 1 * MiB,
  snapshotBatchBytesMax: 8 * MiB,
  syncInWorker: false,
  segmentBytes: segmentLogDefaults.segmentBytes,
}) satisfies Required<RocksStoreOptions>

/** The segment log's directory inside the store's. */
export const segmentDirName = 'log'

/** Entries per iterator step when scanning the log on open, and the bytes that end a step early. */
const scanEntriesPerStep = 1000
const scanStepBytesMax = 4 * MiB

/** Opens (creating if need be) the store in `dir` and recovers its state. Only one process may hold it. */
export async function openRocksStore(dir: string, options: RocksStoreOptions = {}): Promise<LogStore> {
  const settings = { ...rocksStoreDefaults, ...options }
  assert(Number.isSafeInteger(settings.cacheBytesMax) && settings.cacheBytesMax >= 0, 'storage: bad cacheBytesMax')
  assert(
    Number.isSafeInteger(settings.snapshotBatchBytesMax) && settings.snapshotBatchBytesMax > 0,
    'storage: bad snapshotBatchBytesMax',
  )
  const db = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  try {
    await db.open({ createIfMissing: true })
  } catch (error) {
    throw openFailed(dir, error)
  }
  try {
    const recovered = await recover(db, dir, settings.cacheBytesMax, settings.segmentBytes)
    return new RocksStore(db, dir, recovered, settings.snapshotBatchBytesMax, settings.syncInWorker)
  } catch (error) {
    await db.close()
    throw error
  }
}

function openFailed(dir: string, error: unknown): HerdError {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  const code = (cause as { code?: unknown } | null)?.code
  const message = cause instanceof Error ? cause.message : String(cause)
  if (code === 'LEVEL_LOCKED' || /\block\b/i.test(message)) {
    return new HerdError(
      'SystemError',
      `storage directory ${dir} is already open (its RocksDB LOCK is held by another process or another store in this one); ` +
        'one replica owns one data directory',
      { dir, reason: 'Locked', cause: message },
    )
  }
  return new HerdError('SystemError', `cannot open storage directory ${dir}: ${message}`, { dir, cause: message })
}

interface Recovered {
  readonly logStart: LogStart
  readonly hardState: HardState
  readonly snapshot: StoredSnapshot | null
  readonly terms: TermRuns
  readonly cache: EntryCache
  readonly log: SegmentLog
  readonly syncedThrough: number
}

interface StoredSnapshot {
  readonly meta: SnapshotMeta
  readonly chunkCount: number
}

/**
 * Rebuilds the in-memory state: log start, hard state and the newest complete
 * snapshot from RocksDB, then one pass over the segment log (every record's
 * checksum is checked; the log is the valid prefix, segment-log.ts), and a
 * new epoch for the log, saved before anything is written in it. Entries of
 * a store from before the segment log are moved into it. Then it removes
 * what a crash or an unsynced range delete can leave behind (older
 * snapshots, chunks of a snapshot whose meta was never written).
 */
async function recover(db: RocksLevel, dir: string, cacheBytesMax: number, segmentBytes: number): Promise<Recovered> {
  const [logStartValue, hardStateValue, epochValue, syncedValue] = db._getManySync([logStartKey, hardStateKey, logEpochKey, syncedThroughKey])
  const logStart = logStartValue ? decodeLogStart(logStartValue) : { index: 0, term: 0, minEpoch: 0 }
  const hardState = hardStateValue ? decodeHardState(hardStateValue) : emptyHardState
  const savedEpoch = epochValue ? decodeLogEpoch(epochValue) : 0
  // Absent in stores from before it was kept: then it vouches for nothing.
  const syncedThrough = syncedValue ? decodeSyncedThrough(syncedValue) : 0
  const snapshot = await recoverNewestSnapshot(db)
  const terms = new TermRuns(logStart.index + 1)
  const cache = new EntryCache(cacheBytesMax)
  let previousTerm = logStart.term
  const take = (index: number, term: number, data: Uint8Array): void => {
    if (term < previousTerm) throw corrupt(`log in ${dir}`, `entry ${index} has term ${term}, below the ${previousTerm} before it`)
    terms.push(index, term)
    cache.push(Object.freeze({ index, term, data }))
    previousTerm = term
  }
  const { log, maxEpoch } = SegmentLog.open(
    join(dir, segmentDirName),
    { afterIndex: logStart.index, minEpoch: logStart.minEpoch, syncedThrough },
    (entry) => take(entry.index, entry.term, new Uint8Array(entry.data)),
    { segmentBytes },
  )
  try {
    const epoch = Math.max(savedEpoch, maxEpoch, logStart.minEpoch) + 1
    await db.put(logEpochKey, encodeLogEpoch(epoch), { sync: true })
    log.useEpoch(epoch)
    if (log.lastIndex() === logStart.index) await moveRocksEntries(db, logStart, log, take)
    await db.clear({ gte: entryKey(0), lt: entryKeysEnd })

    const lastIndex = terms.lastIndex()
    if (snapshot === null) {
      if (logStart.index > 0) throw corrupt(`log in ${dir}`, `compacted through ${logStart.index} but no snapshot exists`)
    } else {
      const { index, term } = snapshot.meta
      if (index < logStart.index || index > lastIndex) {
        throw corrupt(`snapshot ${index} in ${dir}`, `outside the log [${logStart.index}, ${lastIndex}]`)
      }
      const termAtIndex = index === logStart.index ? logStart.term : terms.term(index)
      if (termAtIndex !== term) {
        throw corrupt(`snapshot ${index} in ${dir}`, `has term ${term} but the log has term ${termAtIndex} there`)
      }
    }

    // Garbage a crash may leave; none of it is ever read, so clearing it is tidiness, not correctness.
    const newest = snapshot?.meta.index ?? 0
    await db.clear({ gte: snapshotMetaKey(0), lt: snapshotMetaKey(newest) })
    await db.clear({ gte: snapshotChunksStart(0), lt: snapshotChunksStart(newest) })
    await db.clear({ gte: snapshotChunksStart(newest + 1), lt: snapshotChunkKeysEnd })
    return { logStart, hardState, snapshot, terms, cache, log, syncedThrough }
  } catch (error) {
    await log.close()
    throw error
  }
}

/** The newest snapshot meta (the last 'S' key) and a check that all its chunks are there. */
async function recoverNewestSnapshot(db: RocksLevel): Promise<StoredSnapshot | null> {
  const metas = db.iterator({ gte: snapshotMetaKey(0), lt: snapshotMetaKeysEnd, reverse: true, limit: 1 })
  const [newest] = await metas.nextv(1)
  await metas.close()
  if (newest === undefined) return null
  const [key, value] = newest
  assert(value !== undefined)
  const index = indexOfKey(key)
  const stored = decodeSnapshotMeta(key, value, index)

  const chunks = db.iterator({ gte: snapshotChunksStart(index), lt: snapshotChunksStart(index + 1), values: false })
  let chunkCount = 0
  for (let step = await chunks.nextv(scanEntriesPerStep); step.length > 0; step = await chunks.nextv(scanEntriesPerStep)) {
    chunkCount += step.length
  }
  await chunks.close()
  if (chunkCount !== stored.chunkCount) {
    throw corrupt(`snapshot ${index}`, `its meta names ${stored.chunkCount} chunks but ${chunkCount} are stored`)
  }
  return { meta: Object.freeze({ index, term: stored.term, extra: stored.extra }), chunkCount }
}

/**
 * A store from before the segment log kept entries in RocksDB ('l' keys):
 * they are written into the segment log and synced there; the caller then
 * deletes them from RocksDB. A crash part way finds them again next open.
 */
async function moveRocksEntries(db: RocksLevel, logStart: LogStart, log: SegmentLog, take: (index: number, term: number, data: Uint8Array) => void): Promise<void> {
  const iterator = db.iterator({
    gte: entryKey(logStart.index + 1),
    lt: entryKeysEnd,
    highWaterMarkBytes: scanStepBytesMax,
  })
  try {
    let expected = logStart.index + 1
    for (let step = await iterator.nextv(scanEntriesPerStep); step.length > 0; step = await iterator.nextv(scanEntriesPerStep)) {
      const records: LogRecord[] = []
      for (const [key, value] of step) {
        assert(value !== undefined)
        const index = indexOfKey(key)
        if (index !== expected) throw corrupt('log', `entry ${expected} is missing (the next stored is ${index})`)
        const { term, data } = decodeEntry(key, value, index)
        records.push({ index, term, data })
        expected++
      }
      const views = log.write(records)
      records.forEach((record, i) => take(record.index, record.term, views[i] as Uint8Array))
    }
    log.sync()
  } finally {
    await iterator.close()
  }
}

class RocksStore implements LogStore {
  private readonly db: RocksLevel
  private readonly dir: string
  private readonly snapshotBatchBytesMax: number
  /** Index and term of the entry just before the log, and the log's floor epoch. */
  private logStart: LogStart
  private hardStateSaved: HardState
  /** The synced-through mark as saved: every entry up to it was synced and not cut off since (segment-log.ts). */
  private syncedThrough: number
  private snapshot: StoredSnapshot | null
  private readonly terms: TermRuns
  private readonly cache: EntryCache
  private readonly log: SegmentLog
  /** Writes run one at a time, in call order: each one's checks see the state the ones before it left. */
  private writes: Promise<void> = Promise.resolve()
  /** The error of a write that failed; from then on every write is refused. */
  private failure: unknown = null
  private closed = false
  /** Synced appends that only add entries are written and synced on libuv's threads. */
  private readonly syncsOffThread: boolean
  /** Resolves once every append handed to libuv's threads so far is recorded (or failed). */
  private inWriter: Promise<void> = Promise.resolve()
  /** Index and term of the last entry appended, recorded or still on its way to the disk. */
  private projected: { index: number; term: number }
  /** Operations waiting in `writes`; while any wait, appends queue behind them too. */
  private queued = 0

  constructor(db: RocksLevel, dir: string, recovered: Recovered, snapshotBatchBytesMax: number, syncsOffThread: boolean) {
    this.db = db
    this.syncsOffThread = syncsOffThread
    const lastIndex = recovered.terms.lastIndex()
    this.projected = { index: lastIndex, term: lastIndex === recovered.logStart.index ? recovered.logStart.term : (recovered.terms.term(lastIndex) ?? 0) }
    this.dir = dir
    this.snapshotBatchBytesMax = snapshotBatchBytesMax
    this.logStart = recovered.logStart
    this.hardStateSaved = recovered.hardState
    this.syncedThrough = recovered.syncedThrough
    this.snapshot = recovered.snapshot
    this.terms = recovered.terms
    this.cache = recovered.cache
    this.log = recovered.log
  }

  hardState(): HardState {
    this.assertOpen()
    return this.hardStateSaved
  }

  snapshotMeta(): SnapshotMeta | null {
    this.assertOpen()
    return this.snapshot?.meta ?? null
  }

  firstIndex(): number {
    this.assertOpen()
    return this.logStart.index + 1
  }

  lastIndex(): number {
    this.assertOpen()
    return this.terms.lastIndex()
  }

  term(index: number): number | undefined {
    this.assertOpen()
    if (index === this.logStart.index) return this.logStart.term
    return this.terms.term(index)
  }

  entries(lo: number, hi: number, bytesMax: number): LogRecord[] {
    this.assertOpen()
    assert(
      this.logStart.index < lo && lo <= hi && hi <= this.terms.lastIndex() + 1,
      `storage: entries [${lo}, ${hi}) outside the log [${this.logStart.index + 1}, ${this.terms.lastIndex() + 1})`,
    )
    const result: LogRecord[] = []
    const budget = { bytes: 0, bytesMax }
    const cacheFirst = this.cache.firstIndex() ?? hi
    let index = lo
    // The part older than the cache comes from the segments.
    for (; index < Math.min(hi, cacheFirst); index++) {
      if (!takes(result, budget, this.log.read(index, this.terms.term(index) as number))) return result
    }
    for (; index < hi; index++) {
      const record = this.cache.get(index)
      assert(record !== undefined, `storage: cache lost entry ${index}`)
      if (!takes(result, budget, record)) return result
    }
    return result
  }

  append(entries: readonly LogRecord[], hardState: HardState | null, sync: boolean): Promise<void> {
    const first = entries[0]
    if (
      this.syncsOffThread &&
      sync &&
      first !== undefined &&
      this.queued === 0 &&
      first.index === this.projected.index + 1 &&
      (hardState === null || !this.changesVote(hardState))
    ) {
      try {
        this.assertOpen()
        return this.appendOffThread(entries, hardState)
      } catch (error) {
        return Promise.reject(error)
      }
    }
    return this.enqueue(async () => {
      this.assertAppendable(entries)
      const first = entries[0]
      if (first !== undefined && first.index <= this.terms.lastIndex()) {
        // Raft's truncation of a conflicting suffix: what follows is cut off by a new epoch, saved first.
        const epoch = this.log.epoch() + 1
        const batch = this.db.batch()
        batch.put(logEpochKey, encodeLogEpoch(epoch))
        // The mark never vouches for entries that are cut off.
        const mark = this.lowerSyncedThrough(batch, first.index - 1)
        this.commit(batch, true)
        this.syncedThrough = mark
        this.log.useEpoch(epoch)
      }
      const views = this.writeLog(() => this.log.write(entries))
      if (sync) this.writeLog(() => this.log.sync())
      if (first !== undefined) {
        this.terms.truncateFrom(first.index)
        this.cache.truncateFrom(first.index)
        this.remember(entries, views)
      }
      if (hardState !== null) this.saveHardStateAfterLog(hardState, sync, entries.at(-1)?.index)
    })
  }

  /**
   * A synced append that only adds entries and changes no term or vote, made
   * durable on libuv's threads. Its records are laid out at once, so several
   * can be on their way to the disk together; each is recorded here, in
   * order, once durable. Nothing on disk is deleted, so while appends are in
   * flight every entry this store reports is still there; new entries are
   * reported once durable. Checks run against the projected end of the log.
   */
  private appendOffThread(entries: readonly LogRecord[], hardState: HardState | null): Promise<void> {
    if (this.failure !== null) {
      throw new HerdError('SystemError', `storage in ${this.dir} refuses writes after a failed one`, { cause: String(this.failure) })
    }
    const projected = this.projected
    assertAppendable(entries, {
      firstIndex: this.logStart.index + 1,
      lastIndex: projected.index,
      snapshotIndex: this.snapshotMeta()?.index ?? 0,
      term: (index) => (index === projected.index ? projected.term : this.term(index)),
    })
    const last = entries[entries.length - 1] as LogRecord
    this.projected = { index: last.index, term: last.term }
    const written = this.log.writeAsync(entries)
    const previous = this.inWriter
    const recorded = (async (): Promise<void> => {
      let views: Uint8Array[]
      try {
        views = await written
        await this.log.syncAsync()
      } catch (error) {
        this.failure = error
        throw new HerdError('SystemError', `storage write failed in ${this.dir}: ${String(error)}`, { cause: String(error) })
      }
      await previous
      if (this.failure !== null) {
        throw new HerdError('SystemError', `storage in ${this.dir} refuses writes after a failed one`, { cause: String(this.failure) })
      }
      this.remember(entries, views)
      if (hardState !== null) this.saveHardStateAfterLog(hardState, true, last.index)
    })()
    this.inWriter = recorded.catch(() => undefined)
    return recorded
  }

  /** Takes appended entries into the terms and the cache, each with its data as written (`views`, our own copy). */
  private remember(entries: readonly LogRecord[], views: readonly Uint8Array[]): void {
    entries.forEach((entry, i) => {
      this.terms.push(entry.index, entry.term)
      this.cache.push(Object.freeze({ index: entry.index, term: entry.term, data: views[i] as Uint8Array }))
    })
  }

  private changesVote(hardState: HardState): boolean {
    return hardState.term !== this.hardStateSaved.term || hardState.vote !== this.hardStateSaved.vote
  }

  /**
   * The hard state that came with an append, written after its entries: a
   * new term or vote synced (when the append is), a commit index alone not
   * (it is an optimisation on restart, and written after the entries it
   * covers were synced, it never points past them). After a synced append
   * the synced-through mark rides along, up to the append's last entry
   * (`lastIndex`): it costs no write of its own, and a mark that lags (lost
   * with an unsynced batch, or an append without hard state) only vouches
   * for less.
   */
  private saveHardStateAfterLog(hardState: HardState, sync: boolean, lastIndex: number | undefined): void {
    const batch = this.db.batch()
    batch.put(hardStateKey, encodeHardState(hardState))
    const mark = sync && lastIndex !== undefined && lastIndex > this.syncedThrough ? lastIndex : this.syncedThrough
    if (mark !== this.syncedThrough) batch.put(syncedThroughKey, encodeSyncedThrough(mark))
    this.commit(batch, sync && this.changesVote(hardState))
    this.hardStateSaved = Object.freeze({ ...hardState })
    this.syncedThrough = mark
  }

  /**
   * Puts a synced-through mark no higher than `index` in `batch` (a cut of
   * the log at index + 1, a log discarded for a snapshot) and answers it,
   * for the caller to take once the batch is written.
   */
  private lowerSyncedThrough(batch: RocksBatch, index: number): number {
    if (index >= this.syncedThrough) return this.syncedThrough
    batch.put(syncedThroughKey, encodeSyncedThrough(index))
    return index
  }

  private assertAppendable(entries: readonly LogRecord[]): void {
    assertAppendable(entries, {
      firstIndex: this.logStart.index + 1,
      lastIndex: this.terms.lastIndex(),
      snapshotIndex: this.snapshotMeta()?.index ?? 0,
      term: (index) => this.term(index),
    })
  }

  saveHardState(hardState: HardState): Promise<void> {
    return this.enqueue(async () => {
      const batch = this.db.batch()
      batch.put(hardStateKey, encodeHardState(hardState))
      this.commit(batch, true)
      this.hardStateSaved = Object.freeze({ ...hardState })
    })
  }

  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.enqueue(async () => {
      const { meta, chunks } = snapshot
      const previous = this.snapshot?.meta.index ?? 0
      assert(meta.index > previous, `storage: snapshot at ${meta.index} is not newer than the one at ${previous}`)
      assert(meta.index > this.logStart.index, 'storage: snapshot is older than the log start')
      // Raft (§7): keep the log only if it holds the snapshot's last entry; otherwise the log is discarded.
      const keepsLog = meta.index <= this.terms.lastIndex() && this.terms.term(meta.index) === meta.term

      // Chunks go in batches of about snapshotBatchBytesMax, each synced, so neither the memory a
      // save holds nor the time one write blocks the event loop grows with the snapshot.
      let batch = this.db.batch()
      let batchBytes = 0
      for (let n = 0; n < chunks.length; n++) {
        const chunk = chunks[n]!
        const key = snapshotChunkKey(meta.index, n)
        batch.put(key, encodeSnapshotChunk(key, chunk))
        batchBytes += chunk.length
        if (batchBytes >= this.snapshotBatchBytesMax && n < chunks.length - 1) {
          this.commit(batch, true)
          await yieldToEventLoop()
          batch = this.db.batch()
          batchBytes = 0
        }
      }
      // The meta goes last: until it is on disk, the chunks above are ignored on open.
      const extra = new Uint8Array(meta.extra)
      batch.put(snapshotMetaKey(meta.index), encodeSnapshotMeta(meta.index, { term: meta.term, chunkCount: chunks.length, extra }))
      // Without the log, the whole log goes with it: a floor epoch, in the same batch, makes every record written so far not part of it.
      const epoch = this.log.epoch() + 1
      const logStart = { index: meta.index, term: meta.term, minEpoch: epoch }
      let mark = this.syncedThrough
      if (!keepsLog) {
        batch.put(logStartKey, encodeLogStart(logStart))
        batch.put(logEpochKey, encodeLogEpoch(epoch))
        mark = this.lowerSyncedThrough(batch, meta.index)
      }
      this.commit(batch, true)
      this.syncedThrough = mark

      this.snapshot = { meta: Object.freeze({ index: meta.index, term: meta.term, extra }), chunkCount: chunks.length }
      if (!keepsLog) {
        this.logStart = logStart
        this.writeLog(() => this.log.reset(meta.index))
        this.log.useEpoch(epoch)
        this.terms.reset(meta.index + 1)
        this.cache.clear()
        await this.clearOlderSnapshots()
      }
    })
  }

  loadSnapshot(): Snapshot | null {
    this.assertOpen()
    const stored = this.snapshot
    if (stored === null) return null
    const { index } = stored.meta
    const chunks: Uint8Array[] = []
    // A MultiGet per group of keys, so a large snapshot is not asked for in one call.
    for (let n = 0; n < stored.chunkCount; n += 16) {
      const keys: Buffer[] = []
      for (let k = n; k < Math.min(n + 16, stored.chunkCount); k++) keys.push(snapshotChunkKey(index, k))
      const values = this.db._getManySync(keys)
      for (let k = 0; k < keys.length; k++) {
        const what = `snapshot ${index} chunk ${n + k} in ${this.dir}`
        const value = values[k]
        if (value === undefined || value === null) throw corrupt(what, 'missing')
        chunks.push(decodeSnapshotChunk(keys[k]!, value, what))
      }
    }
    return { meta: stored.meta, chunks }
  }

  compact(throughIndex: number): Promise<void> {
    return this.enqueue(async () => {
      const snapshotIndex = this.snapshot?.meta.index
      assert(
        snapshotIndex !== undefined && throughIndex <= snapshotIndex,
        `storage: compact through ${throughIndex} beyond the newest snapshot (${snapshotIndex ?? 'none'})`,
      )
      // At or below the log start there is nothing left to drop (a snapshot install may have moved it past).
      if (throughIndex > this.logStart.index) {
        const term = this.terms.term(throughIndex)
        assert(term !== undefined)
        const logStart = { index: throughIndex, term, minEpoch: this.logStart.minEpoch }
        const batch = this.db.batch()
        batch.put(logStartKey, encodeLogStart(logStart))
        this.commit(batch, true)
        this.logStart = logStart
        this.terms.dropThrough(throughIndex)
        this.cache.dropThrough(throughIndex)
        // Segments wholly below the log start are deleted, unsynced: one that comes back is skipped on open.
        this.writeLog(() => this.log.dropThrough(throughIndex))
      }
      await this.clearOlderSnapshots()
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.writes
    await this.inWriter
    await this.log.close()
    await this.db.close()
  }

  private clearOlderSnapshots(): Promise<void> {
    const newest = this.snapshot?.meta.index ?? 0
    return this.clear(snapshotMetaKey(0), snapshotMetaKey(newest)).then(() =>
      this.clear(snapshotChunksStart(0), snapshotChunksStart(newest)),
    )
  }

  /** Runs `write` after the writes before it; once one has failed, refuses. */
  private enqueue(write: () => Promise<void>): Promise<void> {
    try {
      this.assertOpen()
    } catch (error) {
      return Promise.reject(error)
    }
    const run = async (): Promise<void> => {
      // Appends still on their way through the writer come first: this
      // operation's checks must see them recorded.
      await this.inWriter
      if (this.failure !== null) {
        throw new HerdError('SystemError', `storage in ${this.dir} refuses writes after a failed one`, {
          cause: String(this.failure),
        })
      }
      await write()
    }
    this.queued++
    const result = this.writes.then(run)
    this.writes = result.then(
      () => undefined,
      () => undefined,
    )
    return result.finally(() => {
      this.queued--
      const lastIndex = this.terms.lastIndex()
      this.projected = { index: lastIndex, term: this.term(lastIndex) ?? 0 }
    })
  }

  /**
   * Writes a batch, on this thread: with sync, it returns once RocksDB has
   * written and fdatasynced its WAL. The caller updates its in-memory state
   * right after, in the same synchronous step, so no reader ever sees the
   * disk and the memory disagree. A failure fences the store: a write that
   * may or may not have reached the disk cannot be retried and then assumed
   * durable (the fsyncgate lesson), so the caller must stop and recover.
   */
  private commit(batch: RocksBatch, sync: boolean): void {
    try {
      batch._writeSync({ sync })
    } catch (error) {
      this.failure = error
      throw new HerdError('SystemError', `storage write failed in ${this.dir}: ${String(error)}`, { cause: String(error) })
    } finally {
      void batch.close()
    }
  }

  /** A segment log operation; its failure fences the store, as commit()'s does. */
  private writeLog<T>(operation: () => T): T {
    try {
      return operation()
    } catch (error) {
      this.failure = error
      throw new HerdError('SystemError', `storage write failed in ${join(this.dir, segmentDirName)}: ${String(error)}`, { cause: String(error) })
    }
  }

  private async clear(gte: Buffer, lt: Buffer): Promise<void> {
    if (Buffer.compare(gte, lt) >= 0) return
    try {
      await this.db.clear({ gte, lt })
    } catch (error) {
      this.failure = error
      throw new HerdError('SystemError', `storage range delete failed in ${this.dir}: ${String(error)}`, {
        cause: String(error),
      })
    }
  }

  private assertOpen(): void {
    // The binding dereferences a closed database and kills the process; fail as a programmer error instead.
    assert(!this.closed, `storage in ${this.dir} used after close`)
  }
}

/** Adds `record` unless the result already has entries and it would take them past bytesMax. */
function takes(result: LogRecord[], budget: { bytes: number; readonly bytesMax: number }, record: LogRecord): boolean {
  budget.bytes += record.data.length
  if (result.length > 0 && budget.bytes > budget.bytesMax) return false
  result.push(record)
  return true
}
