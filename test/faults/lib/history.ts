// The history a fault run records and its checkers read: one entry per
// operation a logical client performed, with the times it was invoked and
// answered on the harness's monotonic clock.
//
// A logical client has at most one operation outstanding. An operation whose
// outcome the client could not learn (a timeout, a reset connection, a 5xx
// that does not say "it did not happen") is 'unknown' and has no completion
// time: for the checkers it may have taken effect at any moment after it was
// invoked, or never. A definite failure ('fail') carries the ZooKeeper error
// code the node answered with; codes that say nothing about the znode's state
// (ConnectionLoss refused before proposing, Throttled, ...) are recorded by
// the runner as 'fail' too, and the model treats them as no-ops.

/** What a client asked of one znode path. Data are short strings, unique per write. */
export type ZnodeInput =
  | { readonly kind: 'read' } // linearizable getData
  | { readonly kind: 'write'; readonly data: string } // PUT without preconditions: setData if it exists, else create
  | { readonly kind: 'create'; readonly data: string } // PUT with If-None-Match: *
  | { readonly kind: 'set'; readonly data: string; readonly version: number } // setData with version (-1: any)
  | { readonly kind: 'delete'; readonly version: number } // delete with version (-1: any)

/** What the node answered, for an 'ok' operation. */
export interface ZnodeOutput {
  /** For reads: whether the znode existed; for writes: true. */
  readonly exists: boolean
  /** For reads of an existing znode. */
  readonly data?: string
  /** The znode's version after the operation (reads and successful writes; absent for delete). */
  readonly version?: number
  /** The zxid the operation was applied at (writes) or the node had applied (reads), if the node said. */
  readonly zxid?: number
}

export type Outcome = 'ok' | 'fail' | 'unknown'

export interface Operation {
  /** Unique within a history, dense from 0. */
  readonly id: number
  /** The logical client; never has two operations outstanding at once. */
  readonly client: number
  readonly path: string
  readonly input: ZnodeInput
  /** Milliseconds on the harness's monotonic clock (performance.now()). */
  readonly invokeMs: number
  /** null when the outcome is unknown: the operation may complete at any time after invokeMs. */
  readonly completeMs: number | null
  readonly outcome: Outcome
  /** For 'ok'. */
  readonly output?: ZnodeOutput
  /** For 'fail': the stable error code (NoNode, NodeExists, BadVersion, ConnectionLoss, ...). */
  readonly code?: string
}
