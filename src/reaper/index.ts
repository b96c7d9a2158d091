// reaper/ — the leader's clean-up of containers and TTL znodes.
//
// A duty of the leader driven by its clock, like session expiry, but about
// znodes rather than sessions, so it has its own room. It only proposes
// `reap` entries; whether a znode goes is decided by the tree when the entry
// is applied, with the entry's timestamp, the same on every replica.
//
// May import: replication/ (index), tree/ types, the leaves.
// Must not import: api/, storage/, sessions/, watches/.
export { Reaper, type ReaperOptions } from './reaper.ts'
