// Rebuilds a stopped node's tree from its data directory, independently of
// the node's own start-up path: the newest snapshot (restoreSnapshot), then
// every later log entry decoded (decodeEntry) and applied (DataTree.apply)
// in order. DESIGN.md decision 5 says a restart is exactly this, so a
// restarted node's digest and appliedZxid must equal the replay's; a test
// that compares them catches a node that lost, reordered or invented an
// entry on the way back up.
//
// The node must be stopped: RocksDB's LOCK lets one process hold the
// directory, and a replay of a live store would race its writes anyway.
import { defaults, type Config } from '../../src/config.ts'
import { openRocksStore } from '../../src/storage/index.ts'
import { DataTree, decodeEntry, restoreSnapshot, type Entry, type Outcome, type TreeOptions, type TreeReader } from '../../src/tree/index.ts'

export interface Replay {
  /** The tree as of the last entry in the log. */
  readonly tree: TreeReader
  readonly digest: string
  /** The same digest recomputed from every znode (it must equal `digest`). */
  readonly digestFromScratch: string
  /** The zxid of the last entry applied (the snapshot's, when the log after it is empty). */
  readonly zxid: number
  /** The store's view: the first entry still held (> 1 once the log was truncated) and the last. */
  readonly firstIndex: number
  readonly lastIndex: number
  /** The newest snapshot's index, or null when there is none. */
  readonly snapshotIndex: number | null
  /** The entries applied after the snapshot, in order, with their outcomes. */
  readonly applied: ReadonlyArray<{ readonly entry: Entry; readonly outcome: Outcome }>
  /** The data of a znode as UTF-8 text and its version, or undefined when it does not exist. */
  read(path: string): { readonly data: string; readonly version: number; readonly czxid: number; readonly mzxid: number } | undefined
}

/** The tree limits a node applies with: they must match the node's flags, or apply could decide differently. */
export function treeOptionsOf(config: Partial<Config> = {}): TreeOptions {
  const all = { ...defaults, ...config }
  return {
    znodesMax: all.znodesMax,
    sessionsMax: all.sessionsMax,
    ephemeralsPerSessionMax: all.ephemeralsPerSessionMax,
    idempotencyKeysMax: all.idempotencyKeysMax,
  }
}

/** Opens the stopped node's store read-only in spirit (it writes nothing but RocksDB's own recovery), replays, closes. */
export async function replayDataDir(dataDir: string, options: TreeOptions = treeOptionsOf()): Promise<Replay> {
  const store = await openRocksStore(dataDir)
  try {
    const snapshot = store.loadSnapshot()
    const tree = snapshot === null ? new DataTree(options) : restoreSnapshot(snapshot.chunks, options)
    if (snapshot !== null && tree.zxid !== snapshot.meta.index) {
      throw new Error(`snapshot at index ${snapshot.meta.index} restored a tree at zxid ${tree.zxid}`)
    }
    const firstIndex = store.firstIndex()
    const lastIndex = store.lastIndex()
    if (tree.zxid + 1 < firstIndex) {
      throw new Error(`the log starts at ${firstIndex} but the snapshot ends at ${tree.zxid}: entries in between are lost`)
    }
    const applied: Array<{ entry: Entry; outcome: Outcome }> = []
    for (let lo = tree.zxid + 1; lo <= lastIndex; ) {
      for (const record of store.entries(lo, lastIndex + 1, 4 * 1024 * 1024)) {
        if (record.index !== lo) throw new Error(`expected entry ${lo}, the store gave ${record.index}`)
        const entry = decodeEntry(record.index, record.data)
        applied.push({ entry, outcome: tree.apply(entry).outcome })
        lo = record.index + 1
      }
    }
    const decoder = new TextDecoder()
    return {
      tree,
      digest: tree.digest(),
      digestFromScratch: tree.computeDigestFromScratch(),
      zxid: tree.zxid,
      firstIndex,
      lastIndex,
      snapshotIndex: snapshot?.meta.index ?? null,
      applied,
      read(path) {
        const znode = tree.getData(path)
        if (znode === undefined) return undefined
        return { data: decoder.decode(znode.data), version: znode.stat.version, czxid: znode.stat.czxid, mzxid: znode.stat.mzxid }
      },
    }
  } finally {
    await store.close()
  }
}
