// The catalogue of failures a caller can switch on. Codes are ZooKeeper's
// KeeperException names in PascalCase; where ZooKeeper has no name for an
// HTTP-only failure, a short name in the same style. The HTTP status of each
// code is decided in one table, api/problem.ts; nothing below api/ knows a
// status. This file imports nothing.

export const errorCodes = [
  // ZooKeeper's system errors
  'SystemError',
  'RuntimeInconsistency',
  'DataInconsistency',
  'ConnectionLoss',
  'MarshallingError',
  'Unimplemented',
  'OperationTimeout',
  'BadArguments',
  'RequestTimeout',
  'Throttled',
  'NewConfigNoQuorum',
  // ZooKeeper's API errors
  'NoNode',
  'NoAuth',
  'BadVersion',
  'NoChildrenForEphemerals',
  'NodeExists',
  'NotEmpty',
  'SessionExpired',
  'InvalidACL',
  'AuthFailed',
  'NotReadOnly',
  'QuotaExceeded',
  // herd's own, for failures that only exist at the HTTP edge
  'PayloadTooLarge',
  'NotFound',
  'MethodNotAllowed',
  'UnsupportedMediaType',
  'IdempotencyKeyReused',
  'Compacted',
] as const

export type ErrorCode = (typeof errorCodes)[number]

const errorCodeSet: ReadonlySet<string> = new Set(errorCodes)

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && errorCodeSet.has(value)
}

/** Extension members carried into the problem body (RFC 9457 allows them). */
export type ErrorData = Readonly<Record<string, unknown>>

/**
 * An operating error: expected, typed, and safe to show to the caller.
 * Programmer errors are not HerdErrors; they go through assert() and crash.
 */
export class HerdError extends Error {
  readonly code: ErrorCode
  readonly detail: string
  readonly data: ErrorData | undefined

  constructor(code: ErrorCode, detail: string, data?: ErrorData) {
    super(`${code}: ${detail}`)
    this.name = 'HerdError'
    this.code = code
    this.detail = detail
    this.data = data
  }
}

export function isHerdError(error: unknown): error is HerdError {
  return error instanceof HerdError
}
