// herd's own HTTP request and reply, independent of the framework that
// carries them. Handlers take an HttpRequest and give back a Reply (a status,
// a plain header record and a body). Three adapters carry them on the
// client port: api/hono-http.ts (every route, for in-process tests and the
// less frequent routes), node-http.ts (the /znodes routes straight from
// node:http, because the Fetch API objects Hono's Node adapter builds cost
// about a third of a read's CPU, measured; see api/server.ts) and
// fast-http.ts (well-formed /znodes requests read off the socket, without
// node:http, whose own cost per request was larger still). The peer port
// answers with Replies too, through fast-http.ts or node:http.
import type { IncomingMessage } from 'node:http'

export interface Target {
  /** The path as the client sent it: never normalised. */
  readonly pathname: string
  /** The query without its `?`. */
  readonly search: string
}

export interface HttpRequest {
  readonly method: string
  readonly target: Target
  /** A header by its lower-case name. */
  header(name: string): string | undefined
  /** The Node request, whose body is read as it streams; null in-process. */
  readonly incoming: IncomingMessage | null
  /** The whole body, for in-process requests (incoming is null). */
  arrayBuffer(): Promise<ArrayBuffer>
  /** The client's address (the socket's, never a header's). */
  readonly remoteAddress: string
}

/** Where a streamed reply writes; each adapter provides one over its transport. */
export interface StreamChannel {
  write(chunk: string): void
  /** Ends the reply after what was written (and `last`, in the same write). */
  end(last?: string): void
  /** Drops the connection at once. */
  destroy(): void
  /** Bytes written but not yet taken by the client. */
  readonly queuedBytes: number
}

/** A reply body written over time (Server-Sent Events). */
export interface StreamBody {
  /** The headers are out: write from now on. */
  open(channel: StreamChannel): void
  /** The client went away before the stream ended. */
  close(): void
}

export type ReplyBody = string | Uint8Array | StreamBody | null

export function isStreamBody(body: ReplyBody): body is StreamBody {
  return typeof body === 'object' && body !== null && !(body instanceof Uint8Array)
}

export interface Reply {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: ReplyBody
}

export function splitTarget(raw: string): Target {
  const q = raw.indexOf('?')
  return q < 0 ? { pathname: raw, search: '' } : { pathname: raw.slice(0, q), search: raw.slice(q + 1) }
}
