// Every failure the client reports is a HerdClientError with a stable `code`
// from the server's catalogue (errors.ts), so callers switch on one field
// whether the server answered with a problem or the network gave way. The
// translation of undici's UND_ERR_* codes and socket errno codes happens
// here, once (as the server does at its peer edge).
import { isErrorCode, type ErrorCode } from '../errors.ts'
import type { MultiOpFailure } from './types.ts'

export interface HerdClientErrorInit {
  readonly code: ErrorCode
  readonly detail: string
  /** The HTTP status, or 0 when no answer arrived. */
  readonly status?: number
  /** The zxid the replica had applied when it answered (problem body or Herd-Zxid). */
  readonly zxid?: number | undefined
  readonly path?: string | undefined
  readonly results?: readonly MultiOpFailure[] | undefined
  readonly failedOp?: number | undefined
  readonly retryAfterMs?: number | undefined
  readonly cause?: unknown
}

export class HerdClientError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly detail: string
  readonly zxid: number | undefined
  /** The znode the error is about, when the server named one. */
  readonly path: string | undefined
  /** For a failed multi, one entry per operation in ZooKeeper's pattern (Ok, the error, RuntimeInconsistency). */
  readonly results: readonly MultiOpFailure[] | undefined
  /** For a failed multi, the index of the failing operation. */
  readonly failedOp: number | undefined
  /** The server's Retry-After, in milliseconds. */
  readonly retryAfterMs: number | undefined

  constructor(init: HerdClientErrorInit) {
    super(`${init.code}: ${init.detail}`, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'HerdClientError'
    this.code = init.code
    this.status = init.status ?? 0
    this.detail = init.detail
    this.zxid = init.zxid
    this.path = init.path
    this.results = init.results
    this.failedOp = init.failedOp
    this.retryAfterMs = init.retryAfterMs
  }
}

export function isHerdClientError(error: unknown): error is HerdClientError {
  return error instanceof HerdClientError
}

/**
 * Codes after which the same request may succeed later: the conversation
 * broke, the deadline passed, or a queue was full. A write retried after one
 * of them must carry the same Idempotency-Key, since it may have happened.
 */
export function isTransient(code: ErrorCode): boolean {
  return code === 'ConnectionLoss' || code === 'OperationTimeout' || code === 'Throttled'
}

/** A non-2xx answer as a HerdClientError, from its problem+json body when it has one. */
export function errorFromResponse(status: number, body: unknown, zxidHeader: number | undefined, retryAfter: string | undefined): HerdClientError {
  const problem = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {}
  const code = isErrorCode(problem['code']) ? problem['code'] : codeOfStatus(status)
  return new HerdClientError({
    code,
    status,
    detail: typeof problem['detail'] === 'string' ? problem['detail'] : `HTTP ${status} without a problem body`,
    zxid: typeof problem['zxid'] === 'number' ? problem['zxid'] : zxidHeader,
    path: typeof problem['path'] === 'string' ? problem['path'] : undefined,
    results: Array.isArray(problem['results']) ? (problem['results'] as MultiOpFailure[]) : undefined,
    failedOp: typeof problem['failedOp'] === 'number' ? problem['failedOp'] : undefined,
    retryAfterMs: retryAfterMsOf(retryAfter),
  })
}

/** For an answer that is not problem+json (a proxy's page, say): the code its status means. */
function codeOfStatus(status: number): ErrorCode {
  if (status === 502 || status === 503) return 'ConnectionLoss'
  if (status === 504) return 'OperationTimeout'
  if (status === 429) return 'Throttled'
  if (status === 404) return 'NotFound'
  if (status === 413) return 'PayloadTooLarge'
  if (status >= 400 && status < 500) return 'BadArguments'
  return 'SystemError'
}

function retryAfterMsOf(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d+$/.test(header.trim())) return undefined
  return Number(header.trim()) * 1000
}

/** Timeouts: the request may or may not have taken effect. */
const timeoutCodes: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/** The connection never carried the request: safe to send it elsewhere, even a write. */
const notSentCodes: ReadonlySet<string> = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
])

/** The connection broke, or the client was closed: the outcome of a write is unknown. */
const brokenCodes: ReadonlySet<string> = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_HTTP_PARSER',
  'HPE_INVALID_CONSTANT',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
])

/**
 * An error thrown by undici (or the socket under it) as a HerdClientError.
 * Errors that are not about the network (a bug, an aborted signal) are
 * returned unchanged, so they surface as themselves.
 */
export function errorFromNetwork(error: unknown, origin: string): unknown {
  if (error instanceof HerdClientError) return error
  const code = errnoCode(error)
  if (code === undefined) return error
  const message = error instanceof Error ? error.message : String(error)
  if (timeoutCodes.has(code)) {
    return new HerdClientError({ code: 'OperationTimeout', detail: `${origin} did not answer in time (${code}); a write's outcome is unknown`, cause: error })
  }
  if (notSentCodes.has(code) || brokenCodes.has(code) || code.startsWith('UND_ERR_')) {
    if (code === 'UND_ERR_INVALID_ARG') return new HerdClientError({ code: 'BadArguments', detail: message, cause: error })
    return new HerdClientError({ code: 'ConnectionLoss', detail: `${origin}: ${message} (${code})`, cause: error })
  }
  return error
}

/** True when the request never reached the server (a failed connect), so sending it to another replica cannot do it twice. */
export function wasNeverSent(error: unknown): boolean {
  const cause = error instanceof HerdClientError ? error.cause : error
  const code = errnoCode(cause)
  return code !== undefined && notSentCodes.has(code)
}

/** The code of an error, looking inside the AggregateError Node raises when every address of a host refused. */
function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') return code
  const inner = (error as { errors?: unknown }).errors
  if (Array.isArray(inner)) return errnoCode(inner[0])
  return undefined
}
