// The safety properties of Raft (Figure 3 of the paper), checked after every
// step of a simulation, plus the durability promises of the Ready contract:
//
// - Election safety: at most one leader per term (every (term, leader) seen).
// - A replica votes at most once per term (its durable hard state).
// - Log matching: entries with the same index and term have the same log
//   chain (hash over every (term, data) up to them) on every disk.
// - Leader completeness: an entry committed while the leader's term was T is
//   in the durable log of every leader of a term after T.
// - Commit: never decreases within one incarnation of a replica; a new
//   commit index of one's own (a leader's, or a follower's that counted
//   itself and its leader as a majority) is on the disks of a majority of
//   its voters.
// - State-machine safety: no two replicas apply different data at an index,
//   and their states (digests) agree at every index, snapshots included.
// - Read index: a ReadState's index is at least every commit index seen
//   anywhere when the read was asked for (linearizability).
import type { RaftCore, RaftEntry, ReadState, Ready, Snapshot } from '../../src/replication/core/index.ts'
import { dataKey, decodeImage, describeData, type SimMachine, type SimStorage } from './raft-sim-storage.ts'

export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SafetyViolation'
  }
}

/** What the checker may look at of one replica. */
export interface CheckedReplica {
  readonly id: number
  readonly storage: SimStorage
  readonly core: RaftCore | null
  readonly machine: SimMachine
  readonly incarnation: number
}

interface CommitRecord {
  readonly index: number
  readonly chain: number
  /** The term of the replica that first reported it committed (the committing leader's). */
  readonly term: number
}

export class SafetyChecker {
  readonly #leaders = new Map<number, number>()
  readonly #votes = new Map<string, number>()
  /** `${index}/${term}` -> log chain through that entry. */
  readonly #chains = new Map<string, number>()
  readonly #appliedData = new Map<number, string>()
  readonly #digests = new Map<number, number>()
  readonly #commitSeen = new Map<string, number>()
  readonly #commits: CommitRecord[] = []
  readonly #readFloors = new Map<number, number>()
  #maxCommit = 0

  get leaders(): ReadonlyMap<number, number> {
    return this.#leaders
  }

  get maxCommit(): number {
    return this.#maxCommit
  }

  appliedDataAt(index: number): string | undefined {
    return this.#appliedData.get(index)
  }

