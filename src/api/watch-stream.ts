// One-shot watches as Server-Sent Events: GET /znodes/<path>?watch=<kind>.
//
// The stream sends keep-alive comments while it waits, then exactly one
// event (SSE `id:` = the change's zxid, `event:` = its type, `data:` = the
// event as JSON), then ends. A browser's EventSource reconnects after the
// end with Last-Event-ID = that zxid, which arms the next watch exactly
// where the previous one fired, so a page sees every change without a gap.
// The stream opens with an `id:` line of the zxid it is armed at, so a
// stream that ends before its event reconnects from there too.
//
// Bounded: the registry caps watches in total and per client address; each
// stream may hold at most watchBufferBytesMax unsent bytes (a client that
// stops reading is cut off, never silently skipped); one timer sends every
// stream's keep-alive. A closed connection releases its watch at once.
//
// A replica cut off from the leader ends its streams (those that did not ask
// for ?stale) as a ZooKeeper server cut off from the quorum drops its
// clients: the change a stream waits for may be committed elsewhere and never
// reach it meanwhile. A client re-arms on another replica from the zxid it
// last saw and misses nothing. A browser's EventSource cannot pick another
// replica, and gives up for good on any answer but a 200 event stream: it
// gets a stream that says `retry:` and ends, so it keeps reconnecting (with
// its Last-Event-ID) until this replica is back in contact, or a load
// balancer sends it elsewhere; other clients get 503 ConnectionLoss.
import type { Timer } from '../clock.ts'
import { HerdError } from '../errors.ts'
import type { TreeEvent } from '../tree/index.ts'
import { watchKinds, type WatchKind, type WatchSink } from '../watches/index.ts'
import type { ApiDeps } from './deps.ts'
import type { HttpRequest, Reply, StreamBody, StreamChannel } from '../http/index.ts'
import { flag, integer, integerParam, queryValue, type Query } from './request.ts'

const keepalive = ': keepalive\n\n'
/** How long an EventSource waits before it reconnects to a cut-off replica (SSE `retry:`). */
export const cutOffRetryMs = 2000
const cutOffNotice = `retry: ${cutOffRetryMs}\n: this replica is cut off from the leader: watch again on another replica, from the zxid last seen\n\n`

export function formatEvent(event: TreeEvent): string {
  const data = JSON.stringify({ type: event.type, path: event.path, zxid: event.zxid, stat: event.stat, ...(event.isResync === true ? { resync: true } : {}) })
  return `id: ${event.zxid}\nevent: ${event.type}\ndata: ${data}\n\n`
}

/** One armed watch's stream: written by the registry's fire, the keep-alive timer, or cut off. */
class WatchStream implements StreamBody, WatchSink {
  readonly #streams: OpenStreams
  /** Armed with ?stale: it waits on a cut-off replica too. */
  readonly acceptsStale: boolean
  #greeting = ''
  #channel: StreamChannel | null = null
  /** An event that fired before the headers went out. */
  #early: TreeEvent | null = null
  #release: () => void = () => {}
  #isDone = false

