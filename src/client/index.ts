// The herd client SDK: ZooKeeper's client API over herd's HTTP/JSON contract
// (openapi.yaml), for programs, tests and the benchmark.
//
//   const client = new HerdClient({ url: 'http://127.0.0.1:8181' })
//   const { path } = await client.create('/jobs/job-', 'payload', { sequential: true })
//   const { data, stat, zxid } = await client.getData(path)
//   const event = await client.watch(path, 'data', { zxid })   // one-shot, misses nothing after zxid
//   const session = await client.openSession({ timeoutMs: 10_000, onExpired })
//   await session.create('/workers/w1', '', { ephemeral: true })
//   await client.transaction().check('/cfg', 3).setData('/cfg', 'v4', 3).commit()
//   await client.close()
//
// Invariants:
//   * Every failure is a HerdClientError with a `code` from the server's
//     catalogue (errors.ts): problem+json answers keep theirs; a lost
//     connection is ConnectionLoss and a missed deadline OperationTimeout
//     (undici's UND_ERR_* codes are translated once, in client-error.ts).
//     An aborted signal rejects with the signal's reason, as fetch does.
//   * Response shapes are the generated contract types (openapi.gen.ts);
//     none is written by hand. Data goes out as bytes or UTF-8 text and comes
//     back as bytes (or as text when an encoding is asked for).
//   * The highest zxid seen is tracked; a read sent to a replica that has not
//     shown the client that zxid carries it as minZxid (read-your-writes after
//     a failover, as ZooKeeper's client sends its last zxid on reconnect).
//   * A write is never sent twice unless it carries an Idempotency-Key (or
//     could not have been sent at all); `retries` adds a key and retries.
//   * Everything is bounded: connections per replica, watch streams per
//     replica, retries, a watch event's size, getChildren's restarts.
//
// Imports: only ../openapi.gen.ts, ../errors.ts and undici (no server layer,
// no node:* module), so the SDK can be lifted out of the repository as is.
export { HerdClient } from './herd-client.ts'
export type { CallOptions, ChildrenPageOptions, CreateOptions, GetDataOptions, HerdClientOptions, OpenSessionOptions, WatchOptions, WriteOptions } from './herd-client.ts'
export { HerdSession } from './session.ts'
export type { SessionCreateOptions, SessionState, SessionWriteOptions } from './session.ts'
export { Transaction } from './transaction.ts'
export type { TransactionCreateOptions } from './transaction.ts'
export { HerdClientError, isHerdClientError, isTransient } from './client-error.ts'
export { newIdempotencyKey, retriesMax } from './retry.ts'
export { decodeData } from './data.ts'
export type {
  AclEntry,
  AclView,
  ChildrenPage,
  ClosedSession,
  ClusterStatus,
  Data,
  DataEncoding,
  DataResult,
  DeleteResult,
  Health,
  MultiOp,
  MultiOpFailure,
  MultiOpResult,
  MultiResponse,
  ReadOp,
  ReadResult,
  Stat,
  TextDataResult,
  WatchEvent,
  WatchKind,
  WriteResult,
} from './types.ts'
export type { ErrorCode } from '../errors.ts'
