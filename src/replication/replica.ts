// The replica: the driver around the Raft core (core/), and the one loop
// that owns the log. It keeps the core's Ready contract (core/index.ts):
// persist (the snapshot, then entries and hard state, synced together: group
// commit), send, apply the committed entries to the tree in zxid order,
// serve read indexes, advance. The apply result answers the waiting request
// and the tree's events go to the subscribers (watches, sessions) first.
//
// Every replica is a gateway. A write proposed on the leader becomes a log
// entry at once; on a follower it is carried to the leader in a call (the
// writes of one turn together), the leader answers with the index and term
// it took, and the follower answers its client from its own apply of that
// entry (DESIGN.md, decision 2). A write is known by (index, term): if
// another entry is applied at its index, the write was lost in a change of
// leader and did not happen. A cluster of one is the same code with a single
// voter, which elects itself at once.
import { assert } from '../assert.ts'
import type { Clock, Timer } from '../clock.ts'
import { HerdError, isHerdError } from '../errors.ts'
import { noFailpoints, type Failpoints } from '../failpoints.ts'
import type { Logger } from '../log.ts'
import type { LogRecord, LogStore } from '../storage/index.ts'
import {
  CodecError,
  DataTree,
  anonymous,
  decodeEntry,
  encodeProposal,
  membershipOf,
  restoreSnapshot,
  stampProposal,
  writeSnapshot,
  type Applied,
  type Entry,
  type Member,
  type Proposal,
  type TreeOptions,
  type TreeReader,
} from '../tree/index.ts'
import { ApplyWaiters } from './apply-waiters.ts'
import { encodeWrite } from './mirror-protocol.ts'
import { RaftCore, isMessage, type CoreStatus, type Message, type RaftEntry, type Ready, type Role, type Snapshot, type SnapshotMeta } from './core/index.ts'

/** How the replica reaches the other replicas (peer/peer-client.ts over HTTP; an in-process network in tests). */
export interface PeerTransport {
  setPeers(endpoints: ReadonlyMap<number, { readonly host: string; readonly port: number }>): void
  send(to: number, message: unknown): void
  /**
   * Sends what send() queued now, rather than on the transport's own
   * schedule: the replica calls it once a batch of its messages is complete.
   */
  flush?(): void
  call(to: number, method: string, args: unknown, timeoutMs?: number): Promise<unknown>
}

export interface RaftOptions {
  readonly tickMs: number
  readonly electionTicks: number
  readonly heartbeatTicks: number
  readonly appendBytesMax: number
  readonly appendsInFlightMax: number
  /**
   * A replica that has heard from no leader (or, leading, from no majority)
   * for longer than this is cut off: its tree may be falling behind without
   * bound, so local reads are refused unless they accept stale data.
   */
  readonly leaderContactMaxMs: number
  /** The bootstrap voters, used until the log or a snapshot says otherwise. */
  readonly members: readonly Member[]
  readonly random: () => number
  readonly peerTimeoutMs: number
}

export interface ReplicaOptions {
  readonly replicaId: number
  readonly clientUrl: string
  readonly store: LogStore
  readonly clock: Clock
  readonly tree: TreeOptions
  readonly proposalsPendingMax: number
  readonly writeTimeoutMs: number
  readonly snapshotEntriesInterval: number
  /** Entries kept in the log below a snapshot, so a follower a little behind catches up without one. */
  readonly snapshotLogSlackEntries?: number
  /** Called when the replica can no longer guarantee durability; must stop the process. */
  readonly onFatal: (error: unknown) => void
  readonly raft: RaftOptions
  /** Null for a cluster of one. */
  readonly transport: PeerTransport | null
  readonly log?: Logger
  readonly failpoints?: Failpoints
}

export type { Role }

export interface Committed {
  readonly zxid: number
  readonly applied: Applied
}

export type AppliedListener = (entry: Entry, applied: Applied) => void

export type ResetListener = (before: TreeReader, after: TreeReader, chunks: readonly Uint8Array[]) => void

export interface ReplicaStatus {
  readonly id: number
  readonly clientUrl: string
  readonly role: Role
  readonly term: number
  readonly leader: number | null
  readonly commitZxid: number
  readonly appliedZxid: number
  /** Cut off from the leader, or not caught up since (see Replica.isCutOff). */
  readonly isCutOff: boolean
}

/** One replica as GET /cluster shows it. */
export interface ReplicaReport {
  readonly id: number
  readonly clientUrl: string
  readonly role: Role | 'unreachable'
  readonly term: number
  readonly commitZxid: number
  readonly appliedZxid: number
  /** Entries behind the highest commit index known here. */
  readonly lag: number
  /** The tree digest at appliedZxid; null when unreachable. */
  readonly digest: string | null
  /** Whether it is cut off from the leader (refusing local reads); null when unreachable. */
  readonly cutOff: boolean | null
}

/** A replica's own report, from its status and the tree digest taken with it (at its appliedZxid). */
export function reportOf(status: ReplicaStatus, digest: string): ReplicaReport {
  return {
    id: status.id,
    clientUrl: status.clientUrl,
    role: status.role,
    term: status.term,
    commitZxid: status.commitZxid,
    appliedZxid: status.appliedZxid,
    lag: Math.max(0, status.commitZxid - status.appliedZxid),
    digest,
    cutOff: status.isCutOff,
  }
}

export interface RoleChange {
  readonly role: Role
  readonly leader: number | null
  readonly term: number
}

/** One voter more, or one fewer. */
export type MembershipChange = { readonly add: Member } | { readonly remove: number }

/** A call another replica may make of this one, registered by the layer that serves it (e.g. sessions' heartbeat). */
export type CallHandler = (from: number, args: unknown) => Promise<unknown> | unknown

interface Awaiting {
  readonly term: number
  readonly deadlineMs: number
  resolve(committed: Committed): void
  reject(error: unknown): void
}

interface Forward {
  readonly bytes: Uint8Array
  readonly deadlineMs: number
  resolve(committed: Committed): void
  reject(error: unknown): void
}


interface ReadWaiter {
  readonly deadlineMs: number
  resolve(index: number): void
  reject(error: unknown): void
}

interface RecentResult {
  readonly term: number
  readonly applied: Applied
}

/** A write handed to the replica: the zxid it took when this replica leads (null when forwarded or refused), and its outcome. */
export interface Proposed {
  readonly zxid: number | null
  readonly term: number
  readonly committed: Promise<Committed>
}

/** What a leader answers for each forwarded write: where it went, or why it was not taken. */
type ProposeAnswer = { readonly index: number; readonly term: number } | { readonly code: string; readonly detail: string; readonly isRefused: boolean }

const sweepIntervalMs = 50
/**
 * Apply results kept for forwarded writes whose leader's answer arrives after
 * the entry was applied here (at most this many, oldest dropped first).
 */
const recentResultsMax = 16_384
const forwardRetryMs = 20
const snapshotLogSlackDefault = 10_000

const notLeader = (detail: string): HerdError => new HerdError('ConnectionLoss', detail)

