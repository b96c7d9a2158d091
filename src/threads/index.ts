// threads/ — serving threads: more than one event loop on the client port.
//
// The main thread owns the Replica (the log, the tree it applies, session
// leases, the leader's duties) and serves HTTP too; each serving thread runs
// the same HTTP app over a MirrorReplica that applies the committed entries
// the main thread sends, forwards writes to it and answers from its own
// apply. Shared memory carries the Replica's applied zxid (every thread
// catches up to it before serving a request, so read-your-writes holds
// across connections) and the watch-stream counts (the limits hold per
// process). With one serving thread in all, none of this runs.
//
// May import: api/, sessions/, watches/, replication/ (index), tree/,
// storage/ types, the leaves. Nothing imports it but main.ts.
export { appliedBuffer, ServingThreads, type ServingThreadsOptions } from './host.ts'
