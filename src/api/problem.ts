// The only place that decides HTTP statuses: every ErrorCode maps to one,
// exhaustively (adding a code without a status fails to compile). Errors
// leave as RFC 9457 problem+json with the stable `code` and the applied zxid.
import type { ErrorCode, HerdError } from '../errors.ts'
import type { Reply } from '../http/index.ts'

export const statusOf = {
  BadArguments: 400,
  InvalidACL: 400,
  MarshallingError: 400,
  AuthFailed: 401,
  NoAuth: 403,
  NoNode: 404,
  NotFound: 404,
  MethodNotAllowed: 405,
  RequestTimeout: 408,
  NodeExists: 409,
  NotEmpty: 409,
  NoChildrenForEphemerals: 409,
  NewConfigNoQuorum: 409,
  SessionExpired: 410,
  Compacted: 410,
  BadVersion: 412,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  IdempotencyKeyReused: 422,
  Throttled: 429,
  QuotaExceeded: 429,
  SystemError: 500,
  RuntimeInconsistency: 500,
  DataInconsistency: 500,
  Unimplemented: 501,
  ConnectionLoss: 503,
  NotReadOnly: 503,
  OperationTimeout: 504,
} as const satisfies Record<ErrorCode, number>

const titles: Record<ErrorCode, string> = {
  BadArguments: 'Bad arguments',
  InvalidACL: 'Invalid ACL',
  MarshallingError: 'Malformed request',
  AuthFailed: 'Authentication failed',
  NoAuth: 'Not authorised',
  NoNode: 'No such znode',
  NotFound: 'No such route',
  MethodNotAllowed: 'Method not allowed',
  RequestTimeout: 'Request timed out',
  NodeExists: 'Znode exists',
  NotEmpty: 'Znode has children',
  NoChildrenForEphemerals: 'Ephemeral znodes cannot have children',
  NewConfigNoQuorum: 'New member not caught up',
  SessionExpired: 'Session expired',
  Compacted: 'Zxid compacted',
  BadVersion: 'Version mismatch',
  PayloadTooLarge: 'Too large',
  UnsupportedMediaType: 'Unsupported media type',
  IdempotencyKeyReused: 'Idempotency-Key reused',
  Throttled: 'Throttled',
  QuotaExceeded: 'Quota exceeded',
  SystemError: 'Internal error',
  RuntimeInconsistency: 'Runtime inconsistency',
  DataInconsistency: 'Data inconsistency',
  Unimplemented: 'Unimplemented',
  ConnectionLoss: 'Unavailable',
  NotReadOnly: 'Read-only',
  OperationTimeout: 'Timed out',
}

/** Codes after which a retry is worth it, with the Retry-After seconds to send. */
const retryAfterSeconds: Partial<Record<ErrorCode, number>> = {
  Throttled: 1,
  QuotaExceeded: 1,
  ConnectionLoss: 1,
}

export interface ProblemBody {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly code: ErrorCode
  readonly detail: string
  readonly zxid: number
  readonly [extension: string]: unknown
}

export function problemBody(error: HerdError, zxid: number): ProblemBody {
  return {
    type: `urn:herd:error:${error.code}`,
    title: titles[error.code],
    status: statusOf[error.code],
    code: error.code,
    detail: error.detail,
    zxid,
    ...error.data,
  }
}

export function problemHeaders(error: HerdError, zxid: number): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json',
    'herd-zxid': String(zxid),
  }
  const retryAfter = retryAfterSeconds[error.code]
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter)
  return headers
}

/** The problem+json reply for `error`. */
export function problemReply(error: HerdError, zxid: number): Reply {
  return { status: statusOf[error.code], headers: problemHeaders(error, zxid), body: JSON.stringify(problemBody(error, zxid)) }
}

/** The bytes of a complete HTTP/1.1 error response, for the socket-level errors that reach no handler. */
export function rawProblemResponse(error: HerdError, zxid: number): string {
  const body = JSON.stringify(problemBody(error, zxid))
  const status = statusOf[error.code]
  return (
    `HTTP/1.1 ${status} ${titles[error.code]}\r\n` +
    `Content-Type: application/problem+json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `Herd-Zxid: ${zxid}\r\n` +
    `Connection: close\r\n\r\n` +
    body
  )
}
