// One-shot watches, ZooKeeper's rules (ZOOKEEPER.md section 8):
//
//   kind      armed by       fires on
//   data      getData        NodeDataChanged, NodeDeleted
//   exists    exists         NodeCreated, NodeDeleted, NodeDataChanged
//   children  getChildren    NodeChildrenChanged, NodeDeleted
//
// A watch fires once, for the first matching change after the zxid it was
// armed at, and is gone. `data` and `children` watches need the znode to
// exist when armed (ZooKeeper's getData and getChildren leave no watch on a
// missing znode); `exists` watches work either way.
//
// "Armed at" may be older than what this replica has applied: a client reads
// at zxid z, then opens the watch naming z, and must not miss a change that
// landed in between. The registry keeps the most recent events (bounded),
// indexed by path, and answers such a watch from them at once; a zxid older
// than what it still holds is refused (Compacted) rather than guessed.
import { HerdError } from '../errors.ts'
import { EventHistory } from './history.ts'
import { LocalStreamCounts, type StreamCounts } from './stream-counts.ts'
import type { Applied, Entry, TreeEvent, TreeEventType, TreeReader } from '../tree/index.ts'

export type WatchKind = 'data' | 'exists' | 'children'

export const watchKinds: readonly WatchKind[] = ['data', 'exists', 'children']

/** Which kinds of watch on the event's path each event type fires. */
const firedKinds: Record<TreeEventType, readonly WatchKind[]> = {
  NodeCreated: ['exists'],
  NodeDeleted: ['data', 'exists', 'children'],
  NodeDataChanged: ['data', 'exists'],
  NodeChildrenChanged: ['children'],
}

export interface WatchSink {
  /** Delivers the watch's one event; the sink then ends its stream. */
  fire(event: TreeEvent): void
}

export interface WatchRequest {
  readonly path: string
  readonly kind: WatchKind
  /** The zxid the client last saw; null = the zxid applied now. Must not exceed the applied zxid. */
  readonly sinceZxid: number | null
  /** Who asked (the client's address), for the per-client limit. */
  readonly clientKey: string
}

export type ArmResult =
  | { readonly type: 'fired'; readonly event: TreeEvent; readonly armedZxid: number }
  | { readonly type: 'armed'; readonly armedZxid: number; release(): void }

export interface WatchRegistryOptions {
  readonly watchStreamsMax: number
  readonly watchStreamsPerClientMax: number
  /** Where watches are counted against the limits; a LocalStreamCounts unless the process shares one. */
  readonly counts?: StreamCounts
  readonly watchHistoryMax: number
}

interface Watch {
  readonly key: string
  readonly clientKey: string
  readonly sink: WatchSink
  isDone: boolean
}

export class WatchRegistry {
  readonly #options: WatchRegistryOptions
  /** `${kind} ${path}` -> the watches waiting there. */
  readonly #watches = new Map<string, Set<Watch>>()
  readonly #counts: StreamCounts
  /** Recent events, to answer a watch armed at an older zxid. */
  readonly #history: EventHistory

  constructor(options: WatchRegistryOptions) {
    this.#options = options
    this.#history = new EventHistory(options.watchHistoryMax)
    this.#counts = options.counts ?? new LocalStreamCounts(options.watchStreamsMax, options.watchStreamsPerClientMax)
  }

  /** Watches held (by every thread sharing the counts). */
  get count(): number {
    return this.#counts.total
  }

  /** The replica's applied-entry listener. */
  readonly onApplied = (entry: Entry, applied: Applied): void => {
    this.#history.startAfter(entry.zxid - 1)
    for (const event of applied.events) {
      this.#history.remember(event)
      for (const kind of firedKinds[event.type]) this.#fire(`${kind} ${event.path}`, event)
    }
  }

