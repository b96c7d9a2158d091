// replication/core — Raft as a pure state machine (Ongaro's thesis, in the
// shape of etcd-io/raft): pre-vote (§9.6), check-quorum and leader stickiness
// (§6.2, §4.2.3), the §5.4.2 commit rule, fast backtracking, pipelined
// appends with per-follower progress (probe / replicate / snapshot),
// snapshots (§7), single-server membership changes (§4.1), read index
// (§6.4) and leadership transfer (§3.10).
//
// Input is tick(), step(message), propose(), proposeMembership(),
// readIndex(), transferLeadership(); output accumulates until the driver
// takes it with ready(). The Ready contract, in the order the driver keeps it:
//   1. persist: ready.snapshot first (saveSnapshot; it replaces the log
//      unless the log holds its last entry), then ready.entries together with
//      ready.hardState (entries[0] may overwrite the log from its index on),
//      synced when ready.mustSync;
//   2. send ready.messages, only once step 1 is durable (a vote or an
//      acknowledgement must never leave before what it promises is on disk);
//   3. restore the state machine from ready.snapshot if any, then apply
//      ready.committed in order, each exactly once (membership entries and
//      the noop included: the driver skips them in its state machine);
//      serve ready.readStates once their index is applied;
//   4. advance(ready). Only then is the next ready() allowed. The driver may
//      step, tick and propose between ready() and advance(): what that
//      produces waits for the next Ready.
// A leader counts its own log only up to what an advance() reported durable,
// so no entry is in ready.committed before it is durable on a majority.
// Two liberties follow from that, and the replica takes both: committed
// entries may be applied before this Ready's new entries are persisted (step
// 3 before step 1, once the snapshot is installed; takeCommitted() hands
// them out even while a Ready is out), and takeEagerMessages()
// hands out a leader's appends, heartbeats, snapshots and timeoutNow at any
// time, even while a Ready is out, to be sent at once (thesis §10.2.1: the
// leader writes its log in parallel with its followers). Votes and replies
// always wait for step 1.
// ready.soft changes (role, leader, term) tell the driver to fail pending
// proposals and reads when leadership is lost: the core drops them.
//
// Snapshots: the driver snapshots its applied state whenever it likes
// (between Readies), with meta.extra = membership.encode(votersAt(index)),
// and may then compact the log through it; a leader sends that snapshot to a
// follower whose next entry is compacted away. A follower whose log already
// holds the snapshot's last entry (same index and term) only moves its commit
// index; otherwise ready.snapshot replaces its whole log and its membership.
//
// Membership: the latest change in the log rules, committed or not. Vote
// requests are answered whoever sends them (thesis §4.1: a replica lagging a
// change must still help elect a leader of the newer configuration); leases
// and pre-votes keep removed replicas from disrupting.
//
// Remote input is never trusted: step() ignores what isMessage() rejects,
// what is misaddressed or stale, and replies from replicas it does not
// track; it never throws on it. Every assert is an invariant of the core or
// of the driver's use of it.
//
// Must never import: node:*, storage/, tree/, anything outside the leaves
// (assert.ts); no Date, Math.random, timers or await (checked by tidy.test).
// Time is tick(), randomness is config.random.
export { isMessage, messageTypes } from './message.ts'
export type {
  AppendMessage,
  AppendReplyMessage,
  HeartbeatMessage,
  HeartbeatReplyMessage,
  Message,
  MessageType,
  PreVoteMessage,
  PreVoteReplyMessage,
  SnapshotMessage,
  TimeoutNowMessage,
  VoteMessage,
  VoteReplyMessage,
} from './message.ts'
export { RaftCore } from './raft-core.ts'
export type {
  CoreConfig,
  CoreStatus,
  HardState,
  MembershipCodec,
  ProgressState,
  ProgressView,
  RaftEntry,
  RaftStorage,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SnapshotMeta,
  SoftState,
} from './types.ts'
