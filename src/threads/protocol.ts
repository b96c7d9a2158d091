// Messages between the main thread (the Replica, the session leases) and the
// serving threads, besides the replication ones (replication/mirror-protocol.ts).
import type { Config } from '../config.ts'
import type { ErrorCode } from '../errors.ts'
import type { DoneMessage, EntriesMessage, FailedMessage, ReplicaStatus, SubmitMessage } from '../replication/index.ts'

export interface WorkerData {
  readonly index: number
  readonly config: Config
  /** The client port the main thread bound (the threads share it with SO_REUSEPORT). */
  readonly port: number
  /** The zxid the Replica has applied, as a BigInt64Array(1) over this buffer. */
  readonly applied: SharedArrayBuffer
  /** The watch-stream counts every thread shares. */
  readonly streamCounts: SharedArrayBuffer
}

/** Main -> worker, first: the tree to start from, and the Replica's status. */
export interface StartMessage {
  readonly t: 'start'
  readonly chunks: readonly Uint8Array[]
  readonly status: ReplicaStatus
}

export type SessionMethod = 'heartbeat' | 'createSession' | 'closeSession' | 'clusterStatus' | 'sync' | 'membership'

/** Worker -> main: a session operation, which only the main thread's lease table can do. */
export interface CallMessage {
  readonly t: 'call'
  readonly id: number
  readonly method: SessionMethod
  readonly sessionId: number
  readonly secret: string
  readonly timeoutMs: number | undefined
  /** For 'membership': the change. */
  readonly args?: unknown
}

export interface ReplyMessage {
  readonly t: 'reply'
  readonly id: number
  readonly value: unknown
}

export interface CallFailedMessage {
  readonly t: 'callFailed'
  readonly id: number
  readonly code: ErrorCode
  readonly detail: string
}

/** Main -> worker: the Replica installed a leader's snapshot; start again from it. */
export interface ResetMessage {
  readonly t: 'reset'
  readonly chunks: readonly Uint8Array[]
}

/** Main -> worker: the Replica's role, term or leader changed. */
export interface StatusMessage {
  readonly t: 'status'
  readonly status: ReplicaStatus
}

export type ToWorker = StartMessage | ResetMessage | EntriesMessage | FailedMessage | DoneMessage | StatusMessage | ReplyMessage | CallFailedMessage | { readonly t: 'stop' }
export type ToMain = SubmitMessage | CallMessage | { readonly t: 'ready' } | { readonly t: 'stopped' }