  /**
   * The replica installed a leader's snapshot: the tree jumped from `before`
   * to `after` without the entries in between. Each waiting watch is judged
   * by comparing its znode in the two trees, as ZooKeeper re-arms watches
   * against a newer server (created, deleted, data or children changed), and
   * fires if it would have; the event history restarts at the snapshot.
   */
  resync(before: TreeReader, after: TreeReader): void {
    this.#history.restartAfter(after.zxid)
    for (const key of [...this.#watches.keys()]) {
      const space = key.indexOf(' ')
      const kind = key.slice(0, space) as WatchKind
      const path = key.slice(space + 1)
      const event = changeBetween(kind, path, before, after)
      if (event !== null) this.#fire(key, event)
    }
  }

  arm(request: WatchRequest, sink: WatchSink, tree: TreeReader): ArmResult {
    const applied = tree.zxid
    const since = request.sinceZxid ?? applied
    if (since > applied) throw new HerdError('BadArguments', `zxid ${since} is ahead of this replica (applied ${applied})`)
    const horizon = this.#history.horizon ?? applied
    if (since < horizon) {
      // The events since then are gone (a restart, a snapshot, the history's
      // bound): the znode's stat decides, where it can (changeSince).
      const judged = changeSince(request.kind, request.path, since, tree)
      if (judged === 'unknown') {
        throw new HerdError('Compacted', `zxid ${since} is older than the oldest event this replica keeps (${horizon}), and ${request.path} does not exist now: whether it existed in between is not known here; read again and watch from the new zxid`)
      }
      if (judged !== null) return { type: 'fired', event: judged, armedZxid: since }
    } else if (since < applied) {
      const kind = request.kind
      const missed = this.#history.firstSince(request.path, since, (type) => firedKinds[type].includes(kind))
      if (missed !== undefined) return { type: 'fired', event: missed, armedZxid: since }
    }
    if (request.kind !== 'exists' && tree.exists(request.path) === undefined) {
      throw new HerdError('NoNode', `${request.path} does not exist; only an exists watch can wait for it`)
    }
    const refusal = this.#counts.acquire(request.clientKey)
    if (refusal === 'total') {
      throw new HerdError('Throttled', `this replica holds its maximum of ${this.#options.watchStreamsMax} watch streams`)
    }
    if (refusal === 'client') {
      throw new HerdError('Throttled', `at most ${this.#options.watchStreamsPerClientMax} watch streams per client`)
    }
    const watch: Watch = { key: `${request.kind} ${request.path}`, clientKey: request.clientKey, sink, isDone: false }
    let set = this.#watches.get(watch.key)
    if (set === undefined) {
      set = new Set()
      this.#watches.set(watch.key, set)
    }
    set.add(watch)
    return { type: 'armed', armedZxid: since, release: () => this.#release(watch) }
  }

  #fire(key: string, event: TreeEvent): void {
    const set = this.#watches.get(key)
    if (set === undefined) return
    this.#watches.delete(key)
    for (const watch of set) {
      this.#release(watch)
      watch.sink.fire(event)
    }
  }

  #release(watch: Watch): void {
    if (watch.isDone) return
    watch.isDone = true
    const set = this.#watches.get(watch.key)
    if (set !== undefined) {
      set.delete(watch)
      if (set.size === 0) this.#watches.delete(watch.key)
    }
    this.#counts.release(watch.clientKey)
  }
}

/**
 * The event a `kind` watch armed at `since` would have seen by now, judged
 * from the znode's stat alone (ZooKeeper's rule for the watches a client
 * re-registers on reconnect), null for none, or 'unknown'. A data or children
 * watch was armed on an existing znode: gone or created anew since (czxid)
 * means deleted, else its mzxid (pzxid) tells whether it changed. An exists
 * watch on a znode created since sees it created; on a missing znode nothing
 * tells whether it was created and deleted in between, which ZooKeeper
 * loses and herd refuses to guess ('unknown'). Marked resync: the zxid is the
 * znode's newest change, not necessarily the first after `since`.
 */
function changeSince(kind: WatchKind, path: string, since: number, tree: TreeReader): TreeEvent | null | 'unknown' {
  const now = tree.exists(path)
  const isResync = true
  if (now === undefined) return kind === 'exists' ? 'unknown' : { type: 'NodeDeleted', path, zxid: tree.zxid, stat: null, isResync }
  if (now.czxid > since) return kind === 'exists' ? { type: 'NodeCreated', path, zxid: now.mzxid, stat: now, isResync } : { type: 'NodeDeleted', path, zxid: tree.zxid, stat: null, isResync }
  if (kind === 'children') return now.pzxid > since ? { type: 'NodeChildrenChanged', path, zxid: now.pzxid, stat: now, isResync } : null
  return now.mzxid > since ? { type: 'NodeDataChanged', path, zxid: now.mzxid, stat: now, isResync } : null
}

/** The event a `kind` watch on `path` would have seen between two trees, or null. */
function changeBetween(kind: WatchKind, path: string, before: TreeReader, after: TreeReader): TreeEvent | null {
  const old = before.exists(path)
  const now = after.exists(path)
  const zxid = after.zxid
  const isResync = true
  if (old !== undefined && now === undefined) return { type: 'NodeDeleted', path, zxid, stat: null, isResync }
  if (old === undefined && now !== undefined) return kind === 'exists' ? { type: 'NodeCreated', path, zxid: now.mzxid, stat: now, isResync } : null
  if (old === undefined || now === undefined) return null
  // Deleted and created again in between counts as deleted (czxid changed).
  if (old.czxid !== now.czxid) return { type: 'NodeDeleted', path, zxid, stat: null, isResync }
  if (kind === 'children') return old.pzxid !== now.pzxid ? { type: 'NodeChildrenChanged', path, zxid: now.pzxid, stat: now, isResync } : null
  return old.mzxid !== now.mzxid ? { type: 'NodeDataChanged', path, zxid: now.mzxid, stat: now, isResync } : null
}
