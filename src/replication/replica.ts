// The replica: the one loop that owns the log. A write becomes a log entry
// (stamped with the leader's time and given the next zxid), entries that
// arrive in the same turn of the event loop are synced to the LogStore
// together (group commit), and only then applied to the tree, in zxid order;
// the apply result answers the waiting request and the tree's events go to
// the subscribers (watches, sessions) before that answer is sent.
//
// This replica is a cluster of one: it is the leader from the start and an
// entry is committed as soon as it is durable, which is exactly Raft's rule
// for a single voter. Replication (issue 3) replaces the commit rule with a
// quorum's and adds followers; the propose -> persist -> commit -> apply
// pipeline below stays the one code path.
import { assert } from '../assert.ts'
import type { Clock, Timer } from '../clock.ts'
import { HerdError } from '../errors.ts'
import type { LogRecord, LogStore } from '../storage/index.ts'
import {
  CodecError,
  DataTree,
  decodeEntry,
  encodeProposal,
  restoreSnapshot,
  writeSnapshot,
  type Applied,
  type Entry,
  type Proposal,
  type TreeOptions,
  type TreeReader,
} from '../tree/index.ts'

export interface ReplicaOptions {
  readonly replicaId: number
  readonly clientUrl: string
  readonly store: LogStore
  readonly clock: Clock
  readonly tree: TreeOptions
  readonly proposalsPendingMax: number
  readonly groupCommitEntriesMax: number
  /** Batches that may be on their way to the disk at once (1: the next waits for the previous to be applied). */
  readonly syncsInFlightMax: number
  readonly writeTimeoutMs: number
  readonly snapshotEntriesInterval: number
  /** Called when the replica can no longer guarantee durability; must stop the process. */
  readonly onFatal: (error: unknown) => void
}

export type Role = 'leader' | 'follower' | 'candidate' | 'precandidate' | 'learner' | 'unknown'

export interface Committed {
  readonly zxid: number
  readonly applied: Applied
}

export type AppliedListener = (entry: Entry, applied: Applied) => void

export interface ReplicaStatus {
  readonly id: number
  readonly clientUrl: string
  readonly role: Role
  readonly term: number
  readonly leader: number | null
  readonly commitZxid: number
  readonly appliedZxid: number
}

interface Pending {
  readonly entry: Entry
  readonly record: LogRecord
  readonly deadlineMs: number
  /** Answered OperationTimeout already; it stays queued, since its zxid is taken. */
  isTimedOut?: boolean
  resolve(committed: Committed): void
  reject(error: unknown): void
}

interface ApplyWaiter {
  readonly zxid: number
  readonly deadlineMs: number
  resolve(): void
  reject(error: unknown): void
}

const term = 1
const sweepIntervalMs = 50

function refused(error: HerdError): { zxid: null; committed: Promise<Committed> } {
  return { zxid: null, committed: Promise.reject(error) }
}

export class Replica {
  readonly #options: ReplicaOptions
  #clientUrl: string
  #tree: DataTree
  #lastZxid = 0
  #lastTimeMs = 0
  #commitZxid = 0
  #snapshotZxid = 0
  /** Proposed, not yet handed to the store, in zxid order. */
  #queued: Pending[] = []
  /** Batches handed to the store and waiting for their sync, oldest first, in zxid order. */
  #persisting: Pending[][] = []
  #persistingCount = 0
  #isFlushScheduled = false
  #isSnapshotting = false
  #isClosed = false
  #waiters: ApplyWaiter[] = []
  readonly #listeners: AppliedListener[] = []
  readonly #batchListeners: Array<(records: readonly LogRecord[]) => void> = []
  #sweep: Timer | null = null

  private constructor(options: ReplicaOptions, tree: DataTree) {
    this.#options = options
    this.#clientUrl = options.clientUrl
    this.#tree = tree
  }

