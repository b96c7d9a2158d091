// replication/ — the log between the requests and the tree.
//
// Every mutation (znode writes, multi, session open/close and expiry,
// container and TTL clean-up) is a log entry: proposed, made durable,
// committed, then applied to the tree in zxid order on every replica. The
// contract of replica.ts, in the order it is kept:
//   1. persist: an entry is synced to the LogStore before it counts;
//   2. commit: on a cluster of one, durable is committed (Raft's rule for a
//      single voter); with peers (issue 3) a quorum's durability decides;
//   3. apply: committed entries are applied in zxid order, each exactly once;
//   4. answer: the waiting request gets its entry's apply result, after the
//      tree's events for that entry went to the subscribers.
// A write whose durability cannot be established stops the process
// (onFatal): it is never retried and assumed durable.
//
// Serving threads hold a MirrorReplica each: a copy of the tree fed the
// committed entries by the Replica, forwarding writes to it and answering
// from its own apply, like a follower in the same process.
//
// May import: tree/, storage/, http/ (the peer port's fast path), the
// leaves (errors, assert, clock, config).
// Must not import: api/, sessions/, watches/ (they subscribe via onApplied).
export type { ReplicaHandle } from './handle.ts'
export { MirrorReplica, type MirrorOptions } from './mirror.ts'
export { packEntries, packProposals, unpackProposals, type DoneMessage, type EntriesMessage, type FailedMessage, type SubmitMessage } from './mirror-protocol.ts'
export { Replica } from './replica.ts'
export type { AppliedListener, ResetListener, CallHandler, Committed, MembershipChange, PeerTransport, RaftOptions, ReplicaOptions, ReplicaReport, ReplicaStatus, Role, RoleChange } from './replica.ts'
export { parseMembershipChange, reportOf } from './replica.ts'
export { PeerClient, type PeerClientOptions } from './peer/peer-client.ts'
export { startPeerServer, type PeerHandler, type PeerServer, type PeerServerOptions } from './peer/peer-server.ts'
