// A replica that follows another in the same process: a serving thread's
// copy of the tree, kept current by the committed entries the owning Replica
// sends it, applied exactly as a replay would apply them. It serves reads
// from its own tree, forwards writes to the Replica and answers each from
// its own apply of the entry that carries it, the way a follower answers
// from its own apply (DESIGN.md, decision 2).
//
// Before it serves a request it catches up with what the Replica had
// applied (read from memory the two share), so a client that was told a
// write is done sees it whichever thread its next request lands on.
import { assert } from '../assert.ts'
import type { Clock, Timer } from '../clock.ts'
import { HerdError } from '../errors.ts'
import { decodeEntry, type Applied, type DataTree, type Member, type Proposal, type TreeReader } from '../tree/index.ts'
import { ApplyWaiters } from './apply-waiters.ts'
import type { ReplicaHandle } from './handle.ts'
import { encodeWrite, packProposals, type DoneMessage, type EntriesMessage, type FailedMessage, type SubmitMessage } from './mirror-protocol.ts'
import type { AppliedListener, Committed, MembershipChange, ReplicaReport, ReplicaStatus } from './replica.ts'

export interface MirrorOptions {
  /** The Replica's tree as of the snapshot this mirror starts from. */
  readonly tree: DataTree
  readonly clock: Clock
  readonly writeTimeoutMs: number
  /** The status the Replica reported (id, role, term, leader, client URL). */
  readonly status: ReplicaStatus
  /** The zxid the Replica has applied (shared memory; it only grows). */
  readonly leaderApplied: () => number
  readonly send: (message: SubmitMessage) => void
  /** Asks the Replica on the main thread (cluster status, sync). */
  readonly ask: (method: 'clusterStatus' | 'sync' | 'membership', timeoutMs: number, args?: unknown) => Promise<unknown>
}

interface Forwarded {
  readonly deadlineMs: number
  resolve(committed: Committed): void
  reject(error: unknown): void
}


/** How long past writeTimeoutMs a forwarded write waits for the Replica's own answer before giving up here. */
const forwardGraceMs = 1000
const sweepIntervalMs = 100
/** Apply results kept for writes the Replica forwarded to a leader (their zxid comes after their entry); oldest dropped first. */
const recentResultsMax = 4096

export class MirrorReplica implements ReplicaHandle {
  readonly #options: MirrorOptions
  #tree: DataTree
  readonly #forwarded = new Map<number, Forwarded>()
  readonly #listeners: AppliedListener[] = []
  readonly #waiters: ApplyWaiters
  readonly #recent = new Map<number, Applied>()
  #nextId = 1
  /** Writes of this turn, sent together at its end. */
  #outbox: { ids: number[]; proposals: Uint8Array[] } | null = null
  #status: ReplicaStatus
  readonly #sweep: Timer

  constructor(options: MirrorOptions) {
    this.#options = options
    this.#tree = options.tree
    this.#status = options.status
    this.#waiters = new ApplyWaiters(options.clock)
    this.#sweep = options.clock.setInterval(() => this.#expire(), sweepIntervalMs)
  }

  get tree(): TreeReader {
    return this.#tree
  }

  get appliedZxid(): number {
    return this.#tree.zxid
  }

  /** As the Replica last reported it (it sends its status whenever this flips). */
  get isCutOff(): boolean {
    return this.#status.isCutOff
  }

