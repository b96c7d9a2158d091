// Building replies. Every reply says the zxid this replica had applied
// (Herd-Zxid); every failure leaves through errorReply as problem+json.
import { HerdError, isHerdError } from '../errors.ts'
import type { Failure, MultiOp, Stat } from '../tree/index.ts'
import type { ApiDeps } from './deps.ts'
import type { HttpRequest, Reply } from '../http/index.ts'
import { problemReply, statusOf } from './problem.ts'

export type Headers = Record<string, string>

/** A JSON reply; `body` is a value to stringify, or already JSON text. */
export function json(deps: ApiDeps, status: number, body: unknown, headers?: Headers): Reply {
  const all: Headers = { 'content-type': 'application/json', 'herd-zxid': String(deps.replica.appliedZxid) }
  if (headers !== undefined) Object.assign(all, headers)
  return { status, headers: all, body: typeof body === 'string' ? body : JSON.stringify(body) }
}

export function problem(deps: ApiDeps, error: HerdError, headers?: Headers): Reply {
  const reply = problemReply(error, deps.replica.appliedZxid)
  if (headers !== undefined) Object.assign(reply.headers, headers)
  return reply
}

export function notModified(deps: ApiDeps, etag: string): Reply {
  return { status: 304, headers: { etag, 'herd-zxid': String(deps.replica.appliedZxid) }, body: null }
}

let internalErrorCount = 0

/**
 * The one way a thrown error becomes a reply: a HerdError through the
 * status table, anything else a SystemError whose detail stays in the log.
 */
export function errorReply(deps: ApiDeps, request: HttpRequest, error: unknown): Reply {
  const where = `${request.method} ${request.target.pathname.slice(0, 200)}`
  if (isHerdError(error)) {
    if (statusOf[error.code] >= 500) deps.log.warn(`${where}: ${error.message}`)
    // A body we stopped reading cannot leave the connection reusable.
    return problem(deps, error, error.code === 'PayloadTooLarge' ? { connection: 'close' } : undefined)
  }
  const id = ++internalErrorCount
  deps.log.error(`request #${id} ${where} failed: ${(error as Error)?.stack ?? String(error)}`)
  return problem(deps, new HerdError('SystemError', `internal error (#${id} in this server's log)`))
}

/**
 * A stat as JSON text, written out by hand: reads and writes put one in
 * almost every reply, and this is several times faster than JSON.stringify
 * of the object. Field order is the contract's.
 */
export function statJson(s: Stat): string {
  return `{"czxid":${s.czxid},"mzxid":${s.mzxid},"pzxid":${s.pzxid},"ctime":${s.ctime},"mtime":${s.mtime},"version":${s.version},"cversion":${s.cversion},"aversion":${s.aversion},"ephemeralOwner":${s.ephemeralOwner},"dataLength":${s.dataLength},"numChildren":${s.numChildren}}`
}

export function etagOf(version: number): string {
  return `"${version}"`
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export type DataEncoding = 'utf8' | 'base64'

/** Data for a JSON representation: as text when it is valid UTF-8 (unless base64 is asked for), else base64. */
export function encodeData(bytes: Uint8Array, forced: DataEncoding | undefined): { data: string; encoding: DataEncoding } {
  if (forced !== 'base64') {
    try {
      return { data: utf8.decode(bytes), encoding: 'utf8' }
    } catch {
      if (forced === 'utf8') throw new HerdError('BadArguments', 'the data is not valid UTF-8; ask for encoding=base64')
    }
  }
  return { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), encoding: 'base64' }
}

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const encoder = new TextEncoder()

/** Data from a JSON request: UTF-8 text by default, or strict base64. */
export function decodeData(text: string, encoding: DataEncoding, what: string): Uint8Array {
  if (encoding === 'utf8') return encoder.encode(text)
  if (!base64Pattern.test(text)) throw new HerdError('BadArguments', `${what} is not valid base64`)
  return Buffer.from(text, 'base64')
}

/** A tree failure as the HerdError the client sees, with the multi pattern when there is one. */
export function failureError(failure: Failure, ops?: readonly MultiOp[]): HerdError {
  const data: Record<string, unknown> = {}
  if (failure.path !== null) data['path'] = failure.path
  if (failure.results !== undefined) {
    data['results'] = failure.results.map((result, i) => ({ op: ops?.[i]?.type ?? 'unknown', path: result.path, code: result.code }))
  }
  if (failure.failedOp !== undefined) data['failedOp'] = failure.failedOp
  return new HerdError(failure.code, failure.detail, data)
}
