// watches/ — one-shot watches on this replica.
//
// Watches are local to the replica that holds the stream and fire when it
// applies the change (DESIGN.md, decision 7). The registry subscribes to the
// replica's applied entries, keeps a bounded history of recent events so a
// watch armed at an older zxid misses nothing, and bounds the number of
// watches in total and per client. It knows nothing of HTTP: api/ turns a
// watch into a Server-Sent Events stream.
//
// May import: tree/ types, the leaves. Must not import: api/, storage/,
// sessions/, replication internals.
export { WatchRegistry, watchKinds } from './registry.ts'
export { LocalStreamCounts, SharedStreamCounts } from './stream-counts.ts'
export type { StreamCounts } from './stream-counts.ts'
export type { ArmResult, WatchKind, WatchRegistryOptions, WatchRequest, WatchSink } from './registry.ts'
