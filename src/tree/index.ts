// tree/ — herd's deterministic znode state machine, ZooKeeper's DataTree.
//
// What it does. `DataTree.apply(entry)` takes one committed log entry and
// returns its Outcome (the result, or a ZooKeeper failure such as NoNode or
// BadVersion) and the watch events it caused. Every replica applies the same
// entries in the same order and so holds the same tree; `digest()` lets the
// cluster check that. Readers (HTTP reads, watches, sessions) see the tree
// through TreeReader. The folder also owns the binary forms of what it
// applies: log entries (codec.ts) and snapshots (snapshot.ts).
//
// Invariants.
// - Apply is a function of (tree, entry): no clock, no randomness, no I/O.
//   Time comes only from entry.timeMs, stamped by the leader; a session id
//   is the zxid of its createSession entry; a sequence suffix is the
//   parent's count of child creations.
// - Apply is total: a ZooKeeper-level failure is an Outcome value, never a
//   throw. A throw from apply is a bug (assert). Failed entries, and the
//   failing op of a multi, change nothing at all (a multi is rolled back
//   through an undo log, so the digest and every counter come back).
// - `zxid` is the last applied entry's index; entries arrive in increasing
//   zxid order.
// - The digest is a sum of per-znode hashes modulo 2^32 in two lanes,
//   updated per change: equal trees have equal digests whatever their
//   history, and restore(write(tree)) has the tree's digest.
// - Stats handed to readers are fresh objects; later changes never mutate
//   what a reader holds. Data arrays are shared, never mutated: the tree
//   takes ownership of the arrays it is given.
//
// What it must never import: any other layer of herd (api, replication,
// storage, sessions, watches), node:* modules, Date, Math.random, timers,
// process. Only ../errors.ts, ../assert.ts and its own files.
//
// Files: data-tree.ts (apply and reads), znode.ts (one znode, its stat and
// kind rules), children.ts, multi.ts, acl.ts, sessions.ts, idempotency.ts,
// paths.ts, sequence.ts, hash.ts and digest.ts, bytes.ts, codec.ts,
// snapshot.ts; types.ts is the contract the other layers speak.
//
// Why some choices are not the obvious ones.
// - Visible cversion and the sequence counter differ, as in ZooKeeper: the
//   znode stores child creations (never decremented; names sequential
//   children) and shows creations*2 - numChildren (creations + deletions).
// - Children are kept sorted incrementally, in blocks of at most 1024
//   (children.ts), so a getChildren page never sorts and an insert into a
//   wide parent never moves a million names; sequential names append.
//   ZooKeeper's order is unspecified, herd's is JS string order.
// - A multi applies its ops to the live tree and undoes them through a log
//   when one fails (multi.ts), rather than validating against a shadow
//   copy: later ops see earlier ones for free, and a failure costs only
//   the changes made so far.
// - Per-znode hashes cache the path, data and ACL parts, so the parent of a
//   create (whose stat changes on every create) rehashes in O(1).
// - ACLs are interned: znodes sharing an ACL share one frozen object, and a
//   snapshot writes each distinct ACL once.
// - The Idempotency-Key table is insertion ordered, so pruning expired keys
//   and evicting past the limit cost only the keys dropped. Pruning stops at
//   the first live key; a key that expires out of order waits behind it and
//   is ignored by lookups meanwhile.
// - An idempotent replay is looked up before the command is checked, so a
//   retry whose first attempt succeeded gets that outcome even if its session
//   has since gone.
// - The sequential counter wraps like a Java int and versions wrap like
//   ZooKeeper's checkAndIncVersion: unreachable in practice, exact anyway.

export * from './types.ts'
export { DataTree, type TreeOptions } from './data-tree.ts'
export { validatePath, parentPath, baseName, joinPath, isReservedPath, rootPath, reservedPath } from './paths.ts'
export { formatSequence } from './sequence.ts'
export { checkAcl } from './acl.ts'
export { ByteReader, ByteWriter, CodecError } from './bytes.ts'
export { encodeProposal, stampProposal, decodeEntry, membershipOf, encodeOutcome, decodeOutcome } from './codec.ts'
export { writeSnapshot, restoreSnapshot } from './snapshot.ts'
