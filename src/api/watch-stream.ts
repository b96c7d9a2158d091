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
import { assert } from '../assert.ts'
import type { Timer } from '../clock.ts'
import { HerdError } from '../errors.ts'
import type { TreeEvent } from '../tree/index.ts'
import { watchKinds, type WatchKind } from '../watches/index.ts'
import type { ApiDeps } from './deps.ts'
import { clientAddress, integer, integerParam, queryValue, type Ctx, type Query } from './request.ts'

interface OpenStream {
  readonly controller: ReadableStreamDefaultController<Uint8Array>
  /** Sends what is queued, then ends the stream. */
  finish(): void
  /** Drops the connection at once (a client that stopped reading). */
  cut(): void
}

const encoder = new TextEncoder()
const keepaliveBytes = encoder.encode(': keepalive\n\n')

export function formatEvent(event: TreeEvent): string {
  const data = JSON.stringify({ type: event.type, path: event.path, zxid: event.zxid, stat: event.stat })
  return `id: ${event.zxid}\nevent: ${event.type}\ndata: ${data}\n\n`
}

export class WatchStreams {
  readonly #deps: ApiDeps
  readonly #open = new Set<OpenStream>()
  readonly #keepalive: Timer

  constructor(deps: ApiDeps) {
    this.#deps = deps
    this.#keepalive = deps.clock.setInterval(() => this.#ping(), deps.config.watchKeepaliveMs)
  }

  get count(): number {
    return this.#open.size
  }

  async open(c: Ctx, path: string, query: Query): Promise<Response> {
    const deps = this.#deps
    const kind = watchKind(queryValue(query, 'watch'))
    const since = sinceZxid(c, query)
    if (since !== null) await deps.replica.waitForApplied(since, deps.config.readWaitMsMax)

    let stream: OpenStream | null = null
    const sink = {
      // Events only fire from a later apply, never while arm() runs, so the
      // stream exists by then.
      fire: (event: TreeEvent) => {
        assert(stream !== null, 'a watch fired before its stream was opened')
        stream.controller.enqueue(encoder.encode(formatEvent(event)))
        stream.finish()
      },
    }
    const result = deps.watches.arm({ path, kind, sinceZxid: since, clientKey: clientAddress(c) }, sink, deps.replica.tree)
    const headers = {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      'herd-zxid': String(result.armedZxid),
    }
    if (result.type === 'fired') return new Response(formatEvent(result.event), { status: 200, headers })
    if (c.req.method === 'HEAD') {
      // Nothing reads a HEAD body, so nothing would ever cancel the stream and
      // free the watch: answer the headers a GET would get, and free it now.
      result.release()
      return new Response(null, { status: 200, headers })
    }

    const socket = c.env?.incoming?.socket
    const release = result.release
    const open = this.#open
    let isDone = false
    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          const opened: OpenStream = {
            controller,
            finish() {
              if (isDone) return
              isDone = true
              release()
              open.delete(opened)
              controller.close()
            },
            cut() {
              opened.finish()
              socket?.destroy()
            },
          }
          stream = opened
          open.add(opened)
          controller.enqueue(encoder.encode(`: watching ${kind} of ${JSON.stringify(path)} from zxid ${result.armedZxid}\n\n`))
        },
        cancel() {
          // The client went away (or the response was torn down): free the watch now.
          if (isDone) return
          isDone = true
          release()
          if (stream !== null) open.delete(stream)
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: 0 }),
    )
    c.req.raw.signal.addEventListener('abort', () => body.cancel().catch(() => {}), { once: true })
    return new Response(body, { status: 200, headers })
  }

  /** Ends every open stream (shutdown): clients reconnect elsewhere with Last-Event-ID. */
  closeAll(): void {
    for (const stream of [...this.#open]) stream.finish()
  }

  stop(): void {
    this.#keepalive.cancel()
    this.closeAll()
  }

  #ping(): void {
    const bufferMax = this.#deps.config.watchBufferBytesMax
    for (const stream of [...this.#open]) {
      const queued = -(stream.controller.desiredSize ?? 0)
      if (queued > bufferMax) {
        // It stopped reading: cut it off rather than let bytes pile up.
        stream.cut()
        continue
      }
      stream.controller.enqueue(keepaliveBytes)
    }
  }
}

function watchKind(value: string | undefined): WatchKind {
  const kind = watchKinds.find((k) => k === value)
  if (kind === undefined) throw new HerdError('BadArguments', `watch is one of ${watchKinds.join(', ')}`)
  return kind
}

/** The zxid to watch from: ?zxid, else Last-Event-ID (they must agree when both are sent), else null. */
function sinceZxid(c: Ctx, query: Query): number | null {
  const fromQuery = integerParam(query, 'zxid', 0, Number.MAX_SAFE_INTEGER)
  const header = c.req.header('last-event-id')
  const fromHeader = header === undefined || header.trim() === '' ? undefined : integer(header.trim(), 'Last-Event-ID', 0, Number.MAX_SAFE_INTEGER)
  if (fromQuery !== undefined && fromHeader !== undefined && fromQuery !== fromHeader) {
    throw new HerdError('BadArguments', `zxid (${fromQuery}) and Last-Event-ID (${fromHeader}) disagree`)
  }
  return fromQuery ?? fromHeader ?? null
}