  status(): ReplicaStatus {
    const leaderApplied = this.#options.leaderApplied()
    return { ...this.#status, commitZxid: Math.max(this.#status.commitZxid, leaderApplied), appliedZxid: this.#tree.zxid }
  }

  /** The Replica's role, term or leader changed, or it was cut off or is back in contact. */
  updateStatus(status: ReplicaStatus): void {
    this.#status = status
  }

  onApplied(listener: AppliedListener): () => void {
    this.#listeners.push(listener)
    return () => {
      const index = this.#listeners.indexOf(listener)
      if (index >= 0) this.#listeners.splice(index, 1)
    }
  }

  submit(proposal: Omit<Proposal, 'timeMs'>): Promise<Committed> {
    // Encoded here: the same check, and the same refusal, as on the Replica's own thread.
    const bytes = encodeWrite(proposal)
    if (bytes instanceof HerdError) return Promise.reject(bytes)
    const id = this.#nextId++
    return new Promise<Committed>((resolve, reject) => {
      this.#forwarded.set(id, { deadlineMs: this.#options.clock.nowMs() + this.#options.writeTimeoutMs + forwardGraceMs, resolve, reject })
      if (this.#outbox === null) {
        this.#outbox = { ids: [], proposals: [] }
        setImmediate(() => this.#flush())
      }
      this.#outbox.ids.push(id)
      this.#outbox.proposals.push(bytes)
    })
  }

  #flush(): void {
    const outbox = this.#outbox
    this.#outbox = null
    if (outbox !== null) this.#options.send(packProposals(outbox.ids, outbox.proposals))
  }

  waitForApplied(zxid: number, timeoutMs: number): Promise<void> {
    return this.#waiters.wait(zxid, this.#tree.zxid, timeoutMs)
  }

  /** ZooKeeper's sync: the Replica's read point (from the leader, in a cluster), then applied here. */
  async sync(timeoutMs: number): Promise<number> {
    const deadlineMs = this.#options.clock.nowMs() + timeoutMs
    const zxid = (await this.#options.ask('sync', timeoutMs)) as number
    await this.waitForApplied(zxid, deadlineMs - this.#options.clock.nowMs())
    return this.#tree.zxid
  }

  async clusterStatus(timeoutMs: number): Promise<readonly ReplicaReport[]> {
    return (await this.#options.ask('clusterStatus', timeoutMs)) as ReplicaReport[]
  }

  async changeMembership(change: MembershipChange): Promise<{ readonly zxid: number; readonly members: readonly Member[] }> {
    // The Replica may take a write timeout to catch a new replica up, another to commit, and a peer call's time if it follows.
    const done = (await this.#options.ask('membership', 3 * this.#options.writeTimeoutMs, change)) as { zxid: number; members: Member[] }
    await this.waitForApplied(done.zxid, this.#options.writeTimeoutMs)
    return done
  }

  caughtUp(): Promise<void> | null {
    const target = this.#options.leaderApplied()
    if (target <= this.#tree.zxid) return null
    return this.waitForApplied(target, this.#options.writeTimeoutMs)
  }

  /**
   * The Replica installed a leader's snapshot: this mirror starts again from
   * the same tree. Listeners get the trees before and after (watches judge
   * what changed between them).
   */
  reset(tree: DataTree, onReset: (before: TreeReader, after: TreeReader) => void): void {
    const before = this.#tree
    this.#tree = tree
    this.#recent.clear()
    onReset(before, tree)
    this.#waiters.release(this.#tree.zxid)
  }

  /** A message from the Replica. */
  receive(message: EntriesMessage | FailedMessage | DoneMessage): void {
    if (message.t === 'done') {
      const forwarded = this.#forwarded.get(message.id)
      if (forwarded === undefined) return
      this.#forwarded.delete(message.id)
      const applied = this.#recent.get(message.zxid)
      if (applied !== undefined) forwarded.resolve({ zxid: message.zxid, applied })
      else forwarded.reject(new HerdError('OperationTimeout', `write zxid ${message.zxid} was applied too long ago to tell its result`))
      return
    }
    if (message.t === 'failed') {
      const forwarded = this.#forwarded.get(message.id)
      if (forwarded === undefined) return
      this.#forwarded.delete(message.id)
      forwarded.reject(new HerdError(message.code, message.detail))
      return
    }
    const tagged = new Map(message.tags)
    let start = 0
    for (let i = 0; i < message.ends.length; i++) {
      const end = message.ends[i] as number
      const zxid = message.firstZxid + i
      assert(zxid === this.#tree.zxid + 1, `mirror at ${this.#tree.zxid} was sent entry ${zxid}`)
      const entry = decodeEntry(zxid, new Uint8Array(message.buffer, start, end - start))
      start = end
      const applied: Applied = this.#tree.apply(entry)
      for (const listener of this.#listeners) listener(entry, applied)
      if (message.keepResults) {
        this.#recent.set(zxid, applied)
        if (this.#recent.size > recentResultsMax) this.#recent.delete(this.#recent.keys().next().value as number)
      }
      const id = tagged.get(i)
      if (id !== undefined) {
        const forwarded = this.#forwarded.get(id)
        if (forwarded !== undefined) {
          this.#forwarded.delete(id)
          forwarded.resolve({ zxid, applied })
        }
      }
    }
    this.#waiters.release(this.#tree.zxid)
  }

  close(): void {
    this.#sweep.cancel()
    const closing = new HerdError('ConnectionLoss', 'the serving thread is shutting down')
    for (const forwarded of this.#forwarded.values()) forwarded.reject(closing)
    this.#forwarded.clear()
    this.#waiters.rejectAll(closing)
  }

  #expire(): void {
    const nowMs = this.#options.clock.nowMs()
    for (const [id, forwarded] of this.#forwarded) {
      if (forwarded.deadlineMs > nowMs) continue
      this.#forwarded.delete(id)
      forwarded.reject(new HerdError('OperationTimeout', 'the write was not answered in time; its outcome is unknown'))
    }
    this.#waiters.expire(this.#tree.zxid)
  }
}