export class Replica {
  readonly #options: ReplicaOptions
  readonly #failpoints: Failpoints
  readonly #core: RaftCore
  #clientUrl: string
  #tree: DataTree
  #lastTimeMs = 0
  /** This replica's monotonic time when #lastTimeMs last moved. */
  #lastTimeMonoMs = 0
  #appliedTerm = 0
  #snapshotZxid = 0
  #role: Role = 'follower'
  #leader = 0
  #term = 0
  /** Every replica that was a member since this replica started (addresses as of their newest membership). */
  readonly #known = new Map<number, Member>()
  /** Replicas being added, by id, until their membership entry is in the log. */
  readonly #pendingAddresses = new Map<number, Member>()
  /** Replicas the leader is catching up as learners before proposing them. */
  readonly #catchingUp = new Set<number>()
  /** Members as of the applied index, for snapshots. */
  #appliedMembers: readonly Member[]
  /**
   * Set when this replica applies the change that removes it: no leader
   * talks to it from then on, so writes made here could only wait out their
   * timeout. They fail at once instead.
   */
  #isRemoved = false
  #isCutOff = false
  /**
   * Since it started or lost contact, this replica has not caught up yet: it
   * stays cut off until it has applied what a leader had committed when
   * contact came back (`target`, taken from the first append or snapshot
   * after the `after`-th), as a ZooKeeper follower syncs with its leader
   * before it serves. Started instead by a lag past leaderContactMaxMs while
   * in contact (`isLag`), it has its target at once: what the leader has
   * committed by then. Null once caught up.
   */
  #sync: { readonly after: number; target: number | null; readonly isLag: boolean } | null = null
  /**
   * The commit index heard from the leader (#core.leaderCommit) at each tick
   * of the last leaderContactMaxMs, oldest first, the oldest at least that
   * old once there is one: what this replica must have applied by now to
   * serve local reads (#updateCutOff).
   */
  readonly #heardCommits: Array<{ readonly atMs: number; readonly index: number }> = []
  readonly #awaiting = new Map<number, Awaiting>()
  /**
   * Results of entries applied while a forward call was out: only those can
   * be asked for after their apply (a call sent later gets later indexes).
   * Keeping every result instead kept 16k of them alive on a busy leader,
   * which no one asks, and V8 promoted them all (measured, see README).
   */
  readonly #recent = new Map<number, RecentResult>()
  /**
   * The zxid applied when each forward call still out was sent, oldest call
   * first: the leader answers a call with indexes past it, so #recent needs
   * nothing at or below the first one's (#sendForwards drops it).
   */
  readonly #forwardCallsOut: number[] = []
  #forwards: Forward[] = []
  #isForwardScheduled = false
  readonly #waiters: ApplyWaiters
  readonly #reads = new Map<number, ReadWaiter>()
  #nextReadContext = 1
  readonly #listeners: AppliedListener[] = []
  readonly #batchListeners: Array<(records: readonly LogRecord[]) => void> = []
  readonly #roleListeners: Array<(change: RoleChange) => void> = []
  readonly #statusListeners: Array<() => void> = []
  readonly #resetListeners: ResetListener[] = []
  readonly #calls = new Map<string, CallHandler>()
  #isRunScheduled = false
  #isRunning = false
  #isSnapshotting = false
  #isClosed = false
  #lastPersistedTerm = -1
  #lastPersistedVote = -1
  readonly #timers: Timer[] = []

  private constructor(options: ReplicaOptions, tree: DataTree, core: RaftCore, members: readonly Member[]) {
    this.#options = options
    this.#failpoints = options.failpoints ?? noFailpoints
    this.#clientUrl = options.clientUrl
    this.#tree = tree
    this.#core = core
    this.#appliedMembers = members
    this.#waiters = new ApplyWaiters(options.clock)
  }

  /**
   * Opens the replica over its store: the newest snapshot, then the log after
   * it up to the commit index the hard state remembers, applied in order
   * (listeners given here see the replayed entries, so the watch history
   * covers them). The rest of the log is applied once a leader commits it.
   */
  static open(options: ReplicaOptions, listeners: readonly AppliedListener[] = []): Replica {
    const { store } = options
    const snapshot = store.loadSnapshot()
    const tree = snapshot === null ? new DataTree(options.tree) : restoreSnapshot(snapshot.chunks, options.tree)
    const snapshotMembers = snapshot === null ? null : decodeMembers(snapshot.meta.extra)
    const membersAtStart = snapshotMembers ?? options.raft.members
    const core = new RaftCore(
      {
        id: options.replicaId,
        voters: options.raft.members.map((member) => member.id),
        electionTicks: options.raft.electionTicks,
        heartbeatTicks: options.raft.heartbeatTicks,
        random: options.raft.random,
        appendBytesMax: options.raft.appendBytesMax,
        inflightAppendsMax: options.raft.appendsInFlightMax,
        noop: encodeProposal({ timeMs: 0, caller: anonymous, idempotency: null, command: { type: 'noop' } }),
        membership: {
          encode: (voters) => replica.#encodeMembership(voters),
          decode: (data) => {
            try {
              return membershipOf(data)?.map((member) => member.id) ?? null
            } catch {
              return null
            }
          },
        },
      },
      store,
    )
    const replica: Replica = new Replica(options, tree, core, membersAtStart)
    for (const listener of listeners) replica.#listeners.push(listener)
    replica.#snapshotZxid = snapshot?.meta.index ?? 0
    replica.#appliedTerm = snapshot?.meta.term ?? 0
    replica.#learnAddresses(membersAtStart)
    // The newest membership in the log decides who the peers are.
    const last = store.lastIndex()
    for (let lo = tree.zxid + 1; lo <= last; ) {
      for (const record of store.entries(lo, last + 1, 16 * 1024 * 1024)) {
        const members = safeMembershipOf(record.data)
        if (members !== null) replica.#learnAddresses(members)
        lo = record.index + 1
      }
    }
    const hard = store.hardState()
    replica.#lastPersistedTerm = hard.term
    replica.#lastPersistedVote = hard.vote
    // A single voter needs nobody: it elects itself now, so the first write does not wait a tick.
    if (core.voters().length === 1 && core.voters()[0] === options.replicaId) core.campaign()
    // Anything else starts cut off: its tree may be from long ago, and it
    // serves local reads once it hears from a leader and has caught up (as a
    // ZooKeeper server serves once it has synced with one).
    replica.#isCutOff = replica.#updateCutOff()
    replica.#timers.push(options.clock.setInterval(() => replica.#tick(), options.raft.tickMs))
    replica.#timers.push(options.clock.setInterval(() => replica.#expireDeadlines(), sweepIntervalMs))
    replica.#runNow()
    return replica
  }

  get tree(): TreeReader {
    return this.#tree
  }

  get appliedZxid(): number {
    return this.#tree.zxid
  }

  get commitZxid(): number {
    return this.#core.status().commit
  }

  get role(): Role {
    return this.#role
  }

  get isLeader(): boolean {
    return this.#role === 'leader'
  }

  get leaderId(): number | null {
    return this.#leader === 0 ? null : this.#leader
  }

  get term(): number {
    return this.#term
  }

  /**
   * Whether this replica has heard from no leader of its term (leading: from
   * no majority) for longer than leaderContactMaxMs, or not since it
   * started, or has not caught up since (#sync); or, in contact, has not
   * applied what the leader had committed leaderContactMaxMs ago (a slow
   * disk, an overloaded machine). Its tree may then be behind by any
   * amount, where ZooKeeper's timeliness promises a bound: a ZooKeeper
   * server cut off from the quorum stops serving its clients, and a leader
   * drops a follower that falls behind by more than syncLimit ticks. This
   * one keeps serving what does not depend on its tree being current, and
   * refuses local reads unless they ask for stale data.
   */
  get isCutOff(): boolean {
    return this.#isCutOff
  }

