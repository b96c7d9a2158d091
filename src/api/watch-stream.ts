// One-shot watches as Server-Sent Events: GET /znodes/<path>?watch=<kind>.
//
// The stream sends keep-alive comments while it waits, then exactly one
// event (SSE `id:` = the change's zxid, `event:` = its type, `data:` = the
// event as JSON), then ends. A browser's EventSource reconnects after the
// end with Last-Event-ID = that zxid, which arms the next watch exactly
// where the previous one fired, so a page sees every change without a gap.
//
// Bounded: the registry caps watches in total and per client address; each
// stream may hold at most watchBufferBytesMax unsent bytes (a client that
// stops reading is cut off, never silently skipped); one timer sends every
// stream's keep-alive. A closed connection releases its watch at once.
import type { Timer } from '../clock.ts'
import { HerdError } from '../errors.ts'
import type { TreeEvent } from '../tree/index.ts'
import { watchKinds, type WatchKind, type WatchSink } from '../watches/index.ts'
import type { ApiDeps } from './deps.ts'
import type { HttpRequest, Reply, StreamBody, StreamChannel } from './http.ts'
import { integer, integerParam, queryValue, type Query } from './request.ts'

const keepalive = ': keepalive\n\n'

export function formatEvent(event: TreeEvent): string {
  const data = JSON.stringify({ type: event.type, path: event.path, zxid: event.zxid, stat: event.stat })
  return `id: ${event.zxid}\nevent: ${event.type}\ndata: ${data}\n\n`
}

/** One armed watch's stream: written by the registry's fire, the keep-alive timer, or cut off. */
class WatchStream implements StreamBody, WatchSink {
  readonly #streams: Set<WatchStream>
  #greeting = ''
  #channel: StreamChannel | null = null
  /** An event that fired before the headers went out. */
  #early: TreeEvent | null = null
  #release: () => void = () => {}
  #isDone = false

  constructor(streams: Set<WatchStream>) {
    this.#streams = streams
  }

  armed(release: () => void, greeting: string): void {
    this.#release = release
    this.#greeting = greeting
  }

  open(channel: StreamChannel): void {
    this.#channel = channel
    if (this.#early !== null) {
      this.#finish(formatEvent(this.#early))
      return
    }
    if (this.#isDone) {
      channel.end()
      return
    }
    this.#streams.add(this)
    channel.write(this.#greeting)
  }

  fire(event: TreeEvent): void {
    if (this.#channel === null) {
      this.#early = event
      return
    }
    this.#finish(formatEvent(event))
  }

  close(): void {
    if (this.#isDone) return
    this.#isDone = true
    this.#release()
    this.#streams.delete(this)
  }

  /** Ends the stream (shutdown): clients reconnect elsewhere with Last-Event-ID. */
  end(): void {
    this.#finish()
  }

  ping(bufferBytesMax: number): void {
    const channel = this.#channel
    if (channel === null || this.#isDone) return
    if (channel.queuedBytes > bufferBytesMax) {
      // It stopped reading: cut it off rather than let bytes pile up.
      this.close()
      channel.destroy()
      return
    }
    channel.write(keepalive)
  }

  #finish(last?: string): void {
    if (this.#isDone) return
    this.close()
    this.#channel?.end(last)
  }
}

export class WatchStreams {
  readonly #deps: ApiDeps
  readonly #open = new Set<WatchStream>()
  readonly #keepalive: Timer

  constructor(deps: ApiDeps) {
    this.#deps = deps
    this.#keepalive = deps.clock.setInterval(() => this.#ping(), deps.config.watchKeepaliveMs)
  }

  get count(): number {
    return this.#open.size
  }

  open(req: HttpRequest, path: string, query: Query): Reply | Promise<Reply> {
    const deps = this.#deps
    const kind = watchKind(queryValue(query, 'watch'))
    const since = sinceZxid(req, query)
    if (since !== null && since > deps.replica.appliedZxid) {
      return deps.replica.waitForApplied(since, deps.config.readWaitMsMax).then(() => this.#arm(req, path, kind, since))
    }
    return this.#arm(req, path, kind, since)
  }

  /** Ends every open stream (shutdown). */
  closeAll(): void {
    for (const stream of [...this.#open]) stream.end()
  }

  stop(): void {
    this.#keepalive.cancel()
    this.closeAll()
  }

  #arm(req: HttpRequest, path: string, kind: WatchKind, since: number | null): Reply {
    const deps = this.#deps
    const stream = new WatchStream(this.#open)
    const result = deps.watches.arm({ path, kind, sinceZxid: since, clientKey: req.remoteAddress }, stream, deps.replica.tree)
    const headers = {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      'herd-zxid': String(result.armedZxid),
    }
    if (result.type === 'fired') return { status: 200, headers, body: formatEvent(result.event) }
    if (req.method === 'HEAD') {
      // Nothing reads a HEAD body, so nothing would ever end the stream and
      // free the watch: answer the headers a GET would get, and free it now.
      result.release()
      return { status: 200, headers, body: null }
    }
    stream.armed(result.release, `: watching ${kind} of ${JSON.stringify(path)} from zxid ${result.armedZxid}\n\n`)
    return { status: 200, headers, body: stream }
  }

  #ping(): void {
    const bufferMax = this.#deps.config.watchBufferBytesMax
    for (const stream of [...this.#open]) stream.ping(bufferMax)
  }
}

function watchKind(value: string | undefined): WatchKind {
  const kind = watchKinds.find((k) => k === value)
  if (kind === undefined) throw new HerdError('BadArguments', `watch is one of ${watchKinds.join(', ')}`)
  return kind
}

/** The zxid to watch from: ?zxid, else Last-Event-ID (they must agree when both are sent), else null. */
function sinceZxid(req: HttpRequest, query: Query): number | null {
  const fromQuery = integerParam(query, 'zxid', 0, Number.MAX_SAFE_INTEGER)
  const header = req.header('last-event-id')
  const fromHeader = header === undefined || header.trim() === '' ? undefined : integer(header.trim(), 'Last-Event-ID', 0, Number.MAX_SAFE_INTEGER)
  if (fromQuery !== undefined && fromHeader !== undefined && fromQuery !== fromHeader) {
    throw new HerdError('BadArguments', `zxid (${fromQuery}) and Last-Event-ID (${fromHeader}) disagree`)
  }
  return fromQuery ?? fromHeader ?? null
}
