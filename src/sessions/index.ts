// sessions/ — session leases on this replica.
//
// The session table (ids, negotiated timeouts, secret hashes, ephemerals) is
// tree state and changes only through the log. This layer keeps what must
// not be in the log: when each session last heartbeated, by the monotonic
// clock. Only the leader expires sessions, by proposing closeSession; a new
// leader (or a restarted single replica) gives every live session a full
// timeout first. Secrets are random 192-bit strings; only their SHA-256
// enters the log, and they are compared in constant time.
//
// May import: replication/ (its index), tree/ types, the leaves.
// Must not import: api/, storage/, watches/.
export { SessionTracker, authenticateIn, hashSecret } from './tracker.ts'
export type { NewSession, SessionsHandle, SessionTrackerOptions } from './tracker.ts'