  status(): ReplicaStatus {
    const core = this.#core.status()
    return {
      id: this.#options.replicaId,
      clientUrl: this.#clientUrl,
      role: this.#role,
      term: this.#term,
      leader: this.leaderId,
      commitZxid: core.commit,
      appliedZxid: this.appliedZxid,
      isCutOff: this.#isCutOff,
    }
  }

  /** The core's view: voters and, on the leader, every follower's progress. */
  coreStatus(): CoreStatus {
    return this.#core.status()
  }

  /**
   * Every member as it reports itself (asked over the peer port, each within
   * timeoutMs; one that does not answer is 'unreachable'), this one first.
   */
  async clusterStatus(timeoutMs: number): Promise<ReplicaReport[]> {
    const own = this.#report()
    const others = this.members().filter((member) => member.id !== this.#options.replicaId)
    const transport = this.#options.transport
    const reports = await Promise.all(
      others.map(async (member): Promise<ReplicaReport> => {
        try {
          if (transport === null) throw new Error('no transport')
          const answer = (await transport.call(member.id, 'status', null, timeoutMs)) as Partial<ReplicaReport>
          if (typeof answer !== 'object' || answer === null || typeof answer.appliedZxid !== 'number') throw new Error('malformed status')
          return {
            id: member.id,
            clientUrl: String(answer.clientUrl ?? ''),
            role: (answer.role ?? 'unknown') as Role,
            term: Number(answer.term ?? 0),
            commitZxid: Number(answer.commitZxid ?? 0),
            appliedZxid: answer.appliedZxid,
            lag: 0,
            digest: typeof answer.digest === 'string' ? answer.digest : null,
            cutOff: answer.cutOff === true,
          }
        } catch {
          return { id: member.id, clientUrl: '', role: 'unreachable', term: 0, commitZxid: 0, appliedZxid: 0, lag: 0, digest: null, cutOff: null }
        }
      }),
    )
    const all = [own, ...reports]
    const commit = Math.max(...all.map((report) => report.commitZxid))
    return all.map((report) => (report.role === 'unreachable' ? report : { ...report, lag: Math.max(0, commit - report.appliedZxid) }))
  }

  #report(): ReplicaReport {
    return reportOf(this.status(), this.#tree.digest())
  }

  /**
   * The members as of the newest membership in this replica's log, as the
   * core holds it: a change that is truncated away (it never committed) is
   * forgotten with it. Addresses come from every membership seen.
   */
  members(): readonly Member[] {
    const members: Member[] = []
    for (const id of this.#core.voters()) {
      const member = this.#known.get(id) ?? this.#pendingAddresses.get(id)
      if (member !== undefined) members.push(member)
    }
    return members
  }

  /** The client URL this replica reports, once its port is bound (the configured port may be 0). */
  advertise(clientUrl: string): void {
    this.#clientUrl = clientUrl
  }

  onAppliedBatch(listener: (records: readonly LogRecord[]) => void): () => void {
    return subscribe(this.#batchListeners, listener)
  }

  /** Subscribes to every applied entry, in zxid order, synchronously after its apply. */
  onApplied(listener: AppliedListener): () => void {
    return subscribe(this.#listeners, listener)
  }

  /**
   * Subscribes to snapshot installs: the tree jumped from `before` to
   * `after` (whose serialised form is `chunks`) without the entries between.
   */
  onReset(listener: ResetListener): () => void {
    return subscribe(this.#resetListeners, listener)
  }

  /** Subscribes to changes of role, leader or term (sessions and the reaper act only on a leader). */
  onRoleChange(listener: (change: RoleChange) => void): () => void {
    return subscribe(this.#roleListeners, listener)
  }

  /** Subscribes to changes of what status() reports other than the zxids: role, leader, term, cut off. */
  onStatusChange(listener: () => void): () => void {
    return subscribe(this.#statusListeners, listener)
  }

  /** Serves `method` for the other replicas (see callLeader). */
  handleCall(method: string, handler: CallHandler): void {
    assert(!this.#calls.has(method), `a handler for ${method} is registered already`)
    this.#calls.set(method, handler)
  }

  /** Calls `method` on the leader; ConnectionLoss when there is none or it cannot be reached (or takes longer than timeoutMs). */
  async callLeader(method: string, args: unknown, timeoutMs = this.#options.raft.peerTimeoutMs): Promise<unknown> {
    const leader = this.#leader
    if (leader === this.#options.replicaId) {
      const handler = this.#calls.get(method)
      if (handler === undefined) throw new HerdError('Unimplemented', `no handler for ${method}`)
      return handler(leader, args)
    }
    if (leader === 0 || this.#options.transport === null) throw notLeader('no leader is known at the moment; retry shortly')
    return this.#options.transport.call(leader, method, args, timeoutMs)
  }

  /**
   * Proposes a write and resolves once it is committed and applied here, with
   * its zxid and apply result. Rejects with Throttled when too many writes
   * wait, OperationTimeout when it is not applied in time (its outcome is then
   * unknown), ConnectionLoss when it surely did not happen (no leader, or lost
   * in a change of leader) or the replica is closing.
   */
  submit(proposal: Omit<Proposal, 'timeMs'>): Promise<Committed> {
    return this.propose(proposal).committed
  }

  /**
   * As submit, but also says at once which zxid the write took, when this
   * replica leads (null when it was forwarded or refused), so that whoever
   * handed it over can be told which entry answers it.
   */
  propose(proposal: Omit<Proposal, 'timeMs'>): Proposed {
    const unstamped = encodeWrite(proposal)
    return unstamped instanceof HerdError ? refused(unstamped) : this.proposeEncoded(unstamped)
  }

  /**
   * As propose, for a write encodeProposal wrote with time 0 in this process
   * (a serving thread's): the leader stamps its time into the bytes, and a
   * follower forwards them as they are, neither decoding them.
   */
  proposeEncoded(unstamped: Uint8Array): Proposed {
    if (this.#isClosed) return refused(new HerdError('ConnectionLoss', 'the replica is shutting down'))
    if (this.#isRemoved) return refused(removedError())
    // A few bytes read: membership changes go through changeMembership.
    if (safeMembershipOf(unstamped) !== null) return refused(new HerdError('BadArguments', 'membership changes are not writes'))
    if (this.#awaiting.size + this.#forwards.length >= this.#options.proposalsPendingMax) {
      return refused(new HerdError('Throttled', 'too many writes are waiting to be committed; retry shortly'))
    }
    if (this.#role !== 'leader') return { zxid: null, term: 0, committed: this.#forward(unstamped) }
    const answer = this.#proposeHere(unstamped)
    if ('code' in answer) {
      if (answer.isRefused) return { zxid: null, term: 0, committed: this.#forward(unstamped) }
      return refused(new HerdError(answer.code === 'Throttled' ? 'Throttled' : 'BadArguments', answer.detail))
    }
    return { zxid: answer.index, term: answer.term, committed: this.#await(answer.index, answer.term) }
  }

  /** The tree as it is now, serialised (for a mirror to start from). */
  snapshotChunks(): Uint8Array[] {
    return writeSnapshot(this.#tree)
  }

  /** Never behind: this replica is the one the serving threads follow. */
  caughtUp(): null {
    return null
  }

  /** Resolves once this replica has applied `zxid`; OperationTimeout after timeoutMs. */
  waitForApplied(zxid: number, timeoutMs: number): Promise<void> {
    if (zxid > this.appliedZxid && this.#isClosed) return Promise.reject(new HerdError('ConnectionLoss', 'the replica is shutting down'))
    return this.#waiters.wait(zxid, this.appliedZxid, timeoutMs)
  }

  /**
   * A linearizable read point (Raft's read index, thesis §6.4): resolves with
   * an index such that every write committed before the call is at or below
   * it, once the leader confirmed it still leads. On a follower the leader is
   * asked.
   */
  async readIndex(timeoutMs: number): Promise<number> {
    if (this.#role === 'leader') return this.#readIndexHere(timeoutMs)
    const answer = await this.callLeader('readIndex', null)
    if (typeof answer !== 'number' || !Number.isSafeInteger(answer) || answer < 0) throw notLeader('the leader answered a read index with garbage')
    return answer
  }

  /** ZooKeeper's sync: resolves with a zxid once every write committed before the call is applied here. */
  async sync(timeoutMs: number): Promise<number> {
    const deadlineMs = this.#options.clock.nowMs() + timeoutMs
    const index = await this.readIndex(timeoutMs)
    await this.waitForApplied(index, deadlineMs - this.#options.clock.nowMs())
    return this.appliedZxid
  }

  /**
   * Adds a voter (with the address of its peer port) or removes one, through
   * the log (thesis §4.1: one replica at a time). Any replica may be asked:
   * a follower passes the change to the leader. Resolves once the change is
   * applied here, with its zxid and the members from then on.
   */
  async changeMembership(change: MembershipChange): Promise<{ readonly zxid: number; readonly members: readonly Member[] }> {
    if (this.#role !== 'leader') {
      // The leader may take a write timeout to catch a new replica up, and another to commit the change.
      const answer = (await this.callLeader('membership', change, 2 * this.#options.writeTimeoutMs + this.#options.raft.peerTimeoutMs)) as { zxid?: unknown }
      const zxid = typeof answer === 'object' && answer !== null && typeof answer.zxid === 'number' ? answer.zxid : 0
      await this.waitForApplied(zxid, this.#options.writeTimeoutMs)
      return { zxid, members: this.members() }
    }
    const isMember = (id: number): boolean => this.members().some((member) => member.id === id)
    let next: Member[]
    if ('add' in change) {
      const { id } = change.add
      if (isMember(id)) throw new HerdError('NodeExists', `replica ${id} is a member already`)
      if (this.#catchingUp.has(id)) throw new HerdError('Throttled', `replica ${id} is being added already; retry shortly`)
      this.#pendingAddresses.set(id, change.add)
      this.#setTransportPeers()
      this.#catchingUp.add(id)
      try {
        await this.#catchUp(id)
      } catch (error) {
        this.#dropCandidate(id)
        throw error
      } finally {
        this.#catchingUp.delete(id)
      }
      // The catch-up took time: the members may have changed meanwhile.
      if (isMember(id)) throw new HerdError('NodeExists', `replica ${id} is a member already`)
      next = [...this.members(), change.add]
    } else {
      const current = this.members()
      if (!isMember(change.remove)) throw new HerdError('NoNode', `replica ${change.remove} is not a member`)
      if (current.length === 1) throw new HerdError('BadArguments', 'the last voter cannot be removed')
      next = current.filter((member) => member.id !== change.remove)
    }
    const index = this.#core.proposeMembership(next.map((member) => member.id))
    if (index === null) {
      if ('add' in change) this.#dropCandidate(change.add.id)
      throw new HerdError('Throttled', 'another membership change (or this leader\'s first entry) is not committed yet; retry shortly')
    }
    // A learner proposed as a voter stays replicated to as one; its address
    // stays pending until the change is applied (#learnAddresses).
    if ('add' in change) this.#core.removeLearner(change.add.id)
    this.#runSoon()
    const committed = await this.#await(index, this.#term)
    return { zxid: committed.zxid, members: this.members() }
  }

  /** A replica that is not added after all: no longer replicated to as a learner, nor addressed. */
  #dropCandidate(id: number): void {
    this.#core.removeLearner(id)
    this.#pendingAddresses.delete(id)
    this.#setTransportPeers()
  }

  /**
   * Catches a replica up before it is proposed as a voter (thesis §4.2.1):
   * the leader replicates to it as a learner, which counts toward no quorum,
   * in rounds, each to the commit index at its start, until a round takes
   * less than an election timeout. Added at once, an empty replica counts
   * toward the quorum while it copies the log (writes wait for it when a
   * voter is down), and an unreachable one costs the cluster a voter's worth
   * of tolerance for good. As ZooKeeper's reconfig does, a replica that does
   * not catch up within the write timeout is not added: NewConfigNoQuorum.
   */
  async #catchUp(id: number): Promise<void> {
    const { clock, writeTimeoutMs } = this.#options
    const roundMaxMs = this.#options.raft.tickMs * this.#options.raft.electionTicks
    const deadlineMs = clock.nowMs() + writeTimeoutMs
    if (!this.#core.addLearner(id)) throw notLeader(`replica ${this.#options.replicaId} does not lead`)
    this.#runSoon()
    let roundStartMs = clock.nowMs()
    let target = this.commitZxid
    for (;;) {
      if (this.#isClosed || this.#role !== 'leader') throw notLeader(`leadership changed while replica ${id} caught up; retry`)
      const nowMs = clock.nowMs()
      if ((this.#core.matchOf(id) ?? 0) >= target) {
        if (nowMs - roundStartMs < roundMaxMs) return
        roundStartMs = nowMs
        target = this.commitZxid
        continue
      }
      if (nowMs >= deadlineMs) {
        throw new HerdError(
          'NewConfigNoQuorum',
          `replica ${id} did not catch up with the log within ${writeTimeoutMs} ms, so it was not added: start it first (with --join, and --peers naming the voters and itself) and check that the leader reaches its peer port`,
        )
      }
      await new Promise<void>((resolve) => clock.setTimeout(resolve, this.#options.raft.tickMs))
    }
  }

  /** Consensus messages from another replica (the peer server checked who sent them). */
  receive(from: number, messages: unknown): void {
    if (!Array.isArray(messages)) throw new HerdError('MarshallingError', 'consensus messages come as an array')
    for (const message of messages) {
      if (!isMessage(message) || message.from !== from || message.to !== this.#options.replicaId) {
        throw new HerdError('MarshallingError', 'a malformed or misaddressed consensus message')
      }
    }
    if (this.#isClosed) return
    for (const message of messages as Message[]) this.#core.step(message)
    if (this.#isCutOff) this.#checkContact()
    this.#runSoon()
    queueMicrotask(this.#applyCommitted)
  }

  /**
   * What the messages from a peer committed is applied, and its writes
   * answered, at once (a microtask after receive()), not at the end of this
   * turn's I/O: on a replica busy with reads that end is milliseconds away,
   * and a write waits for it on the leader (acknowledgements) and again on
   * a follower it was forwarded from (the commit index in an append). The
   * rest waits for that end: the leader's proposals of this turn share one
   * sync and one append per follower, a follower's appends one sync (#runSoon).
   */
  readonly #applyCommitted = (): void => {
    if (!this.#isClosed) this.#apply(this.#core.takeCommitted())
  }

  /** Whether `id` may talk to this replica: a member, or one being added. */
  isMember(id: number): boolean {
    return this.#known.has(id) || this.#pendingAddresses.has(id)
  }

  /** A call from another replica. */
  async call(from: number, method: string, args: unknown): Promise<unknown> {
    if (this.#isClosed) throw new HerdError('ConnectionLoss', 'the replica is shutting down')
    if (method === 'propose') return this.#serveForwarded(from, args)
    if (method === 'status') return this.#report()
    if (method === 'membership') {
      if (this.#role !== 'leader') throw notLeader(`replica ${this.#options.replicaId} does not lead`)
      return this.changeMembership(parseMembershipChange(args))
    }
    if (method === 'readIndex') {
      if (this.#role !== 'leader') throw notLeader(`replica ${this.#options.replicaId} does not lead`)
      return this.#readIndexHere(this.#options.writeTimeoutMs)
    }
    const handler = this.#calls.get(method)
    if (handler === undefined) throw new HerdError('BadArguments', `no peer method ${method}`)
    return handler(from, args)
  }

  /** Stops taking writes, finishes the batch on its way to the disk, and rejects the rest. */
  async close(): Promise<void> {
    if (this.#isClosed) return
    this.#isClosed = true
    for (const timer of this.#timers) timer.cancel()
    while (this.#isRunning || this.#isRunScheduled) await new Promise((resolve) => setImmediate(resolve))
    const closing = new HerdError('ConnectionLoss', 'the replica is shutting down')
    for (const awaiting of this.#awaiting.values()) awaiting.reject(closing)
    this.#awaiting.clear()
    for (const forward of this.#forwards.splice(0)) forward.reject(closing)
    this.#waiters.rejectAll(closing)
    for (const read of this.#reads.values()) read.reject(closing)
    this.#reads.clear()
  }

  // ------------------------------------------------------------ proposing

  /** Proposes a write as encodeProposal wrote it with time 0 (checked by whoever encoded or decoded it), stamped with this leader's entry time. */
  #proposeHere(unstamped: Uint8Array): ProposeAnswer {
    if (this.#role !== 'leader') return { code: 'ConnectionLoss', detail: 'not the leader', isRefused: true }
    const timeMs = this.#entryTimeMs()
    let data: Uint8Array
    try {
      data = stampProposal(unstamped, timeMs)
    } catch (error) {
      if (error instanceof CodecError) return { code: 'BadArguments', detail: `the write cannot be logged: ${error.message}`, isRefused: false }
      throw error
    }
    const index = this.#core.propose([data])
    if (index === null) return { code: 'ConnectionLoss', detail: 'not the leader', isRefused: true }
    this.#setLastTime(timeMs)
    this.#runSoon()
    return { index, term: this.#term }
  }

  /**
   * The time a new entry is stamped with: this leader's wall clock, but never
   * earlier than the entries it has applied (mtime and TTL arithmetic never
   * see time run backwards) and never more than twice as fast as real time
   * since the newest entry it knows. Idempotency windows and TTLs count in
   * entry time: a leader whose clock runs ahead must not make them end at
   * once (the fault suite's clock-skew scenario: a retried write applied
   * twice after a leader an hour ahead took over). After downtime, entry
   * time catches up with the wall clock at double speed.
   */
  #entryTimeMs(): number {
    const { clock } = this.#options
    const wallMs = clock.wallMs()
    if (this.#lastTimeMs === 0) return wallMs
    const ceilingMs = this.#lastTimeMs + 2 * Math.max(0, clock.nowMs() - this.#lastTimeMonoMs)
    return Math.floor(Math.max(this.#lastTimeMs, Math.min(wallMs, ceilingMs)))
  }

  #setLastTime(timeMs: number): void {
    this.#lastTimeMs = timeMs
    this.#lastTimeMonoMs = this.#options.clock.nowMs()
  }

  #await(index: number, term: number): Promise<Committed> {
    const recent = index <= this.appliedZxid ? this.#recent.get(index) : undefined
    if (index <= this.appliedZxid) {
      if (recent === undefined) return Promise.reject(new HerdError('OperationTimeout', `write zxid ${index} was applied too long ago to tell its result`))
      if (recent.term !== term) return Promise.reject(lostWrite(index))
      return Promise.resolve({ zxid: index, applied: recent.applied })
    }
    // A newer term's entry is applied before it (see #failWritesOfOlderTerms).
    if (term < this.#appliedTerm) return Promise.reject(lostWrite(index))
    return new Promise<Committed>((resolve, reject) => {
      this.#awaiting.set(index, { term, deadlineMs: this.#options.clock.nowMs() + this.#options.writeTimeoutMs, resolve, reject })
    })
  }

  #forward(bytes: Uint8Array): Promise<Committed> {
    return new Promise<Committed>((resolve, reject) => {
      this.#forwards.push({ bytes, deadlineMs: this.#options.clock.nowMs() + this.#options.writeTimeoutMs, resolve, reject })
      this.#scheduleForward(0)
    })
  }

  #scheduleForward(delayMs: number): void {
    if (this.#isForwardScheduled) return
    this.#isForwardScheduled = true
    const run = (): void => {
      this.#isForwardScheduled = false
      void this.#sendForwards()
    }
    if (delayMs === 0) setImmediate(run)
    else this.#options.clock.setTimeout(run, delayMs)
  }

  /** Carries the writes of this turn to the leader in one call; waits (briefly) for a leader when none is known. */
  async #sendForwards(): Promise<void> {
    if (this.#forwards.length === 0 || this.#isClosed) return
    if (this.#role === 'leader') {
      for (const forward of this.#forwards.splice(0)) this.#proposeForward(forward)
      return
    }
    const leader = this.#leader
    if (leader === 0 || this.#options.transport === null) {
      this.#scheduleForward(forwardRetryMs)
      return
    }
    const batch = this.#forwards.splice(0)
    // Until every answer is matched with its entry (#await reads #recent).
    const calls = this.#forwardCallsOut
    const sentAt = this.appliedZxid
    calls.push(sentAt)
    try {
      await this.#sendForwardBatch(leader, batch)
    } finally {
      calls.splice(calls.indexOf(sentAt), 1)
      // Results at or below the oldest call still out are asked for by none.
      const floor = calls[0] ?? Infinity
      for (const index of this.#recent.keys()) {
        if (index > floor) break
        this.#recent.delete(index)
      }
    }
  }

  async #sendForwardBatch(leader: number, batch: readonly Forward[]): Promise<void> {
    const transport = this.#options.transport
    assert(transport !== null, 'forwarding without a transport')
    let answers: unknown
    try {
      answers = await transport.call(leader, 'propose', batch.map((forward) => forward.bytes), this.#options.raft.peerTimeoutMs)
    } catch (error) {
      // The leader may or may not have taken them: the outcome is unknown.
      const detail = isHerdError(error) ? error.detail : String(error)
      for (const forward of batch) forward.reject(new HerdError('ConnectionLoss', `the write was sent to the leader (replica ${leader}) but its answer was lost (${detail}); its outcome is unknown`))
      return
    }
    if (!Array.isArray(answers) || answers.length !== batch.length) {
      for (const forward of batch) forward.reject(new HerdError('ConnectionLoss', 'the leader answered a forwarded write with garbage; its outcome is unknown'))
      return
    }
    for (let i = 0; i < batch.length; i++) {
      const forward = batch[i] as Forward
      const answer = answers[i] as ProposeAnswer
      if (typeof answer === 'object' && answer !== null && 'index' in answer && Number.isSafeInteger(answer.index) && Number.isSafeInteger(answer.term)) {
        this.#await(answer.index, answer.term).then(forward.resolve, forward.reject)
      } else if (typeof answer === 'object' && answer !== null && 'isRefused' in answer && answer.isRefused === true) {
        // Nothing was done: try again, with whoever leads by then.
        this.#forwards.push(forward)
        this.#scheduleForward(forwardRetryMs)
      } else {
        const given = typeof answer === 'object' && answer !== null && 'code' in answer ? answer.code : undefined
        const code = given === 'Throttled' || given === 'ConnectionLoss' ? given : 'BadArguments'
        const detail = typeof answer === 'object' && answer !== null && 'detail' in answer ? String(answer.detail) : 'refused by the leader'
        forward.reject(new HerdError(code, detail))
      }
    }
  }

  #proposeForward(forward: Forward): void {
    // This replica encoded (or the leader before it decoded) these bytes: no need to look inside again.
    const answer = this.#proposeHere(forward.bytes)
    if ('code' in answer) {
      if (answer.isRefused) {
        this.#forwards.push(forward)
        this.#scheduleForward(forwardRetryMs)
      } else {
        forward.reject(new HerdError('BadArguments', answer.detail))
      }
      return
    }
    this.#await(answer.index, answer.term).then(forward.resolve, forward.reject)
  }

  /** The leader's side of a follower's forwarded writes. */
  #serveForwarded(from: number, args: unknown): ProposeAnswer[] {
    if (!Array.isArray(args) || args.length > this.#options.proposalsPendingMax || !args.every((item) => item instanceof Uint8Array)) {
      throw new HerdError('MarshallingError', 'forwarded writes come as an array of encoded proposals')
    }
    // A replica that is not a voter (removed, or not added yet) gets no
    // entries from this leader: it would wait out the write timeout for an
    // apply that never comes.
    const isFromVoter = this.#core.voters().includes(from)
    return (args as Uint8Array[]).map((bytes): ProposeAnswer => {
      if (this.#role !== 'leader') return { code: 'ConnectionLoss', detail: 'not the leader', isRefused: true }
      if (!isFromVoter) {
        return { code: 'ConnectionLoss', detail: `replica ${from} is not a voter of this cluster (removed, or not added yet) and takes no writes; send them to a member`, isRefused: false }
      }
      if (this.#awaiting.size >= this.#options.proposalsPendingMax) {
        return { code: 'Throttled', detail: 'too many writes are waiting to be committed; retry shortly', isRefused: false }
      }
      let entry: Entry
      try {
        entry = decodeEntry(0, bytes)
      } catch (error) {
        if (error instanceof CodecError) return { code: 'BadArguments', detail: `a forwarded write is malformed: ${error.message}`, isRefused: false }
        throw error
      }
      if (entry.command.type === 'membership') return { code: 'BadArguments', detail: 'membership changes are not writes', isRefused: false }
      return this.#proposeHere(bytes)
    })
  }

  #readIndexHere(timeoutMs: number): Promise<number> {
    const context = this.#nextReadContext++
    if (!this.#core.readIndex(context)) return Promise.reject(notLeader(`replica ${this.#options.replicaId} does not lead`))
    this.#runSoon()
    return new Promise<number>((resolve, reject) => {
      this.#reads.set(context, { deadlineMs: this.#options.clock.nowMs() + timeoutMs, resolve, reject })
    })
  }

  // ------------------------------------------------------------ the loop

  #tick(): void {
    if (this.#isClosed) return
    this.#core.tick()
    this.#noteHeardCommit()
    this.#checkContact()
    this.#runSoon()
  }

  /** Samples the commit index heard from the leader, keeping the newest sample at least leaderContactMaxMs old and every later one. */
  #noteHeardCommit(): void {
    const nowMs = this.#options.clock.nowMs()
    const samples = this.#heardCommits
    samples.push({ atMs: nowMs, index: this.#core.leaderCommit().index })
    const dueAtMs = nowMs - this.#options.raft.leaderContactMaxMs
    while (samples.length > 1 && (samples[1] as { atMs: number }).atMs <= dueAtMs) samples.shift()
  }

  /**
   * Cuts this replica off once it has heard from no leader for
   * leaderContactMaxMs, or since it started, or has fallen that far behind
   * the leader's commits; back in contact, once it has applied what the
   * leader had committed then.
   */
  #checkContact(): void {
    const isCutOff = this.#updateCutOff()
    if (isCutOff === this.#isCutOff) return
    this.#isCutOff = isCutOff
    const id = this.#options.replicaId
    const maxMs = this.#options.raft.leaderContactMaxMs
    if (isCutOff && this.#sync?.isLag === true) this.#options.log?.warn(`replica ${id} has not applied what the leader had committed ${maxMs} ms ago (it is at zxid ${this.appliedZxid}): local reads are refused until it catches up (?stale reads anyway)`)
    else if (isCutOff) this.#options.log?.warn(`replica ${id} has heard from no leader for over ${maxMs} ms: local reads are refused until it hears from one and catches up (?stale reads anyway)`)
    else this.#options.log?.info(`replica ${id} is in contact with a leader and caught up: local reads are served`)
    for (const listener of this.#statusListeners) listener()
  }

  /**
   * Whether this replica is cut off now; starts or ends the catch-up (#sync)
   * that contact lost and regained, or a lag past leaderContactMaxMs, calls for.
   */
  #updateCutOff(): boolean {
    const { tickMs, leaderContactMaxMs } = this.#options.raft
    const isInContact = this.#core.contactTicks() * tickMs <= leaderContactMaxMs
    const heard = this.#core.leaderCommit()
    const oldest = this.#heardCommits[0]
    const isLagging = isInContact && oldest !== undefined && oldest.atMs <= this.#options.clock.nowMs() - leaderContactMaxMs && this.appliedZxid < oldest.index
    // Caught up once it has applied what the leader has committed by now.
    if (isLagging) this.#sync ??= { after: heard.messages, target: heard.index, isLag: true }
    if (!isInContact) {
      // Whatever the catch-up was, it now waits for contact, and for what the leader has committed by then.
      if (this.#sync?.target !== null) this.#sync = { after: heard.messages, target: null, isLag: false }
    } else if (this.#sync !== null) {
      // A leader's own commit index is the target; a follower's, the one the first append after the loss announced.
      if (this.#sync.target === null && (this.#role === 'leader' || heard.messages > this.#sync.after)) this.#sync.target = heard.index
      if (this.#sync.target !== null && this.appliedZxid >= this.#sync.target) this.#sync = null
    }
    return !isInContact || this.#sync !== null
  }

  #runSoon(): void {
    if (this.#isRunScheduled) return
    this.#isRunScheduled = true
    // setImmediate runs after the poll phase: every request whose bytes
    // arrived in this turn has been proposed by then, so they share one sync
    // (and one append message per follower).
    setImmediate(() => {
      this.#isRunScheduled = false
      this.#sendEager()
      // What is committed is applied (and answered) now, even while this
      // replica's own next batch is on its way to the disk.
      this.#applyCommitted()
      this.#runNow()
    })
  }

  /**
   * A leader's appends and heartbeats leave at once, even while a Ready is
   * on its way to the disk: the leader writes its log in parallel with the
   * followers (thesis §10.2.1), so a write waits for one sync, not two.
   */
  #sendEager(): void {
    if (this.#options.transport !== null) this.#sendAll(this.#core.takeEagerMessages())
  }

  /** Queues a complete batch of messages with the transport, and sends them now. */
  #sendAll(messages: readonly Message[]): void {
    const transport = this.#options.transport
    if (transport === null || messages.length === 0) return
    for (const message of messages) transport.send(message.to, message)
    transport.flush?.()
  }

  #runNow(): void {
    if (this.#isRunning) return
    this.#isRunning = true
    this.#run().then(
      () => {
        this.#isRunning = false
        if (this.#core.hasReady() && !this.#isClosed) this.#runSoon()
      },
      (error: unknown) => this.#fail(error),
    )
  }

  async #run(): Promise<void> {
    for (this.#sendEager(); this.#core.hasReady(); this.#sendEager()) {
      const ready = this.#core.ready()
      if (ready.snapshot !== null) {
        await this.#options.store.saveSnapshot(ready.snapshot as Snapshot)
        this.#install(ready.snapshot)
      }
      // Committed entries are durable on a majority already, so they are
      // applied (and their writes answered) before this Ready's new entries
      // are synced: a write waits for its own sync, not for the next one's.
      // A leader's appends and heartbeats left already (#sendEager); votes
      // and every reply wait for the sync: they promise what is on disk.
      this.#apply(ready.committed)
      await this.#persist(ready)
      this.#sendAll(ready.messages)
      for (const read of ready.readStates) this.#serveRead(read.context, read.index)
      if (ready.soft !== null) this.#onSoft(ready.soft)
      this.#core.advance(ready)
      this.#maybeSnapshot()
    }
  }

  async #persist(ready: Ready): Promise<void> {
    const { store } = this.#options
    for (const entry of ready.entries) {
      const members = safeMembershipOf(entry.data)
      if (members !== null) this.#learnAddresses(members)
    }
    const hard = ready.hardState
    // Only entries, a new term or a new vote must reach the disk before the
    // messages leave. A commit index alone is not written at all (it rides
    // along with the next entries or vote): a restart learns it again from
    // the leader, or, on a single voter, by committing its log anew.
    const isNewVote = hard !== null && (hard.term !== this.#lastPersistedTerm || hard.vote !== this.#lastPersistedVote)
    if (ready.entries.length === 0 && !isNewVote) return
    const failpoints = this.#failpoints
    if (failpoints.syncDelayMs > 0 && ready.entries.length > 0) await new Promise<void>((resolve) => this.#options.clock.setTimeout(resolve, failpoints.syncDelayMs))
    if (failpoints.has('before-sync')) await failpoints.passAsync('before-sync')
    await store.append(ready.entries as LogRecord[], hard, !failpoints.isSyncDisabled)
    if (failpoints.has('after-sync')) await failpoints.passAsync('after-sync')
    if (hard !== null) {
      this.#lastPersistedTerm = hard.term
      this.#lastPersistedVote = hard.vote
    }
  }

  #install(snapshot: Snapshot): void {
    const before = this.#tree
    this.#tree = restoreSnapshot(snapshot.chunks, this.#options.tree)
    for (const listener of this.#resetListeners) listener(before, this.#tree, snapshot.chunks)
    this.#snapshotZxid = snapshot.meta.index
    this.#appliedTerm = snapshot.meta.term
    const members = decodeMembers(snapshot.meta.extra)
    if (members !== null) {
      const wasRemoved = this.#isRemoved
      this.#applyMembership(members)
      if (this.#isRemoved && !wasRemoved) this.#failWritesOfRemoved()
      this.#learnAddresses(members)
    }
    // Writes waiting at indexes the snapshot covers cannot be told their result.
    for (const [index, awaiting] of this.#awaiting) {
      if (index > snapshot.meta.index) continue
      this.#awaiting.delete(index)
      awaiting.reject(new HerdError('OperationTimeout', `write zxid ${index} was applied within a snapshot; its result is unknown here`))
    }
    this.#failWritesOfOlderTerms()
    this.#recent.clear()
    this.#options.log?.info(`installed the leader's snapshot at zxid ${snapshot.meta.index}`)
    this.#waiters.release(this.appliedZxid)
    if (this.#isCutOff) this.#checkContact()
  }

  #apply(committed: readonly RaftEntry[]): void {
    if (committed.length === 0) return
    const failpoints = this.#failpoints
    failpoints.pass('before-apply')
    const answers: Array<[Awaiting, Committed | HerdError]> = []
    const records: LogRecord[] = []
    const wasRemoved = this.#isRemoved
    const termBefore = this.#appliedTerm
    let newestTimeMs = this.#lastTimeMs
    for (const record of committed) {
      if (record.index <= this.#tree.zxid) continue
      records.push(record)
      const entry = decodeEntry(record.index, record.data)
      if (entry.command.type === 'closeSession' && entry.command.isExpiry) failpoints.pass('expiry-apply')
      const applied = this.#tree.apply(entry)
      for (const listener of this.#listeners) listener(entry, applied)
      this.#appliedTerm = record.term
      if (entry.timeMs > newestTimeMs) newestTimeMs = entry.timeMs
      if (entry.command.type === 'membership') this.#applyMembership(entry.command.members)
      if (this.#forwardCallsOut.length > 0) {
        this.#recent.set(record.index, { term: record.term, applied })
        if (this.#recent.size > recentResultsMax) this.#recent.delete(this.#recent.keys().next().value as number)
      }
      const awaiting = this.#awaiting.get(record.index)
      if (awaiting !== undefined) {
        this.#awaiting.delete(record.index)
        answers.push([awaiting, awaiting.term === record.term ? { zxid: record.index, applied } : lostWrite(record.index)])
      }
    }
    // Once per batch: the clock is read only when entry time moved.
    if (newestTimeMs > this.#lastTimeMs) this.#setLastTime(newestTimeMs)
    if (this.#batchListeners.length > 0 && records.length > 0) {
      for (const listener of this.#batchListeners) listener(records)
    }
    for (const [awaiting, answer] of answers) {
      if (answer instanceof HerdError) awaiting.reject(answer)
      else awaiting.resolve(answer)
    }
    if (this.#appliedTerm > termBefore) this.#failWritesOfOlderTerms()
    if (this.#isRemoved && !wasRemoved) this.#failWritesOfRemoved()
    this.#waiters.release(this.appliedZxid)
    if (this.#isCutOff) this.#checkContact()
  }

  /** Members as of the applied index (an entry or a snapshot): whether this replica is removed follows them. */
  #applyMembership(members: readonly Member[]): void {
    const isMember = (list: readonly Member[]): boolean => list.some((member) => member.id === this.#options.replicaId)
    if (isMember(this.#appliedMembers) && !isMember(members)) this.#isRemoved = true
    else if (isMember(members)) this.#isRemoved = false
    this.#appliedMembers = members
  }

  /**
   * Fails at once the writes waiting at later indexes with a term older than
   * the one applied: terms never decrease along a log, so once an entry of
   * term T is committed, no entry of an older term commits after it. Without
   * this, a write a deposed leader appended past what its heir holds would
   * wait out the write timeout whenever no new write reaches its index.
   */
  #failWritesOfOlderTerms(): void {
    for (const [index, awaiting] of this.#awaiting) {
      if (awaiting.term >= this.#appliedTerm) continue
      this.#awaiting.delete(index)
      awaiting.reject(lostWrite(index))
    }
  }

  /** Once applied up to its own removal: fails what waits here at once (the leader that answers it is gone). */
  #failWritesOfRemoved(): void {
    this.#options.log?.warn(`replica ${this.#options.replicaId} was removed from the cluster: it takes no more writes`)
    // Entries this replica appended after the change, as its leader, may
    // still commit on the others (its heir holds them all): their outcome is
    // unknown here, and will stay so.
    for (const [index, awaiting] of this.#awaiting) {
      this.#awaiting.delete(index)
      awaiting.reject(new HerdError('OperationTimeout', `this replica was removed from the cluster before write zxid ${index} committed; its outcome is unknown here (ask a member)`))
    }
    for (const forward of this.#forwards.splice(0)) forward.reject(removedError())
  }

  #serveRead(context: number, index: number): void {
    const read = this.#reads.get(context)
    if (read === undefined) return
    this.#reads.delete(context)
    read.resolve(index)
  }

  #onSoft(soft: { readonly role: Role; readonly leader: number; readonly term: number }): void {
    const wasLeader = this.#role === 'leader'
    this.#role = soft.role
    this.#leader = soft.leader
    this.#term = soft.term
    if (wasLeader && soft.role !== 'leader') {
      // Reads waiting for this leader's confirmation will not get it.
      for (const read of this.#reads.values()) read.reject(notLeader('leadership changed while the read waited; retry'))
      this.#reads.clear()
    }
    if (soft.leader !== 0 && this.#forwards.length > 0) this.#scheduleForward(0)
    const change: RoleChange = { role: soft.role, leader: this.leaderId, term: soft.term }
    for (const listener of this.#roleListeners) listener(change)
    for (const listener of this.#statusListeners) listener()
  }

  /** Learns the addresses of a membership seen in the log or a snapshot; who is a member is the core's to say. */
  #learnAddresses(members: readonly Member[]): void {
    for (const member of members) {
      this.#pendingAddresses.delete(member.id)
      this.#known.set(member.id, member)
    }
    this.#setTransportPeers()
  }

  /**
   * Every address the core may send to: members past and present, and
   * replicas being added. Replicas removed from the membership stay
   * reachable: a leader that removes itself commits the change only with the
   * acknowledgements of the others, which already hold the new membership.
   * The core decides whom it talks to; the transport only needs addresses.
   */
  #setTransportPeers(): void {
    this.#options.transport?.setPeers(this.#pendingAddresses.size === 0 ? this.#known : new Map([...this.#known, ...this.#pendingAddresses]))
  }

  #encodeMembership(voters: readonly number[]): Uint8Array {
    const members = voters.map((id) => {
      const member = this.#known.get(id) ?? this.#pendingAddresses.get(id)
      assert(member !== undefined, `no address for replica ${id}`)
      return member
    })
    return encodeProposal({ timeMs: 0, caller: anonymous, idempotency: null, command: { type: 'membership', members } })
  }

  #expireDeadlines(): void {
    const nowMs = this.#options.clock.nowMs()
    // A late write is answered, but its entry stays in the log: it may still
    // commit. "Outcome unknown" is the truth.
    for (const [index, awaiting] of this.#awaiting) {
      if (awaiting.deadlineMs > nowMs) continue
      this.#awaiting.delete(index)
      awaiting.reject(new HerdError('OperationTimeout', `write zxid ${index} was not committed in time; its outcome is unknown`))
    }
    if (this.#forwards.length > 0) {
      const remaining: Forward[] = []
      for (const forward of this.#forwards) {
        if (forward.deadlineMs > nowMs) remaining.push(forward)
        else forward.reject(notLeader('no leader could take the write in time; it did not happen'))
      }
      this.#forwards = remaining
    }
    for (const [context, read] of this.#reads) {
      if (read.deadlineMs > nowMs) continue
      this.#reads.delete(context)
      read.reject(new HerdError('OperationTimeout', 'the leader could not confirm its leadership in time'))
    }
    this.#waiters.expire(this.appliedZxid)
  }

  #maybeSnapshot(): void {
    if (this.#isSnapshotting || this.#isClosed) return
    if (this.appliedZxid - this.#snapshotZxid < this.#options.snapshotEntriesInterval) return
    const index = this.appliedZxid
    const store = this.#options.store
    // Committed entries are applied as soon as a majority holds them, which
    // may be before this replica's own sync of them has finished (or even
    // started). A snapshot must lie within this replica's durable log: the
    // store takes a snapshot past its log (or at an entry of another term)
    // for a leader's, and drops the log, and the entries still on their way
    // would then land outside it. Wait until the log has caught up.
    if (store.term(index) !== this.#appliedTerm) return
    this.#isSnapshotting = true
    // Serialising is synchronous, so the snapshot is exactly the tree at
    // `index`; writing it and truncating the log happen off this turn.
    const meta: SnapshotMeta = { index, term: this.#appliedTerm, extra: encodeMembers(this.#appliedMembers) }
    const chunks = writeSnapshot(this.#tree)
    const slack = this.#options.snapshotLogSlackEntries ?? Math.min(snapshotLogSlackDefault, Math.floor(this.#options.snapshotEntriesInterval / 2))
    store
      .saveSnapshot({ meta, chunks })
      .then(() => this.#failpoints.passAsync('after-snapshot-write'))
      .then(() => {
        const through = Math.min(index, index - slack)
        return through >= store.firstIndex() ? store.compact(through) : undefined
      })
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
    this.#isRunning = false
    for (const timer of this.#timers) timer.cancel()
    this.#options.onFatal(error)
  }
}

function refused(error: HerdError): Proposed {
  return { zxid: null, term: 0, committed: Promise.reject(error) }
}

function removedError(): HerdError {
  return notLeader('this replica was removed from the cluster and takes no writes; send them to a member')
}

function lostWrite(index: number): HerdError {
  return new HerdError('ConnectionLoss', `the write at zxid ${index} was lost in a change of leader and did not happen; retry it`)
}

function subscribe<T>(list: T[], item: T): () => void {
  list.push(item)
  return () => {
    const index = list.indexOf(item)
    if (index >= 0) list.splice(index, 1)
  }
}

function safeMembershipOf(data: Uint8Array): readonly Member[] | null {
  try {
    return membershipOf(data)
  } catch {
    return null
  }
}

/** A snapshot's membership travels in its meta as a membership entry's bytes. */
function encodeMembers(members: readonly Member[]): Uint8Array {
  return encodeProposal({ timeMs: 0, caller: anonymous, idempotency: null, command: { type: 'membership', members } })
}

function decodeMembers(extra: Uint8Array): readonly Member[] | null {
  return extra.length === 0 ? null : safeMembershipOf(extra)
}

/** A membership change as another replica sent it; MarshallingError when it is not one. */
export function parseMembershipChange(value: unknown): MembershipChange {
  const isId = (id: unknown): id is number => typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= 254
  if (typeof value === 'object' && value !== null) {
    const { add, remove } = value as { add?: unknown; remove?: unknown }
    if (isId(remove) && add === undefined) return { remove }
    if (typeof add === 'object' && add !== null && remove === undefined) {
      const { id, host, port } = add as Partial<Member>
      if (isId(id) && typeof host === 'string' && host.length > 0 && host.length <= 255 && typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) {
        return { add: { id, host, port } }
      }
    }
  }
  throw new HerdError('MarshallingError', 'a membership change is {add: {id, host, port}} or {remove: id}')
}
