// Building responses. Handlers return a Response with a plain-object header
// record, which @hono/node-server writes out without materialising a Headers
// object (measured: Hono's c.body() with several headers is markedly slower).
// Every response says the zxid this replica had applied (Herd-Zxid).
import { HerdError } from '../errors.ts'
import type { Failure, MultiOp } from '../tree/index.ts'
import type { ApiDeps } from './deps.ts'
import { problemBody, problemHeaders, statusOf } from './problem.ts'

export type Headers = Record<string, string>

export function json(deps: ApiDeps, status: number, body: unknown, headers?: Headers): Response {
  const all: Headers = { 'content-type': 'application/json', 'herd-zxid': String(deps.replica.appliedZxid) }
  if (headers !== undefined) Object.assign(all, headers)
  return new Response(JSON.stringify(body), { status, headers: all })
}

export function problem(deps: ApiDeps, error: HerdError, headers?: Headers): Response {
  const zxid = deps.replica.appliedZxid
  const all = problemHeaders(error, zxid)
  if (headers !== undefined) Object.assign(all, headers)
  return new Response(JSON.stringify(problemBody(error, zxid)), { status: statusOf[error.code], headers: all })
}

export function notModified(deps: ApiDeps, etag: string): Response {
  return new Response(null, { status: 304, headers: { etag, 'herd-zxid': String(deps.replica.appliedZxid) } })
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
