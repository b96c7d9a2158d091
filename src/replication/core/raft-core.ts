// The Raft state machine (Ongaro's thesis; etcd-io/raft's shape): input is a
// tick, a message or a request from the driver; output accumulates until the
// driver takes it as a Ready. Nothing here waits, reads a clock, draws a
// random number of its own or touches the disk.
import { assert } from '../../assert.ts'
import { isCommittableByCount } from './commit-rule.ts'
import { decodeVoters, differsByOne, isVoterList, MembershipHistory } from './membership.ts'
import { isMessage } from './message.ts'
import type {
  AppendMessage,
  AppendReplyMessage,
  HeartbeatMessage,
  HeartbeatReplyMessage,
  Message,
  PreVoteMessage,
  PreVoteReplyMessage,
  SnapshotMessage,
  VoteMessage,
  VoteReplyMessage,
} from './message.ts'
import { Progress } from './progress.ts'
import { quorumIndex, voteOutcome } from './quorum.ts'
import { RaftLog } from './raft-log.ts'
import { ReadIndexQueue } from './read-index.ts'
import type {
  CoreConfig,
  CoreStatus,
  HardState,
  ProgressView,
  RaftEntry,
  RaftStorage,
  ReadState,
  Ready,
  Role,
  SoftState,
} from './types.ts'

/** A message as the core builds it, before the envelope is filled in. */
type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'from' | 'term'> & { term?: number } : never) : never

const empty: readonly never[] = Object.freeze([])

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term
}

function validateConfig(config: CoreConfig): void {
  assert(Number.isSafeInteger(config.id) && config.id > 0, 'raft: id must be a positive integer')
  assert(Number.isSafeInteger(config.heartbeatTicks) && config.heartbeatTicks >= 1, 'raft: heartbeatTicks must be at least 1')
  assert(
    Number.isSafeInteger(config.electionTicks) && config.electionTicks > config.heartbeatTicks,
    'raft: electionTicks must exceed heartbeatTicks',
  )
  assert(Number.isSafeInteger(config.appendBytesMax) && config.appendBytesMax > 0, 'raft: appendBytesMax must be positive')
  assert(Number.isSafeInteger(config.inflightAppendsMax) && config.inflightAppendsMax > 0, 'raft: inflightAppendsMax must be positive')
  assert(config.membership.decode(config.noop) === null, 'raft: the noop must not decode as a membership change')
  assert(isVoterList(config.voters), 'raft: bootstrap voters must be distinct positive integers')
}

function lastEntryIndex(message: AppendMessage): number {
  return message.prevIndex + message.entries.length
}

/** The message types takeEagerMessages() hands out. */
const eagerMessageTypes: ReadonlySet<Message['type']> = new Set(['append', 'heartbeat', 'snapshot', 'timeoutNow'])

export class RaftCore {
  readonly #config: CoreConfig
  readonly #id: number
  readonly #log: RaftLog
  readonly #membership: MembershipHistory
  readonly #committedBytesMax: number
  #term: number
  #vote: number
  #role: Role = 'follower'
  #leader = 0
  #electionElapsed = 0
  #heartbeatElapsed = 0
  #electionTimeout = 0
  /**
   * See contactTicks(). Infinite until the first contact: a replica that
   * starts has not heard from a leader yet (its tree may be from long ago).
   */
  #contactElapsed = Infinity
  /** The highest commit index a leader announced in an append or a snapshot (see leaderCommit()). */
  #leaderCommit = 0
  /** How many appends and snapshots from a leader this core has stepped. */
  #leaderMessages = 0
  /**
   * On a follower, in this term: the highest index at which its log was
   * found to agree with the leader's (an accepted append's last), and the
   * highest `durable` the leader announced. See #maybeCommitAsPair().
   */
  #agreed = 0
  #leaderDurable = 0
  /**
   * On a leader, in this term: the highest `durable` it announced. Its
   * followers may have committed up to there before it knows: a read index
   * is never below it.
   */
  #announcedDurable = 0
  /** Votes (or pre-votes) received in the current campaign. */
  #votes = new Map<number, boolean>()
  /** On the leader: one per voter, itself included. */
  #progress: Map<number, Progress> | null = null
  /** On the leader: the voter leadership is being handed to, 0 for none. */
  #transferee = 0
  /**
   * On the leader: replicas it catches up before they are proposed as voters
   * (thesis §4.2.1). It replicates to them as to a follower; they count
   * toward no quorum, vote in no election, and are forgotten with leadership.
   */
  readonly #learners = new Set<number>()
  readonly #reads = new ReadIndexQueue()
  #messages: Message[] = []
  #isBroadcastDue = false
  #readStates: ReadState[] = []
  /** The Ready handed out and not yet advanced. */
  #outstanding: Ready | null = null
  /** The hard state and soft state as of the last Ready (what the driver knows). */
  #reportedHardState: HardState
  #reportedSoftState: SoftState

  constructor(config: CoreConfig, storage: RaftStorage) {
    validateConfig(config)
    this.#config = config
    this.#id = config.id
    this.#committedBytesMax = config.committedBytesMax ?? Number.MAX_SAFE_INTEGER
    const hardState = storage.hardState()
    const snapshotMeta = storage.snapshotMeta()
    const snapshotIndex = snapshotMeta?.index ?? 0
    const commit = Math.max(hardState.commit, snapshotIndex)
    assert(
      commit <= storage.lastIndex(),
      `raft: commit ${commit} is beyond the log (${storage.lastIndex()}): was a Ready persisted out of order?`,
    )
    const applied = Math.min(commit, Math.max(snapshotIndex, config.applied ?? 0))
    this.#log = new RaftLog(storage, commit, applied)
    this.#term = hardState.term
    this.#vote = hardState.vote
    this.#membership = this.#restoreMembership(storage)
    this.#reportedHardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit }
    this.#reportedSoftState = this.#softState()
    this.#resetElectionTimeout()
  }