  #fail(message: string): never {
    throw new SafetyViolation(message)
  }

  /** After the driver wrote a Ready's snapshot, entries and hard state to replica's disk. */
  onPersist(replica: CheckedReplica, entries: readonly RaftEntry[], snapshot: Snapshot | null, snapshotChain: number): void {
    const { id, storage } = replica
    if (snapshot !== null) this.#registerChain(id, snapshot.meta.index, snapshot.meta.term, snapshotChain)
    for (const entry of entries) {
      const chain = storage.chain(entry.index)
      if (chain === undefined) this.#fail(`n${id}: entry ${entry.index} missing right after it was written`)
      this.#registerChain(id, entry.index, entry.term, chain)
    }
    const hardState = storage.hardState()
    if (hardState.vote !== 0) {
      const key = `${id}/${hardState.term}`
      const previous = this.#votes.get(key)
      if (previous !== undefined && previous !== hardState.vote) {
        this.#fail(`n${id} voted for n${previous} and then n${hardState.vote} in term ${hardState.term}`)
      }
      this.#votes.set(key, hardState.vote)
    }
  }

  #registerChain(id: number, index: number, term: number, chain: number): void {
    const key = `${index}/${term}`
    const known = this.#chains.get(key)
    if (known === undefined) this.#chains.set(key, chain)
    else if (known !== chain) this.#fail(`log matching: n${id} holds ${index}@${term} after a log that differs from another replica's`)
  }

  onApply(replica: CheckedReplica, entry: RaftEntry): void {
    const key = dataKey(entry.data)
    const known = this.#appliedData.get(entry.index)
    if (known === undefined) this.#appliedData.set(entry.index, key)
    else if (known !== key) {
      this.#fail(`state machine safety: n${replica.id} applied ${describeData(entry.data)} at ${entry.index}, another replica applied ${known}`)
    }
    this.#checkDigest(replica.id, entry.index, replica.machine.digest)
  }

  onRestore(replica: CheckedReplica): void {
    this.#checkDigest(replica.id, replica.machine.index, replica.machine.digest)
  }

  #checkDigest(id: number, index: number, digest: number): void {
    const known = this.#digests.get(index)
    if (known === undefined) this.#digests.set(index, digest)
    else if (known !== digest) this.#fail(`state machine safety: n${id}'s state at ${index} differs from another replica's`)
  }

  onReadIndex(context: number): void {
    this.#readFloors.set(context, this.#maxCommit)
  }

  onReadState(replica: CheckedReplica, read: ReadState): void {
    const floor = this.#readFloors.get(read.context)
    if (floor === undefined) this.#fail(`n${replica.id}: ReadState for unknown context ${read.context}`)
    if (read.index < floor) {
      this.#fail(`read index: n${replica.id} answered read ${read.context} at ${read.index}, but ${floor} was committed before it was asked`)
    }
  }

  /** A replica restarted: its commit index may start lower than before the crash. */
  onRestart(replica: CheckedReplica): void {
    this.#commitSeen.delete(`${replica.id}/${replica.incarnation - 1}`)
  }

  /** Checks every live replica's state after a step. */
  observe(replicas: readonly CheckedReplica[]): void {
    for (const replica of replicas) {
      const core = replica.core
      if (core === null) continue
      const status = core.status()
      if (status.role === 'leader') this.#observeLeader(replicas, replica, status.term)
      const key = `${replica.id}/${replica.incarnation}`
      const seen = this.#commitSeen.get(key) ?? 0
      if (status.commit < seen) this.#fail(`n${replica.id}'s commit index went back from ${seen} to ${status.commit}`)
      this.#commitSeen.set(key, status.commit)
      if (status.applied > status.commit) this.#fail(`n${replica.id} applied ${status.applied} beyond its commit ${status.commit}`)
      // A follower's commit beyond what its leader announced is its own (RaftCore's #maybeCommitAsPair).
      const isOwnCommit = status.role === 'leader' || status.commit > core.leaderCommit().index
      if (status.commit > this.#maxCommit) this.#observeCommit(replicas, replica, status.commit, isOwnCommit ? status.voters : null, status.term)
    }
  }

  #observeLeader(replicas: readonly CheckedReplica[], replica: CheckedReplica, term: number): void {
    const known = this.#leaders.get(term)
    if (known === replica.id) return
    if (known !== undefined) this.#fail(`election safety: n${known} and n${replica.id} both led term ${term}`)
    this.#leaders.set(term, replica.id)
    // Leader completeness: the newest entry committed in an earlier term.
    let newest: CommitRecord | null = null
    for (const record of this.#commits) if (record.term < term && (newest === null || record.index > newest.index)) newest = record
    if (newest !== null) this.#checkHolds(replica, newest, `leader of term ${term}`)
    void replicas
  }

  #observeCommit(replicas: readonly CheckedReplica[], replica: CheckedReplica, commit: number, voters: readonly number[] | null, term: number): void {
    const core = replica.core as RaftCore
    const entryTerm = core.termAt(commit)
    if (entryTerm === undefined) this.#fail(`n${replica.id} committed ${commit} but holds no term for it`)
    const chain = this.#chains.get(`${commit}/${entryTerm}`)
    if (chain === undefined) this.#fail(`n${replica.id} committed ${commit}@${entryTerm}, which no disk holds`)
    this.#maxCommit = commit
    const record: CommitRecord = { index: commit, chain, term }
    this.#commits.push(record)
    if (voters !== null) {
      // A commit of one's own: a majority of its voters must hold the entry durably.
      let holders = 0
      for (const other of replicas) {
        if (!voters.includes(other.id)) continue
        const snapshotIndex = other.storage.snapshotMeta()?.index ?? 0
        if (other.storage.chain(commit) === chain || snapshotIndex >= commit) holders++
      }
      if (holders < Math.floor(voters.length / 2) + 1) {
        this.#fail(`n${replica.id} committed ${commit} held durably by only ${holders} of voters ${voters.join(',')}`)
      }
    }
    // Leaders of later terms elected before this commit was seen must hold it too.
    for (const [leaderTerm, leaderId] of this.#leaders) {
      if (leaderTerm <= term) continue
      const leader = replicas.find((candidate) => candidate.id === leaderId)
      const status = leader?.core?.status()
      if (leader !== undefined && status?.role === 'leader' && status.term === leaderTerm) this.#checkHolds(leader, record, `leader of term ${leaderTerm}`)
    }
  }

  #checkHolds(replica: CheckedReplica, record: CommitRecord, who: string): void {
    const { storage } = replica
    if (record.index < storage.firstIndex() - 1) return // compacted away: the state checks cover it
    const chain = storage.chain(record.index)
    if (chain !== record.chain) {
      this.#fail(`leader completeness: n${replica.id} (${who}) lacks ${record.index}, committed in term ${record.term}`)
    }
  }
}

/**
 * Writes a Ready to the replica's simulated disk, as a driver persists it
 * (its snapshot, then its entries with the hard state), and reports the
 * write to the checker.
 */
export function persistReady(checker: SafetyChecker, replica: CheckedReplica, ready: Ready): void {
  let snapshotChain = 0
  if (ready.snapshot !== null) {
    snapshotChain = decodeImage(ready.snapshot.chunks[0] as Uint8Array).chain
    replica.storage.saveSnapshot(ready.snapshot, snapshotChain)
  }
  replica.storage.append(ready.entries, ready.hardState)
  checker.onPersist(replica, ready.entries, ready.snapshot, snapshotChain)
}
