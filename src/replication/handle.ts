// What the layers above (api/, sessions/, reaper/) may ask of a replica,
// whichever kind serves them: the Replica that owns the log, or a
// MirrorReplica on a serving thread that follows it.
import type { Member, Proposal, TreeReader } from '../tree/index.ts'
import type { AppliedListener, Committed, MembershipChange, ReplicaReport, ReplicaStatus } from './replica.ts'

export interface ReplicaHandle {
  readonly tree: TreeReader
  readonly appliedZxid: number
  /** Cut off from the leader (or not caught up since): local reads are refused unless they accept stale data. */
  readonly isCutOff: boolean
  status(): ReplicaStatus
  /** A write, answered from this replica's own apply of its entry. */
  submit(proposal: Omit<Proposal, 'timeMs'>): Promise<Committed>
  waitForApplied(zxid: number, timeoutMs: number): Promise<void>
  /** ZooKeeper's sync: resolves once everything committed before the call is applied here. */
  sync(timeoutMs: number): Promise<number>
  /**
   * Null when this replica may serve a request now; otherwise resolves once it
   * has applied everything the replica it follows had applied when asked, so
   * that nothing a client was told is done is missing from its answer.
   */
  caughtUp(): Promise<void> | null
  onApplied(listener: AppliedListener): () => void
  /** Every member of the cluster as it reports itself (GET /cluster). */
  clusterStatus(timeoutMs: number): Promise<readonly ReplicaReport[]>
  /** Adds or removes a voter through the log (passed to the leader). */
  changeMembership(change: MembershipChange): Promise<{ readonly zxid: number; readonly members: readonly Member[] }>
}