  /**
   * The latest membership change in the log, else the snapshot's, else the
   * bootstrap voters. Reads the log once, on start.
   */
  #restoreMembership(storage: RaftStorage): MembershipHistory {
    const meta = storage.snapshotMeta()
    const fromSnapshot = meta === null ? null : decodeVoters(this.#config.membership, meta.extra)
    const history =
      meta !== null && fromSnapshot !== null
        ? new MembershipHistory(meta.index, fromSnapshot)
        : new MembershipHistory(0, this.#config.voters)
    const last = storage.lastIndex()
    let index = Math.max(storage.firstIndex(), (fromSnapshot === null ? 0 : (meta?.index ?? 0)) + 1)
    while (index <= last) {
      const entries = storage.entries(index, last + 1, this.#config.appendBytesMax)
      assert(entries.length > 0, 'raft: storage returned no entries')
      for (const entry of entries) {
        const voters = decodeVoters(this.#config.membership, entry.data)
        if (voters !== null) history.add(entry.index, voters)
      }
      index += entries.length
    }
    history.prune(this.#log.applied)
    return history
  }

  // Inputs.

  tick(): void {
    this.#contactElapsed++
    if (this.#role === 'leader') this.#tickLeader()
    else this.#tickElection()
  }

  #tickElection(): void {
    this.#electionElapsed++
    if (!this.#isVoter()) return
    const isAlone = this.voters().length === 1
    if (isAlone || this.#electionElapsed >= this.#electionTimeout) this.#hup(false)
  }

  #tickLeader(): void {
    this.#heartbeatElapsed++
    this.#electionElapsed++
    const progress = this.#progress as Map<number, Progress>
    for (const [id, pr] of progress) {
      if (pr.state !== 'snapshot') continue
      pr.snapshotTicks++
      // A lost snapshot message gets no reply: try again, from a probe.
      if (pr.snapshotTicks >= 2 * this.#config.electionTicks) {
        pr.abandonSnapshot()
        this.#sendAppend(id, true)
      }
    }
    if (this.#electionElapsed >= this.#config.electionTicks) {
      this.#electionElapsed = 0
      if (!this.#checkQuorum()) {
        this.#becomeFollower(this.#term, 0)
        return
      }
      this.#contactElapsed = 0
      this.#transferee = 0
    }
    if (this.#heartbeatElapsed >= this.#config.heartbeatTicks) {
      this.#heartbeatElapsed = 0
      this.#broadcastHeartbeat()
    }
  }

  /** Check quorum (§6.2): a leader that has not heard from a majority in an election timeout steps down. */
  #checkQuorum(): boolean {
    const progress = this.#progress as Map<number, Progress>
    let active = 0
    const voters = this.voters()
    for (const id of voters) {
      if (id === this.#id || progress.get(id)?.isRecentActive === true) active++
    }
    for (const [id, pr] of progress) if (id !== this.#id) pr.isRecentActive = false
    return active >= Math.floor(voters.length / 2) + 1
  }

  /** Starts an election now (with a pre-vote first), if this replica is a voter and not the leader. */
  campaign(): void {
    this.#hup(false)
  }

  #hup(isTransfer: boolean): void {
    if (this.#role === 'leader' || !this.#isVoter()) return
    if (isTransfer) this.#becomeCandidate(true)
    else this.#becomePreCandidate()
  }

  /** Steps a message from a peer. Malformed, misaddressed and stale messages are ignored. */
  step(message: Message): void {
    if (!isMessage(message) || message.to !== this.#id || message.from === this.#id) return
    const m = message
    // Vote requests are answered whoever asks, member or not: a replica
    // whose log lags a membership change must still help elect a leader
    // that is a member only in the newer configuration (thesis §4.1; the
    // simulator deadlocked without it). Removed replicas cannot disrupt:
    // leases (below) and pre-votes stop them (§4.2.3).
    if (m.term > this.#term) {
      if (!this.#stepHigherTerm(m)) return
    } else if (m.term < this.#term) {
      this.#stepLowerTerm(m)
      return
    }
    switch (m.type) {
      case 'preVote':
      case 'vote':
        this.#handleVoteRequest(m)
        return
      case 'preVoteReply':
      case 'voteReply':
        this.#handleVoteReply(m)
        return
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.#stepFromLeader(m)
        return
      case 'appendReply':
        this.#handleAppendReply(m)
        return
      case 'heartbeatReply':
        this.#handleHeartbeatReply(m)
        return
      case 'timeoutNow':
        if (this.#role === 'follower') this.#hup(true)
        return
    }
  }

  /** A message from a later term; returns whether to go on handling it. */
  #stepHigherTerm(m: Message): boolean {
    if (m.type === 'preVote' || (m.type === 'vote' && !m.transfer)) {
      // Leader stickiness (§4.2.3, §9.6): while a leader is heard from, a
      // campaign is a partitioned or removed replica's, and is ignored.
      if (this.#isInLease()) return false
    }
    // A pre-vote changes no one's term, and neither does a granted reply.
    if (m.type === 'preVote') return true
    if (m.type === 'preVoteReply' && m.granted) return true
    const isFromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot'
    this.#becomeFollower(m.term, isFromLeader ? m.from : 0)
    return true
  }

  #stepLowerTerm(m: Message): void {
    if (m.type === 'append' || m.type === 'heartbeat') {
      // A stale leader (partitioned, now back) learns the newer term from the
      // reply and steps down; without it, a replica whose term rose while it
      // was cut off could never rejoin.
      this.#send({ type: 'appendReply', to: m.from, success: false, index: 0, hintIndex: 0, hintTerm: 0 })
    } else if (m.type === 'preVote') {
      this.#send({ type: 'preVoteReply', to: m.from, granted: false })
    } else if (m.type === 'vote') {
      this.#send({ type: 'voteReply', to: m.from, granted: false })
    }
  }

  #isInLease(): boolean {
    return this.#leader !== 0 && this.#electionElapsed < this.#config.electionTicks
  }

  #handleVoteRequest(m: PreVoteMessage | VoteMessage): void {
    const isPre = m.type === 'preVote'
    const canVote =
      this.#vote === m.from || (this.#vote === 0 && this.#leader === 0) || (isPre && m.term > this.#term)
    const isUpToDate =
      m.lastTerm > this.#log.lastTerm() || (m.lastTerm === this.#log.lastTerm() && m.lastIndex >= this.#log.lastIndex())
    const type = isPre ? 'preVoteReply' : 'voteReply'
    if (canVote && isUpToDate) {
      // A grant carries the term asked about: for a pre-vote that is the
      // candidate's next term, which this replica does not adopt.
      this.#send({ type, to: m.from, term: m.term, granted: true })
      if (!isPre) {
        this.#vote = m.from
        this.#electionElapsed = 0
      }
    } else {
      this.#send({ type, to: m.from, granted: false })
    }
  }

  #handleVoteReply(m: PreVoteReplyMessage | VoteReplyMessage): void {
    if (m.type === 'preVoteReply') {
      if (this.#role !== 'precandidate') return
      // Grants come with our next term, refusals with the voter's (ours).
      if (m.granted ? m.term !== this.#term + 1 : m.term !== this.#term) return
    } else if (this.#role !== 'candidate') {
      return
    }
    if (!this.voters().includes(m.from)) return
    this.#votes.set(m.from, m.granted)
    const outcome = voteOutcome(this.voters(), this.#votes)
    if (outcome === 'lost') this.#becomeFollower(this.#term, 0)
    else if (outcome === 'won') {
      if (this.#role === 'precandidate') this.#becomeCandidate(false)
      else this.#becomeLeader()
    }
  }

  #stepFromLeader(m: AppendMessage | HeartbeatMessage | SnapshotMessage): void {
    if (this.#role === 'leader') return // another leader in this term is impossible; ignore it
    if (this.#role !== 'follower') this.#becomeFollower(this.#term, m.from)
    this.#leader = m.from
    this.#electionElapsed = 0
    this.#contactElapsed = 0
    if (m.type === 'append') this.#handleAppend(m)
    else if (m.type === 'heartbeat') this.#handleHeartbeat(m)
    else this.#handleSnapshot(m)
  }

  /** Whether an append's entries are contiguous after prevIndex, with sane terms. */
  #isWellFormedAppend(m: AppendMessage): boolean {
    let previousTerm = m.prevTerm
    for (let i = 0; i < m.entries.length; i++) {
      const entry = m.entries[i] as RaftEntry
      if (entry.index !== m.prevIndex + 1 + i || entry.term < previousTerm || entry.term > m.term) return false
      previousTerm = entry.term
    }
    return m.prevTerm <= m.term && Number.isSafeInteger(m.prevIndex + m.entries.length + 1)
  }

  #handleAppend(m: AppendMessage): void {
    if (!this.#isWellFormedAppend(m)) return
    this.#noteLeaderCommit(m.commit)
    const committed = this.#log.committed
    // Skipping what is committed (below) moves the start, never the end.
    const lastNew = lastEntryIndex(m)
    let prevIndex = m.prevIndex
    let prevTerm = m.prevTerm
    let entries = m.entries
    if (prevIndex < committed) {
      // What this replica committed it holds: skip ahead to the commit index.
      if (lastNew <= committed) {
        this.#replyAppend(m.from, committed)
        return
      }
      prevTerm = (entries[committed - prevIndex - 1] as RaftEntry).term
      entries = entries.slice(committed - prevIndex)
      prevIndex = committed
    }
    if (this.#log.term(prevIndex) !== prevTerm) {
      const [hintIndex, hintTerm] = this.#findConflictByTerm(Math.min(prevIndex, this.#log.lastIndex()), prevTerm)
      this.#send({ type: 'appendReply', to: m.from, success: false, index: m.prevIndex, hintIndex, hintTerm })
      return
    }
    const conflict = this.#findConflict(entries)
    if (conflict !== null) this.#appendToLog(entries.slice(conflict - prevIndex - 1))
    this.#commitTo(Math.min(m.commit, lastNew))
    if (lastNew > this.#agreed) this.#agreed = lastNew
    if (m.durable > this.#leaderDurable) this.#leaderDurable = m.durable
    this.#maybeCommitAsPair()
    this.#replyAppend(m.from, lastNew)
  }

  /**
   * A follower commits on its own what it and its leader both hold on disk,
   * when the two are a majority: in a cluster of at most three voters, with
   * no membership change pending. An entry of the current term stored on a
   * majority is committed (§5.4.2): every later leader holds it, because it
   * needs a vote from one of the two, and neither votes for a log without
   * it. The leader's knowledge is only how the leader learns it; counting
   * here saves a forwarded write the acknowledgement's trip to the leader
   * and the commit index's trip back.
   *
   * What counts: entries up to the last index that agreed with the leader's
   * log in this term (the leader's log in its term only grows, so they stay
   * its entries), that the leader announced durable, and that are on this
   * replica's disk (advance() moves that). Beyond the committed index the
   * log holds no membership change, so the voters are the committed ones;
   * a change the leader appended since (not yet here) differs from them by
   * one voter, so their majorities overlap, and it proposes another only
   * once that one, and so everything before it, is committed.
   */
  #maybeCommitAsPair(): void {
    if (this.#role !== 'follower' || this.#leader === 0) return
    const index = Math.min(this.#agreed, this.#leaderDurable, this.#log.durableLastIndex())
    if (index <= this.#log.committed || this.#log.term(index) !== this.#term) return
    if (!this.#isPairMajority() || !this.voters().includes(this.#leader)) return
    this.#commitTo(index)
  }

  /**
   * Whether this replica and any other voter are a majority: at most three
   * voters, this one among them, and no membership change pending. The one
   * rule both sides of #maybeCommitAsPair follow.
   */
  #isPairMajority(): boolean {
    if (this.#membership.latestIndex() > this.#log.committed) return false
    const voters = this.voters()
    return voters.length <= 3 && voters.includes(this.#id)
  }

  #noteLeaderCommit(commit: number): void {
    if (commit > this.#leaderCommit) this.#leaderCommit = commit
    this.#leaderMessages++
  }

  #replyAppend(to: number, index: number): void {
    this.#send({ type: 'appendReply', to, success: true, index, hintIndex: 0, hintTerm: 0 })
  }

  /** The index of the first entry this log lacks or holds with another term; null when it holds them all. */
  #findConflict(entries: readonly RaftEntry[]): number | null {
    for (const entry of entries) {
      if (this.#log.term(entry.index) !== entry.term) return entry.index
    }
    return null
  }

  /**
   * The last index at or below `index` whose term is at most `term`, with
   * that term (0 when it is no longer known): where this log may agree with
   * another whose entry at `index` has `term` (§5.3's optimization).
   */
  #findConflictByTerm(index: number, term: number): [number, number] {
    for (let i = index; i > 0; i--) {
      const found = this.#log.term(i)
      if (found === undefined) return [i, 0]
      if (found <= term) return [i, found]
    }
    return [0, 0]
  }

  #handleHeartbeat(m: HeartbeatMessage): void {
    // The leader sends at most what this replica is known to hold.
    if (m.commit <= this.#log.lastIndex()) this.#commitTo(m.commit)
    this.#send({ type: 'heartbeatReply', to: m.from, context: m.context })
  }

  #handleSnapshot(m: SnapshotMessage): void {
    const { meta } = m.snapshot
    if (meta.term > m.term) return
    this.#noteLeaderCommit(meta.index)
    if (meta.index <= this.#log.committed) {
      this.#replyAppend(m.from, this.#log.committed)
      return
    }
    if (this.#log.term(meta.index) === meta.term) {
      // The log already holds the snapshot's last entry: by log matching it
      // holds everything before it too, so only the commit index moves.
      this.#commitTo(meta.index)
      this.#replyAppend(m.from, meta.index)
      return
    }
    // Entries not yet durable at or below the snapshot would make the disk
    // disagree with this log about where the snapshot lands (storage keeps
    // its log when it holds the snapshot's entry). Wait for them to settle:
    // the leader sends the snapshot again.
    if (this.#log.hasUnstableThrough(meta.index)) return
    const voters = decodeVoters(this.#config.membership, meta.extra) ?? this.#membership.voters()
    this.#log.restore(m.snapshot)
    this.#agreed = meta.index
    this.#membership.installSnapshot(meta.index, voters, this.#log.applied)
    this.#replyAppend(m.from, meta.index)
  }

  #handleAppendReply(m: AppendReplyMessage): void {
    if (this.#role !== 'leader') return
    const pr = this.#progress?.get(m.from)
    if (pr === undefined) return
    pr.isRecentActive = true
    if (!m.success) {
      let probeAt = m.hintIndex
      if (m.hintTerm > 0) probeAt = this.#findConflictByTerm(Math.min(m.hintIndex, this.#log.lastIndex()), m.hintTerm)[0]
      if (pr.maybeDecreaseTo(m.index, probeAt)) {
        if (pr.state === 'replicate') pr.becomeProbe()
        this.#sendAppend(m.from, true)
      }
      return
    }
    if (m.index > this.#log.lastIndex()) return // no follower holds more than its leader
    const isProbeMatch = pr.state === 'probe' && pr.match === m.index
    const wasPaused = pr.isPaused()
    if (!pr.maybeUpdate(m.index) && !isProbeMatch) return
    if (pr.state === 'probe') pr.becomeReplicate()
    else if (pr.state === 'snapshot') {
      if (pr.match >= pr.pendingSnapshot || pr.match + 1 >= this.#log.firstIndex()) {
        pr.becomeProbe()
        pr.becomeReplicate()
      }
    } else pr.inflights.freeTo(m.index)
    // A new commit index goes to everyone; a follower that was waiting (in
    // probe or snapshot) gets at least an empty append carrying it.
    if (this.#maybeCommit()) this.#broadcastAppend()
    else if (wasPaused) this.#sendAppend(m.from, true)
    if (this.#role !== 'leader') return
    while (this.#sendAppend(m.from, false)) {
      // Fill the pipeline.
    }
    if (m.from === this.#transferee && pr.match === this.#log.lastIndex()) {
      this.#send({ type: 'timeoutNow', to: m.from })
    }
  }

  #handleHeartbeatReply(m: HeartbeatReplyMessage): void {
    if (this.#role !== 'leader') return
    const pr = this.#progress?.get(m.from)
    if (pr === undefined) return
    pr.isRecentActive = true
    pr.isProbeSent = false
    // A lost append would otherwise hold its slot forever.
    if (pr.state === 'replicate' && pr.inflights.isFull()) pr.inflights.freeFirst()
    if (pr.match < this.#log.lastIndex()) this.#sendAppend(m.from, true)
    if (m.context > 0 && m.context <= this.#reads.round) {
      for (const read of this.#reads.acknowledge(m.from, m.context, this.voters())) this.#readStates.push(read)
    }
  }

  // Requests from the driver.

  /**
   * Appends entries to the leader's log and returns the index of the first;
   * null when this replica is not the leader or is handing leadership over.
   */
  propose(data: readonly Uint8Array[]): number | null {
    assert(data.length > 0, 'raft: propose needs at least one entry')
    if (this.#role !== 'leader' || this.#transferee !== 0) return null
    for (const bytes of data) {
      assert(this.#config.membership.decode(bytes) === null, 'raft: membership changes go through proposeMembership')
    }
    const first = this.#appendAsLeader(data)
    this.#broadcastAppend()
    return first
  }

  /**
   * Proposes a new voter set (thesis §4.1): it must differ from the current
   * one by one replica, no other change may be uncommitted, and this leader
   * must have committed an entry of its own term first (the fix to the
   * single-server change bug, thesis §4.1 erratum). Null when refused.
   */
  proposeMembership(voters: readonly number[]): number | null {
    if (this.#role !== 'leader' || this.#transferee !== 0) return null
    if (this.#log.term(this.#log.committed) !== this.#term) return null
    if (this.#membership.latestIndex() > this.#log.committed) return null
    if (!isVoterList(voters) || !differsByOne(this.voters(), voters)) return null
    const index = this.#appendAsLeader([this.#config.membership.encode(voters)])
    assert(this.voters().length === voters.length, 'raft: the membership codec did not round-trip')
    this.#broadcastAppend()
    return index
  }

  /**
   * Read index (thesis §6.4): once this leader has committed an entry of its
   * term and a majority confirmed its leadership after this call, a
   * ReadState{context, index} comes out, index being the commit index at the
   * call (or, if the term's first commit had not happened yet, at that
   * commit), or the highest index this leader announced durable to
   * followers that commit as a pair with it, if higher. False when not the
   * leader.
   */
  readIndex(context: number): boolean {
    if (this.#role !== 'leader') return false
    if (this.#log.term(this.#log.committed) !== this.#term) {
      this.#reads.wait(context)
      return true
    }
    this.#startReads([context])
    return true
  }

  #startReads(contexts: readonly number[]): void {
    if (contexts.length === 0) return
    // A follower may have committed (and answered) more than this leader knows of: up to what it announced durable.
    this.#reads.start(contexts, Math.max(this.#log.committed, this.#announcedDurable), this.#isVoter() ? this.#id : null)
    for (const read of this.#reads.takeReady(this.voters())) this.#readStates.push(read)
    if (this.#reads.size > 0) this.#broadcastHeartbeat()
  }

  /**
   * Starts replicating to `id`, a replica that is not a voter, so that it
   * catches up before it is proposed as one (thesis §4.2.1). False when not
   * the leader, or when `id` votes already.
   */
  addLearner(id: number): boolean {
    if (this.#role !== 'leader' || !Number.isSafeInteger(id) || id <= 0 || this.voters().includes(id)) return false
    this.#learners.add(id)
    this.#syncProgress()
    this.#sendAppend(id, true)
    return true
  }

  /** Stops catching `id` up (it was proposed as a voter, or gave up); a voter keeps being replicated to. */
  removeLearner(id: number): void {
    if (!this.#learners.delete(id) || this.#role !== 'leader') return
    this.#syncProgress()
  }

  /** On the leader: the highest index `id` is known to hold durably (null when it is not replicated to). */
  matchOf(id: number): number | null {
    return this.#progress?.get(id)?.match ?? null
  }

  /** Hands leadership to `to` (thesis §3.10): catch it up, then tell it to campaign. */
  transferLeadership(to: number): boolean {
    if (this.#role !== 'leader' || to === this.#id || !this.voters().includes(to)) return false
    const pr = (this.#progress as Map<number, Progress>).get(to)
    if (pr === undefined) return false
    this.#transferee = to
    // The transfer is abandoned at the next check-quorum, an election timeout from now.
    this.#electionElapsed = 0
    if (pr.match === this.#log.lastIndex()) this.#send({ type: 'timeoutNow', to })
    else this.#sendAppend(to, true)
    return true
  }

  // Role changes.

  #becomeFollower(term: number, leader: number): void {
    if (term !== this.#term) {
      assert(term > this.#term, 'raft: terms never go back')
      this.#term = term
      this.#vote = 0
    }
    this.#role = 'follower'
    this.#leader = leader
    this.#reset()
  }

  #becomePreCandidate(): void {
    this.#role = 'precandidate'
    this.#leader = 0
    this.#reset()
    this.#votes.set(this.#id, true)
    if (voteOutcome(this.voters(), this.#votes) === 'won') {
      this.#becomeCandidate(false)
      return
    }
    this.#requestVotes('preVote', this.#term + 1, false)
  }

  #becomeCandidate(isTransfer: boolean): void {
    this.#term++
    this.#vote = this.#id
    this.#role = 'candidate'
    this.#leader = 0
    this.#reset()
    this.#votes.set(this.#id, true)
    if (voteOutcome(this.voters(), this.#votes) === 'won') {
      this.#becomeLeader()
      return
    }
    this.#requestVotes('vote', this.#term, isTransfer)
  }

  #requestVotes(type: 'preVote' | 'vote', term: number, isTransfer: boolean): void {
    const lastIndex = this.#log.lastIndex()
    const lastTerm = this.#log.lastTerm()
    for (const to of this.voters()) {
      if (to === this.#id) continue
      if (type === 'preVote') this.#send({ type, to, term, lastIndex, lastTerm })
      else this.#send({ type, to, term, lastIndex, lastTerm, transfer: isTransfer })
    }
  }

  #becomeLeader(): void {
    this.#role = 'leader'
    this.#leader = this.#id
    this.#contactElapsed = 0
    this.#reset()
    const next = this.#log.lastIndex() + 1
    this.#progress = new Map()
    this.#syncProgress()
    const self = this.#selfProgress()
    self.match = this.#log.stableLastIndex()
    self.becomeReplicate()
    self.next = next
    // §5.4.2 / §6.4: the term's first entry lets this leader commit (and so
    // learn the commit index) without waiting for a client write.
    this.#appendAsLeader([this.#config.noop])
    this.#broadcastAppend()
  }

  /** What every role change resets: timers, votes, leader state. */
  #reset(): void {
    this.#electionElapsed = 0
    this.#heartbeatElapsed = 0
    this.#resetElectionTimeout()
    this.#votes = new Map()
    this.#progress = null
    this.#transferee = 0
    this.#learners.clear()
    this.#reads.clear()
    this.#agreed = 0
    this.#leaderDurable = 0
    this.#announcedDurable = 0
  }

  #resetElectionTimeout(): void {
    const draw = this.#config.random()
    const fraction = Number.isFinite(draw) ? Math.min(Math.max(draw, 0), 0.999999) : 0
    this.#electionTimeout = this.#config.electionTicks + Math.floor(fraction * this.#config.electionTicks)
  }

  // The leader's log and replication.

  #selfProgress(): Progress {
    const self = this.#progress?.get(this.#id)
    assert(self !== undefined, 'raft: the leader has no progress of its own')
    return self
  }

  #appendAsLeader(data: readonly Uint8Array[]): number {
    const first = this.#log.lastIndex() + 1
    const entries = data.map((bytes, i): RaftEntry => ({ index: first + i, term: this.#term, data: bytes }))
    this.#selfProgress().next = first + entries.length
    this.#appendToLog(entries)
    return first
  }

  /** Every append to the log goes through here, so the membership follows the log. */
  #appendToLog(entries: readonly RaftEntry[]): void {
    const first = entries[0]
    if (first === undefined) return
    const before = this.#membership.latestIndex()
    if (first.index <= this.#log.lastIndex()) this.#membership.truncateFrom(first.index)
    this.#log.append(entries)
    for (const entry of entries) {
      const voters = decodeVoters(this.#config.membership, entry.data)
      if (voters !== null) this.#membership.add(entry.index, voters)
    }
    if (this.#membership.latestIndex() !== before) this.#onMembershipChange()
  }

  #onMembershipChange(): void {
    if (this.#role !== 'leader') return
    this.#syncProgress()
    if (this.#transferee !== 0 && !this.voters().includes(this.#transferee)) this.#transferee = 0
    // A smaller quorum may already hold more.
    if (this.#maybeCommit()) this.#broadcastAppend()
  }

  /**
   * The leader replicates to the current voters and, until a change
   * commits, to the voters it replaces: a replica being removed learns of it
   * (and stops campaigning) instead of being cut off mid-change. Learners
   * too, while they catch up.
   */
  #syncProgress(): void {
    const progress = this.#progress as Map<number, Progress>
    const voters = this.voters()
    const committedVoters = this.#membership.votersAt(this.#log.committed)
    const targets = new Set([...voters, ...committedVoters, ...this.#learners, this.#id])
    for (const id of targets) {
      if (!progress.has(id)) progress.set(id, new Progress(this.#log.lastIndex() + 1, this.#config.inflightAppendsMax))
    }
    for (const id of progress.keys()) if (!targets.has(id)) progress.delete(id)
  }

  /**
   * Commits the highest index a majority of voters holds durably, but only
   * if it is of this leader's term (§5.4.2: counting replicas proves nothing
   * for an older term's entry; Figure 8).
   */
  #maybeCommit(): boolean {
    if (this.#role !== 'leader') return false
    const self = this.#selfProgress()
    self.match = this.#log.stableLastIndex()
    const progress = this.#progress as Map<number, Progress>
    const index = quorumIndex(this.voters(), (id) => progress.get(id)?.match ?? 0)
    if (index <= this.#log.committed || !isCommittableByCount(this.#log.term(index), this.#term)) return false
    this.#commitTo(index)
    return true
  }

  #commitTo(index: number): void {
    if (index <= this.#log.committed) return
    const isChangePending = this.#membership.latestIndex() > this.#log.committed
    this.#log.commitTo(index)
    if (this.#role !== 'leader') return
    if (isChangePending) this.#syncProgress()
    if (this.#log.term(index) === this.#term) this.#startReads(this.#reads.takeWaiting())
    // A leader removed by a change that is now committed steps down (thesis
    // §4.2.2), handing over to a caught-up voter so no one waits out a timeout.
    if (!this.#isVoter() && this.#membership.latestIndex() <= this.#log.committed) {
      const heir = this.#bestFollower()
      if (heir !== 0) this.#send({ type: 'timeoutNow', to: heir })
      this.#becomeFollower(this.#term, 0)
    }
  }

  #bestFollower(): number {
    const progress = this.#progress as Map<number, Progress>
    let best = 0
    let bestMatch = -1
    for (const id of this.voters()) {
      const match = progress.get(id)?.match ?? 0
      if (id !== this.#id && match > bestMatch) {
        best = id
        bestMatch = match
      }
    }
    return bestMatch === this.#log.lastIndex() ? best : 0
  }

  /**
   * Marks an append (new entries, or a new commit index) due to every
   * follower. It is built when the messages are taken (ready() or
   * takeEagerMessages()), so that every proposal and commit of one turn of
   * the driver travels in one message per follower, not one each.
   */
  #broadcastAppend(): void {
    if (this.#role === 'leader') this.#isBroadcastDue = true
  }

  #flushBroadcast(): void {
    if (!this.#isBroadcastDue) return
    this.#isBroadcastDue = false
    if (this.#role !== 'leader') return
    for (const id of (this.#progress as Map<number, Progress>).keys()) {
      if (id !== this.#id) this.#sendAppend(id, true)
    }
  }

  #broadcastHeartbeat(): void {
    const context = this.#reads.round
    for (const [id, pr] of this.#progress as Map<number, Progress>) {
      if (id === this.#id) continue
      this.#send({ type: 'heartbeat', to: id, commit: Math.min(pr.match, this.#log.committed), context })
    }
  }

  /**
   * Sends `to` the entries it lacks (or a snapshot when they are compacted
   * away); with sendIfEmpty, an empty append that carries the commit index.
   * Returns whether a message went out.
   */
  #sendAppend(to: number, sendIfEmpty: boolean): boolean {
    const pr = this.#progress?.get(to)
    if (pr === undefined || to === this.#id || pr.isPaused()) return false
    const prevIndex = pr.next - 1
    const prevTerm = this.#log.term(prevIndex)
    if (prevTerm === undefined || pr.next < this.#log.firstIndex()) return this.#sendSnapshot(to, pr)
    const lastIndex = this.#log.lastIndex()
    const entries = pr.next <= lastIndex ? this.#log.entries(pr.next, lastIndex + 1, this.#config.appendBytesMax) : empty
    if (entries.length === 0 && !sendIfEmpty) return false
    this.#send({ type: 'append', to, prevIndex, prevTerm, entries, commit: this.#log.committed, durable: this.#isPairedLeader() ? this.#announce(this.#log.stableLastIndex()) : 0 })
    const last = entries[entries.length - 1]
    if (last !== undefined) pr.sentEntries(last.index)
    return true
  }

  #sendSnapshot(to: number, pr: Progress): boolean {
    // A replica not heard from lately may be down: do not ship it a snapshot.
    if (!pr.isRecentActive) return false
    const snapshot = this.#log.storage.loadSnapshot()
    if (snapshot === null || snapshot.meta.index < pr.next - 1) return false
    pr.becomeSnapshot(snapshot.meta.index)
    this.#send({ type: 'snapshot', to, snapshot })
    return true
  }

  #send(message: Outgoing): void {
    const term = message.term ?? this.#term
    this.#messages.push({ ...message, from: this.#id, term } as Message)
  }

  // Ready.

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#log.committed }
  }

  #softState(): SoftState {
    return { role: this.#role, leader: this.#leader, term: this.#term }
  }

  /**
   * Takes out the messages that promise nothing about this replica's disk
   * (a leader's appends, heartbeats, snapshots and timeoutNow), so that the
   * driver can send them at once, even while a Ready is being persisted: a
   * leader replicates in parallel with writing its own log (thesis §10.2.1),
   * and its own copy counts only once advance() reports it durable. Votes
   * and replies stay for the next Ready: they promise what is on disk, and
   * so do a paired leader's appends of entries not yet synced (#isPairedLeader).
   */
  takeEagerMessages(): Message[] {
    this.#flushBroadcast()
    if (this.#messages.length === 0) return []
    const eager: Message[] = []
    const rest: Message[] = []
    const isPaired = this.#isPairedLeader()
    const stable = isPaired ? this.#log.stableLastIndex() : 0
    for (const message of this.#messages) {
      const isEager = eagerMessageTypes.has(message.type) && !(isPaired && message.type === 'append' && lastEntryIndex(message) > stable)
      ;(isEager ? eager : rest).push(message)
    }
    this.#messages = rest
    return eager
  }

  /**
   * A leader whose followers commit as a pair with it (#maybeCommitAsPair)
   * sends new entries after its own sync, not in parallel with it: then the
   * append itself says they are durable here, and a follower needs nothing
   * more from this leader to commit them once it has synced them too.
   */
  #isPairedLeader(): boolean {
    return this.#role === 'leader' && this.voters().length >= 2 && this.#isPairMajority()
  }

  /**
   * Takes out the committed entries not yet handed out, so that the driver
   * applies them at once, even while a Ready is being persisted: they are
   * durable on a majority already, and waiting for this replica's own sync
   * only delays the answers (a follower learns a commit while it syncs the
   * next batch). None while a snapshot is on its way to being installed.
   * The driver applies them in order, before anything a later ready()
   * hands out; the next advance() counts them applied.
   */
  takeCommitted(): RaftEntry[] {
    if (this.#log.unhandedSnapshot() !== null || (this.#outstanding !== null && this.#outstanding.snapshot !== null)) return []
    if (!this.#log.hasCommittedToApply()) return []
    const committed = this.#log.committedToApply(this.#committedBytesMax)
    this.#log.handOut([], null, committed)
    return committed
  }

  /** Whether ready() has anything; false while a Ready is out (advance it first). */
  hasReady(): boolean {
    if (this.#outstanding !== null) return false
    this.#flushBroadcast()
    return (
      this.#messages.length > 0 ||
      this.#readStates.length > 0 ||
      !sameHardState(this.#hardState(), this.#reportedHardState) ||
      !sameSoftState(this.#softState(), this.#reportedSoftState) ||
      this.#log.hasUnhandedEntries() ||
      this.#log.unhandedSnapshot() !== null ||
      this.#log.hasCommittedToApply()
    )
  }

  /**
   * Everything accumulated since the last advance(). The driver must call
   * advance(ready) before the next ready(); it may step, tick and propose in
   * between (what they produce goes into the next Ready).
   */
  ready(): Ready {
    assert(this.#outstanding === null, 'raft: ready() called again before advance()')
    this.#flushBroadcast()
    const hardState = this.#hardState()
    const softState = this.#softState()
    const entries = this.#log.unhandedEntries()
    const snapshot = this.#log.unhandedSnapshot()
    const committed = this.#log.committedToApply(this.#committedBytesMax)
    const isHardStateChanged = !sameHardState(hardState, this.#reportedHardState)
    const isVoteChanged = hardState.term !== this.#reportedHardState.term || hardState.vote !== this.#reportedHardState.vote
    const ready: Ready = {
      hardState: isHardStateChanged ? hardState : null,
      entries,
      snapshot,
      messages: this.#withDurable(this.#messages),
      committed,
      readStates: this.#readStates,
      soft: sameSoftState(softState, this.#reportedSoftState) ? null : softState,
      mustSync: isVoteChanged || entries.length > 0 || snapshot !== null,
    }
    this.#messages = []
    this.#readStates = []
    this.#reportedHardState = hardState
    this.#reportedSoftState = softState
    this.#log.handOut(entries, snapshot, committed)
    this.#outstanding = ready
    return ready
  }

  /**
   * A Ready's messages leave once its entries are on disk, and a leader's
   * log in its term only grows: its appends may say the whole log is durable.
   */
  #withDurable(messages: Message[]): Message[] {
    if (!this.#isPairedLeader()) return messages
    const durable = this.#log.lastIndex()
    return messages.map((message) => (message.type === 'append' && message.term === this.#term && message.durable < durable ? { ...message, durable: this.#announce(durable) } : message))
  }

  /** Notes `durable` as said to a paired leader's followers (the read index floor), and returns it. */
  #announce(durable: number): number {
    if (durable > this.#announcedDurable) this.#announcedDurable = durable
    return durable
  }

  /** The driver persisted, sent and applied `ready`. */
  advance(ready: Ready): void {
    assert(this.#outstanding === ready, 'raft: advance() of a Ready that is not the outstanding one')
    this.#outstanding = null
    this.#log.advance(ready.entries, ready.snapshot)
    this.#membership.prune(this.#log.applied)
    // The leader's own log now counts up to what is durable; so does a follower's, paired with its leader.
    if (this.#role === 'leader' && ready.entries.length > 0 && this.#maybeCommit()) this.#broadcastAppend()
    if (this.#role === 'follower' && ready.entries.length > 0) this.#maybeCommitAsPair()
  }

  // Inspection.

  voters(): readonly number[] {
    return this.#membership.voters()
  }

  /** The voters as of index (for the snapshot taken at the applied index); index >= status().applied. */
  votersAt(index: number): readonly number[] {
    return this.#membership.votersAt(index)
  }

  /** The term of the entry at index, while the log (or its start) holds it. */
  termAt(index: number): number | undefined {
    return this.#log.term(index)
  }

  /**
   * Ticks since this replica last heard from a leader of its term; while it
   * leads, since a majority last showed it still does (check quorum, at most
   * an election timeout ago as long as it keeps leading). Infinity before
   * the first contact since this core started.
   */
  contactTicks(): number {
    return this.#contactElapsed
  }

  /**
   * The highest commit index a leader announced to this replica in an append
   * or a snapshot (its own commit index when it leads), and how many such
   * messages it has stepped: a replica back in contact knows from these what
   * was committed when it came back (heartbeats carry only what it holds).
   */
  leaderCommit(): { readonly index: number; readonly messages: number } {
    return { index: this.#role === 'leader' ? this.#log.committed : this.#leaderCommit, messages: this.#leaderMessages }
  }

  #isVoter(): boolean {
    return this.voters().includes(this.#id)
  }

  status(): CoreStatus {
    let progress: Map<number, ProgressView> | null = null
    if (this.#progress !== null) {
      progress = new Map()
      for (const [id, pr] of this.#progress) progress.set(id, { match: pr.match, next: pr.next, state: pr.state })
    }
    return {
      id: this.#id,
      term: this.#term,
      role: this.#role,
      leader: this.#leader,
      commit: this.#log.committed,
      applied: this.#log.applied,
      lastIndex: this.#log.lastIndex(),
      voters: this.voters(),
      progress,
    }
  }
}