  constructor(streams: OpenStreams, acceptsStale: boolean) {
    this.#streams = streams
    this.acceptsStale = acceptsStale
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

  /** Ends the stream (shutdown, cut off), with a last comment if given: clients reconnect elsewhere with Last-Event-ID. */
  end(comment?: string): void {
    this.#finish(comment)
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

/**
 * The open streams, in an array so that keep-alives can walk them a slice at
 * a time: writing thousands of keep-alives in one go stalled every other
 * request for tens of milliseconds (measured with 5,000 streams open).
 */
class OpenStreams {
  readonly #streams: WatchStream[] = []
  readonly #slots = new Map<WatchStream, number>()
  #cursor = 0

  get size(): number {
    return this.#streams.length
  }

  add(stream: WatchStream): void {
    this.#slots.set(stream, this.#streams.length)
    this.#streams.push(stream)
  }

  delete(stream: WatchStream): void {
    const slot = this.#slots.get(stream)
    if (slot === undefined) return
    this.#slots.delete(stream)
    const last = this.#streams.pop() as WatchStream
    if (last !== stream) {
      this.#streams[slot] = last
      this.#slots.set(last, slot)
    }
  }

  /** The next `count` streams in round-robin order. */
  next(count: number): WatchStream[] {
    const picked: WatchStream[] = []
    const size = this.#streams.length
    for (let i = 0; i < count && i < size; i++) {
      if (this.#cursor >= size) this.#cursor = 0
      picked.push(this.#streams[this.#cursor++] as WatchStream)
    }
    return picked
  }

  all(): WatchStream[] {
    return [...this.#streams]
  }
}

/** How often a slice of the streams gets its keep-alive. */
const keepaliveTickMs = 100

export class WatchStreams {
  readonly #deps: ApiDeps
  readonly #open = new OpenStreams()
  readonly #keepalive: Timer
  /** Stream-milliseconds of keep-alive owed and not yet sent (integers, so the cadence is exact). */
  #owedMs = 0

  constructor(deps: ApiDeps) {
    this.#deps = deps
    const tickMs = Math.min(keepaliveTickMs, deps.config.watchKeepaliveMs)
    this.#keepalive = deps.clock.setInterval(() => this.#ping(tickMs), tickMs)
  }

  get count(): number {
    return this.#open.size
  }

  open(req: HttpRequest, path: string, query: Query): Reply | Promise<Reply> {
    const deps = this.#deps
    const kind = watchKind(queryValue(query, 'watch'))
    const since = sinceZxid(req, query)
    const acceptsStale = flag(query, 'stale')
    if (since !== null && since > deps.replica.appliedZxid) {
      return deps.replica.waitForApplied(since, deps.config.readWaitMsMax).then(() => this.#arm(req, path, kind, since, acceptsStale))
    }
    return this.#arm(req, path, kind, since, acceptsStale)
  }

  /**
   * The answer to a watch that a browser's EventSource (it accepts
   * text/event-stream; herd's client does not say so) asks a cut-off replica
   * for: a stream that only says when to reconnect, so that the EventSource
   * lives on instead of failing for good on a 503. Bad parameters still get
   * their 400.
   */
  retryLater(req: HttpRequest, query: Query): Reply {
    watchKind(queryValue(query, 'watch'))
    sinceZxid(req, query)
    return { status: 200, headers: eventStreamHeaders(this.#deps.replica.appliedZxid), body: cutOffNotice }
  }

  /** Ends every open stream (shutdown). */
  closeAll(): void {
    for (const stream of this.#open.all()) stream.end()
  }

  stop(): void {
    this.#keepalive.cancel()
    this.closeAll()
  }

  #arm(req: HttpRequest, path: string, kind: WatchKind, since: number | null, acceptsStale: boolean): Reply {
    const deps = this.#deps
    const stream = new WatchStream(this.#open, acceptsStale)
    const result = deps.watches.arm({ path, kind, sinceZxid: since, clientKey: req.remoteAddress }, stream, deps.replica.tree)
    const headers = eventStreamHeaders(result.armedZxid)
    if (result.type === 'fired') return { status: 200, headers, body: formatEvent(result.event) }
    if (req.method === 'HEAD') {
      // Nothing reads a HEAD body, so nothing would ever end the stream and
      // free the watch: answer the headers a GET would get, and free it now.
      result.release()
      return { status: 200, headers, body: null }
    }
    // The id line (with no data, no event is dispatched) sets an EventSource's
    // last event ID to the zxid armed at: a stream that ends before its event
    // (a restart, a cut-off replica, a proxy's idle timeout) reconnects with
    // Last-Event-ID and is armed again from there, so a change made in the
    // gap fires at once instead of being missed.
    stream.armed(result.release, `: watching ${kind} of ${JSON.stringify(path)} from zxid ${result.armedZxid}\nid: ${result.armedZxid}\n\n`)
    return { status: 200, headers, body: stream }
  }

  /** Keep-alives for this tick's share of the streams, so each gets one about every watchKeepaliveMs. */
  #ping(tickMs: number): void {
    if (this.#deps.replica.isCutOff && this.#open.size > 0) {
      for (const stream of this.#open.all()) if (!stream.acceptsStale) stream.end(cutOffNotice)
    }
    const { watchBufferBytesMax, watchKeepaliveMs } = this.#deps.config
    this.#owedMs = Math.min(this.#owedMs + this.#open.size * tickMs, this.#open.size * watchKeepaliveMs)
    const share = Math.floor(this.#owedMs / watchKeepaliveMs)
    this.#owedMs -= share * watchKeepaliveMs
    for (const stream of this.#open.next(share)) stream.ping(watchBufferBytesMax)
  }
}

/** The headers of a watch's event stream (no proxy buffering, no caching), with the zxid it answers at. */
function eventStreamHeaders(zxid: number): Record<string, string> {
  return { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no', 'herd-zxid': String(zxid) }
}

function watchKind(value: string | undefined): WatchKind {
  const kind = watchKinds.find((k) => k === value)
  if (kind === undefined) throw new HerdError('BadArguments', `watch is one of ${watchKinds.join(', ')}`)
  return kind
}

/**
 * The zxid to watch from: the later of ?zxid and Last-Event-ID, else null.
 * An EventSource keeps the URL it was made with, ?zxid included, and sends
 * the id of the last event (or stream) it got on each reconnect: that one is
 * the later, and the client has seen everything up to it.
 */
function sinceZxid(req: HttpRequest, query: Query): number | null {
  const fromQuery = integerParam(query, 'zxid', 0, Number.MAX_SAFE_INTEGER)
  const header = req.header('last-event-id')
  const fromHeader = header === undefined || header.trim() === '' ? undefined : integer(header.trim(), 'Last-Event-ID', 0, Number.MAX_SAFE_INTEGER)
  if (fromQuery !== undefined && fromHeader !== undefined) return Math.max(fromQuery, fromHeader)
  return fromQuery ?? fromHeader ?? null
}
