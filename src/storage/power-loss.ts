// A power cut, simulated on a real RocksDB directory (RELIABILITY.md, D2).
// A SIGKILL loses nothing the process handed to the kernel: the page cache
// survives it, so a replica that never synced would pass every kill test.
// A power cut also loses every write no completed sync covered. This shim
// makes that loss happen, for the fault suite (failpoint `power-loss`):
//
// - PowerLossJournal wraps the store and, each time a synced write completes
//   (before its caller goes on to answer anybody), records in the data
//   directory what that sync made durable: the log through its last index
//   and the hard state. RocksDB has one WAL, so a completed sync covers every
//   write before it too. A sync still in flight covers nothing.
// - The test cuts the power: SIGKILL, then a POWER-CUT file in the data
//   directory. On the next start, rollBackPowerCut drops what the journal
//   does not vouch for (log entries after the durable last index, a newer
//   hard state, a snapshot beyond the durable log) before the store opens.
//
// The model sees only herd's own keys, not inside RocksDB; an unsynced write
// that truncated durable entries cannot bring them back (herd syncs every
// append, so only the negative control, `unsafe-no-sync`, does that).
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RocksLevel } from '@nxtedition/rocksdb'
import { decodeLogStart, decodeSyncedThrough, encodeHardState, encodeSyncedThrough, hardStateKey, logStartKey, snapshotMetaKey, snapshotMetaKeysEnd, syncedThroughKey } from './rocks-codec.ts'
import { segmentDirName } from './rocks-store.ts'
import { SegmentLog } from './segment-log.ts'
import { emptyHardState, type HardState, type LogRecord, type LogStore, type Snapshot, type SnapshotMeta } from './log-store.ts'

export const powerCutFile = 'POWER-CUT'
const journalFile = 'power-loss-journal.json'

interface Durable {
  readonly lastIndex: number
  readonly hardState: HardState
}

export class PowerLossJournal implements LogStore {
  readonly #inner: LogStore
  readonly #path: string
  /** What the writes issued so far add up to, synced or not. */
  #issued: Durable

  constructor(inner: LogStore, dir: string) {
    this.#inner = inner
    this.#path = join(dir, journalFile)
    this.#issued = { lastIndex: inner.lastIndex(), hardState: inner.hardState() }
    // What the store holds on open survived the last start: durable by definition.
    if (!existsSync(this.#path)) this.#record(this.#issued)
  }

  hardState(): HardState {
    return this.#inner.hardState()
  }
  snapshotMeta(): SnapshotMeta | null {
    return this.#inner.snapshotMeta()
  }
  firstIndex(): number {
    return this.#inner.firstIndex()
  }
  lastIndex(): number {
    return this.#inner.lastIndex()
  }
  term(index: number): number | undefined {
    return this.#inner.term(index)
  }
  entries(lo: number, hi: number, bytesMax: number): LogRecord[] {
    return this.#inner.entries(lo, hi, bytesMax)
  }
  loadSnapshot(): Snapshot | null {
    return this.#inner.loadSnapshot()
  }

  append(entries: readonly LogRecord[], hardState: HardState | null, sync: boolean): Promise<void> {
    const last = entries.at(-1)
    const after = this.#issue({ lastIndex: last?.index ?? this.#issued.lastIndex, hardState: hardState ?? this.#issued.hardState })
    const written = this.#inner.append(entries, hardState, sync)
    return sync ? written.then(() => this.#record(after)) : written
  }

  saveHardState(hardState: HardState): Promise<void> {
    const after = this.#issue({ lastIndex: this.#issued.lastIndex, hardState })
    return this.#inner.saveHardState(hardState).then(() => this.#record(after))
  }

  saveSnapshot(snapshot: Snapshot): Promise<void> {
    // A snapshot beyond the log replaces it (a follower installing the leader's).
    const after = this.#issue({ lastIndex: Math.max(this.#issued.lastIndex, snapshot.meta.index), hardState: this.#issued.hardState })
    return this.#inner.saveSnapshot(snapshot).then(() => this.#record(after))
  }

  /** Compaction is an unsynced range delete: losing it only brings back entries below a durable snapshot. */
  compact(throughIndex: number): Promise<void> {
    return this.#inner.compact(throughIndex)
  }

  close(): Promise<void> {
    return this.#inner.close()
  }

  #issue(after: Durable): Durable {
    this.#issued = after
    return after
  }

  #record(durable: Durable): void {
    // No fsync: the journal is the test's record of the disk, and a SIGKILL keeps the page cache.
    // A rename, so that a SIGKILL part way leaves the previous record whole.
    writeFileSync(`${this.#path}.new`, JSON.stringify(durable))
    renameSync(`${this.#path}.new`, this.#path)
  }
}

/**
 * Before the store opens: if the test cut the power (POWER-CUT in `dir`),
 * drops every write the journal does not vouch for, then removes the mark.
 * Answers what it dropped, for the log.
 */
export async function rollBackPowerCut(dir: string): Promise<string | null> {
  const mark = join(dir, powerCutFile)
  if (!existsSync(mark)) return null
  const journal = join(dir, journalFile)
  const durable: Durable = existsSync(journal) ? (JSON.parse(readFileSync(journal, 'utf8')) as Durable) : { lastIndex: 0, hardState: emptyHardState }
  const db = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open({ createIfMissing: true })
  let dropped = 0
  try {
    const [logStartValue] = db._getManySync([logStartKey])
    const logStart = logStartValue ? decodeLogStart(logStartValue) : { index: 0, term: 0, minEpoch: 0 }
    const { log } = SegmentLog.open(join(dir, segmentDirName), { afterIndex: logStart.index, minEpoch: logStart.minEpoch }, () => undefined)
    try {
      dropped = log.discardAfter(Math.max(durable.lastIndex, logStart.index))
    } finally {
      await log.close()
    }
    // Snapshots beyond the durable log were still on their way to the disk.
    await db.clear({ gte: snapshotMetaKey(durable.lastIndex + 1), lt: snapshotMetaKeysEnd })
    const hardState = { ...durable.hardState, commit: Math.min(durable.hardState.commit, durable.lastIndex) }
    await db.put(hardStateKey, encodeHardState(hardState), { sync: true })
    // The mark was saved after a sync the journal had not recorded yet: it may vouch for entries just dropped.
    const [syncedValue] = db._getManySync([syncedThroughKey])
    if (syncedValue && decodeSyncedThrough(syncedValue) > durable.lastIndex) {
      await db.put(syncedThroughKey, encodeSyncedThrough(durable.lastIndex), { sync: true })
    }
  } finally {
    await db.close()
  }
  rmSync(mark)
  return `power cut: kept the log through ${durable.lastIndex} and hard state term ${durable.hardState.term} vote ${durable.hardState.vote}; dropped ${dropped} unsynced entries`
}