  /**
   * Opens the replica over its store: the newest snapshot, then every entry
   * after it, applied in order. Listeners given here see the replayed entries
   * (so that, for example, the watch history covers them).
   */
  static open(options: ReplicaOptions, listeners: readonly AppliedListener[] = []): Replica {
    const snapshot = options.store.loadSnapshot()
    const tree = snapshot === null ? new DataTree(options.tree) : restoreSnapshot(snapshot.chunks, options.tree)
    const replica = new Replica(options, tree)
    for (const listener of listeners) replica.#listeners.push(listener)
    replica.#snapshotZxid = snapshot?.meta.index ?? 0
    replica.#lastZxid = tree.zxid
    replica.#commitZxid = tree.zxid
    const last = options.store.lastIndex()
    for (let lo = tree.zxid + 1; lo <= last; ) {
      for (const record of options.store.entries(lo, last + 1, 16 * 1024 * 1024)) {
        const entry = decodeEntry(record.index, record.data)
        replica.#lastZxid = entry.zxid
        replica.#commitZxid = entry.zxid
        replica.#lastTimeMs = Math.max(replica.#lastTimeMs, entry.timeMs)
        replica.#applyOne(entry)
        lo = record.index + 1
      }
    }
    assert(replica.#tree.zxid === last, `replayed to ${replica.#tree.zxid}, log ends at ${last}`)
    replica.#sweep = options.clock.setInterval(() => replica.#expireDeadlines(), sweepIntervalMs)
    return replica
  }

  get tree(): TreeReader {
    return this.#tree
  }

  get appliedZxid(): number {
    return this.#tree.zxid
  }

  get commitZxid(): number {
    return this.#commitZxid
  }

  get role(): Role {
    return 'leader'
  }

  get isLeader(): boolean {
    return true
  }

  status(): ReplicaStatus {
    return {
      id: this.#options.replicaId,
      clientUrl: this.#clientUrl,
      role: this.role,
      term,
      leader: this.#options.replicaId,
      commitZxid: this.#commitZxid,
      appliedZxid: this.appliedZxid,
    }
  }

  /** The client URL this replica reports, once its port is bound (the configured port may be 0). */
  advertise(clientUrl: string): void {
    this.#clientUrl = clientUrl
  }

  /**
   * Subscribes to every batch of entries committed and applied from now on,
   * as the records stored in the log, right after their apply and before the
   * writes they answer are answered.
   */
  onAppliedBatch(listener: (records: readonly LogRecord[]) => void): () => void {
    this.#batchListeners.push(listener)
    return () => {
      const index = this.#batchListeners.indexOf(listener)
      if (index >= 0) this.#batchListeners.splice(index, 1)
    }
  }

  /** Subscribes to every applied entry, in zxid order, synchronously after its apply. */
  onApplied(listener: AppliedListener): () => void {
    this.#listeners.push(listener)
    return () => {
      const index = this.#listeners.indexOf(listener)
      if (index >= 0) this.#listeners.splice(index, 1)
    }
  }

  /**
   * Proposes a write and resolves once it is committed and applied here, with
   * its zxid and apply result. Rejects with Throttled when too many writes
   * wait, OperationTimeout when it is not applied in time (its outcome is then
   * unknown), ConnectionLoss when the replica is closing.
   */
  submit(proposal: Omit<Proposal, 'timeMs'>): Promise<Committed> {
    return this.propose(proposal).committed
  }

  /**
   * As submit, but also says at once which zxid the write took (null when it
   * was refused before taking one), so that whoever forwarded it can be told
   * which entry answers it.
   */
  propose(proposal: Omit<Proposal, 'timeMs'>): { readonly zxid: number | null; readonly committed: Promise<Committed> } {
    if (this.#isClosed) return refused(new HerdError('ConnectionLoss', 'the replica is shutting down'))
    if (this.#queued.length + this.#persistingCount >= this.#options.proposalsPendingMax) {
      return refused(new HerdError('Throttled', 'too many writes are waiting to be made durable; retry shortly'))
    }
    // The leader stamps time, never earlier than the previous entry's, so that
    // mtime and TTL arithmetic never see time run backwards.
    const timeMs = Math.max(this.#lastTimeMs, this.#options.clock.wallMs())
    const zxid = this.#lastZxid + 1
    const entry: Entry = { zxid, timeMs, caller: proposal.caller, idempotency: proposal.idempotency, command: proposal.command }
    let data: Uint8Array
    try {
      data = encodeProposal(entry)
    } catch (error) {
      // Nothing was taken yet: the log stays gapless. The gateway validates
      // what it can; anything it missed is still the caller's bad input.
      if (error instanceof CodecError) return refused(new HerdError('BadArguments', `the request cannot be logged: ${error.message}`))
      throw error
    }
    this.#lastZxid = zxid
    this.#lastTimeMs = timeMs
    const record: LogRecord = { index: zxid, term, data }
    const committed = new Promise<Committed>((resolve, reject) => {
      this.#queued.push({ entry, record, deadlineMs: this.#options.clock.nowMs() + this.#options.writeTimeoutMs, resolve, reject })
      this.#scheduleFlush()
    })
    return { zxid, committed }
  }

  /** The tree as it is now, serialised (for a mirror to start from). */
  snapshotChunks(): Uint8Array[] {
    return writeSnapshot(this.#tree)
  }

  /** Never behind: this replica is the one the others follow. */
  caughtUp(): null {
    return null
  }

  /** Resolves once this replica has applied `zxid`; OperationTimeout after timeoutMs. */
  waitForApplied(zxid: number, timeoutMs: number): Promise<void> {
    if (zxid <= this.appliedZxid) return Promise.resolve()
    if (this.#isClosed) return Promise.reject(new HerdError('ConnectionLoss', 'the replica is shutting down'))
    if (timeoutMs <= 0) {
      return Promise.reject(new HerdError('OperationTimeout', `zxid ${zxid} is not applied here yet (applied ${this.appliedZxid})`))
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ zxid, deadlineMs: this.#options.clock.nowMs() + timeoutMs, resolve, reject })
    })
  }

  /**
   * ZooKeeper's sync: resolves with a zxid once every write committed before
   * the call is applied here. On a cluster of one, commit and apply move
   * together, so that is the commit index now.
   */
  async sync(timeoutMs: number): Promise<number> {
    const target = this.#commitZxid
    await this.waitForApplied(target, timeoutMs)
    return this.appliedZxid
  }

  /** Stops taking writes, finishes the ones already durable, and rejects the rest. */
  async close(): Promise<void> {
    if (this.#isClosed) return
    this.#isClosed = true
    this.#sweep?.cancel()
    while (this.#isFlushScheduled || this.#persisting.length > 0) await new Promise((resolve) => setImmediate(resolve))
    const closing = new HerdError('ConnectionLoss', 'the replica is shutting down')
    for (const pending of this.#queued.splice(0)) pending.reject(closing)
    for (const waiter of this.#waiters.splice(0)) waiter.reject(closing)
  }

  #scheduleFlush(): void {
    if (this.#isFlushScheduled) return
    this.#isFlushScheduled = true
    // setImmediate runs after the poll phase: every request whose bytes
    // arrived in this turn has been proposed by then, so they share one sync.
    setImmediate(() => {
      this.#isFlushScheduled = false
      this.#flush()
    })
  }

  /**
   * Hands the queued entries to the store as one batch. Up to
   * syncsInFlightMax batches may be on their way to the disk at once: the
   * store writes them in order, and starting the next sync as soon as the
   * previous one ends, instead of after this thread has applied it, keeps
   * the disk busy (the batches still complete, and are applied, in order).
   */
  #flush(): void {
    if (this.#persisting.length >= this.#options.syncsInFlightMax || this.#queued.length === 0) return
    const batch = this.#queued.splice(0, this.#options.groupCommitEntriesMax)
    this.#persisting.push(batch)
    this.#persistingCount += batch.length
    this.#options.store.append(
      batch.map((pending) => pending.record),
      null,
      true,
    ).then(
      () => this.#onPersisted(batch),
      (error: unknown) => this.#fail(error),
    )
    if (this.#queued.length > 0) this.#scheduleFlush()
  }

  #onPersisted(batch: Pending[]): void {
    assert(this.#persisting[0] === batch, 'batches became durable out of order')
    this.#persisting.shift()
    this.#persistingCount -= batch.length
    const applied: Applied[] = []
    for (const pending of batch) {
      // A single voter: durable here is committed.
      this.#commitZxid = pending.entry.zxid
      applied.push(this.#applyOne(pending.entry))
    }
    if (this.#batchListeners.length > 0) {
      const records = batch.map((pending) => pending.record)
      for (const listener of this.#batchListeners) listener(records)
    }
    for (let i = 0; i < batch.length; i++) {
      const pending = batch[i] as Pending
      pending.resolve({ zxid: pending.entry.zxid, applied: applied[i] as Applied })
    }
    this.#releaseWaiters()
    if (this.#queued.length > 0) this.#scheduleFlush()
    this.#maybeSnapshot()
  }

  #applyOne(entry: Entry): Applied {
    const applied = this.#tree.apply(entry)
    for (const listener of this.#listeners) listener(entry, applied)
    return applied
  }

  #releaseWaiters(): void {
    if (this.#waiters.length === 0) return
    const applied = this.appliedZxid
    const remaining: ApplyWaiter[] = []
    for (const waiter of this.#waiters) {
      if (waiter.zxid <= applied) waiter.resolve()
      else remaining.push(waiter)
    }
    this.#waiters = remaining
  }

  #expireDeadlines(): void {
    const nowMs = this.#options.clock.nowMs()
    // Queued writes are in submission order, so their deadlines are too. A
    // late write is answered, but stays queued and is still written: its
    // zxid is taken, and dropping it would leave a gap in the log (which the
    // store refuses, stopping the replica). "Outcome unknown" is the truth.
    for (const pending of this.#queued) {
      if (pending.deadlineMs > nowMs) break
      if (pending.isTimedOut === true) continue
      pending.isTimedOut = true
      pending.reject(new HerdError('OperationTimeout', `write zxid ${pending.entry.zxid} was not made durable in time; its outcome is unknown`))
    }
    if (this.#waiters.length === 0) return
    const remaining: ApplyWaiter[] = []
    for (const waiter of this.#waiters) {
      if (waiter.deadlineMs <= nowMs) {
        waiter.reject(new HerdError('OperationTimeout', `zxid ${waiter.zxid} is not applied here yet (applied ${this.appliedZxid})`))
      } else {
        remaining.push(waiter)
      }
    }
    this.#waiters = remaining
  }

  #maybeSnapshot(): void {
    if (this.#isSnapshotting) return
    if (this.appliedZxid - this.#snapshotZxid < this.#options.snapshotEntriesInterval) return
    this.#isSnapshotting = true
    const index = this.appliedZxid
    // Serialising is synchronous, so the snapshot is exactly the tree at
    // `index`; writing it and truncating the log happen off this turn.
    const chunks = writeSnapshot(this.#tree)
    const store = this.#options.store
    store
      .saveSnapshot({ meta: { index, term, extra: new Uint8Array(0) }, chunks })
      .then(() => store.compact(index))
      .then(
        () => {
          this.#snapshotZxid = index
          this.#isSnapshotting = false
        },
        (error: unknown) => this.#fail(error),
      )
  }

  /** A write that may or may not have reached the disk: stop, never guess. */
  #fail(error: unknown): void {
    this.#isClosed = true
    this.#options.onFatal(error)
  }
}
