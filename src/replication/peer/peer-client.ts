// The sending side of the peer port: two undici Pools per peer (keep-alive
// connections: one for consensus messages, one for calls), consensus
// messages batched per peer per turn of the event loop into one request,
// several requests in flight per peer, and calls (a forwarded write, a read
// index, a session heartbeat) with a deadline.
//
// Consensus messages are fire-and-forget: Raft retries what is lost, so a
// failed or refused request is dropped (and logged at most once a second per
// peer), never retried here. Calls reject with ConnectionLoss when the peer
// cannot be reached, so the caller can tell "not done" from an answer.
//
// Messages travel back on answers: the peer server hands the answer to a
// peer's consensus request to this client (`hold`) instead of sending an
// empty 204 at once, and the next messages for that peer go out as that
// answer's body rather than as a request of their own. A follower's reply
// to an append thus rides on the append's own HTTP exchange: one request and
// one answer per round trip instead of two of each (the leader's writes to
// its followers' sockets were its largest cost). An answer nobody needed
// within `answerHoldMs` is sent empty, so a peer's requests in flight (which
// held answers count against) are never kept waiting longer. Only the newest
// answer is held per peer: one is all a reply needs, and every older one
// kept a slot of the peer's sendsInFlightMax taken, so its next request
// waited for this side's next reply (measured in a 3-replica 90/10 mix: a
// follower held 2-3 of the leader's answers, and the leader's appends
// waited 7 ms at p50 for a slot).
//
// Every exchange goes through undici's dispatch API (`exchange`), which
// hands over the answer's chunks as they come: `request()` built a Readable
// stream, and for calls an AbortController, for each, about a quarter of
// an exchange's CPU (test/bench/peer-port.ts).
//
// Consensus messages go on their own pool, pipelined: undici 8 writes a
// request on a keep-alive connection that went idle only after a
// setImmediate (its idle-socket check), and a request made in the check
// phase, where the replica sends, thus left after the next turn's I/O and
// the leader's inline sync (6 ms at p50 in the same mix). Behind a request
// still running (the answer the peer holds), a pipelined one is written at
// once. Such messages may be sent twice when a connection fails (undici
// resends idempotent requests): Raft takes duplicates. Calls (a forwarded
// write is not idempotent) keep a pool of their own, one request per
// connection, and never queue behind a held answer.
import { crc32 } from 'node:zlib'
import { Pool, type Dispatcher } from 'undici'
import type { Clock } from '../../clock.ts'
import { HerdError, isErrorCode } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import { decodeValue, encodeValue } from './value-codec.ts'

export interface PeerEndpoint {
  readonly host: string
  readonly port: number
}

export interface PeerClientOptions {
  readonly selfId: number
  readonly secret: string
  readonly clock: Clock
  readonly log: Logger
  readonly timeoutMs: number
  /** Requests carrying consensus messages on their way to one peer at once. */
  readonly sendsInFlightMax: number
  /** Messages queued for one peer beyond which the oldest are dropped (Raft resends). */
  readonly queuedMessagesMax: number
  /** How long an answer to a peer's request waits for messages to carry back before it is sent empty. */
  readonly answerHoldMs: number
  /**
   * The most bytes an answer may hold (default: what a peer request may,
   * the peer server's bound). A longer one is cut off where it passes the
   * bound and fails like a lost answer: a peer that answers without end
   * (a bug, a stuck proxy) costs a failed call, not this replica's memory.
   */
  readonly answerBytesMax?: number
}

/**
 * Sends the answer to a peer's consensus request: the encoded messages it
 * carries back, or null for none. False when the answer can no longer be
 * sent (the connection is gone).
 */
export type Answer = (body: Uint8Array | null) => boolean

/** Where consensus messages that came back on answers go (the replica's `receive`). */
export type Receiver = (from: number, messages: unknown) => void

interface HeldAnswer {
  readonly answer: Answer
  readonly heldSinceMs: number
}

interface Peer {
  readonly id: number
  readonly endpoint: PeerEndpoint
  /** Consensus messages: pipelined behind the answer the peer holds. */
  readonly messages: Pool
  /** Calls: one at a time per connection. */
  readonly calls: Pool
  queued: unknown[]
  inFlight: number
  /** The answer to this peer's newest request, waiting for messages to carry. */
  held: HeldAnswer | null
  lastErrorLogMs: number
}

export const peerHeaders = {
  secret: 'x-herd-secret',
  from: 'x-herd-from',
  to: 'x-herd-to',
  /**
   * crc32 of the body, on every peer request and call answer: TCP's own
   * checksum lets corrupted segments through often enough at scale, and a
   * log entry changed on its way would be stored, applied and diverge (the
   * fault suite's garbling links made a follower apply one and stop).
   */
  checksum: 'x-herd-crc32',
} as const

/** The checksum header's value for `body`. */
export function bodyChecksum(body: Uint8Array): string {
  return String(crc32(body))
}

const bodyBytesMax = 1024 * 1024 * 1024

export class PeerClient {
  readonly #options: PeerClientOptions
  readonly #peers = new Map<number, Peer>()
  #isFlushScheduled = false
  #isClosed = false
  #receiver: Receiver | null = null
  #releaseTimer: ReturnType<typeof setTimeout> | null = null

  constructor(options: PeerClientOptions) {
    this.#options = options
  }

  /** Sets the peers this replica can reach (itself excluded); peers no longer listed are closed. */
  setPeers(endpoints: ReadonlyMap<number, PeerEndpoint>): void {
    for (const [id, peer] of this.#peers) {
      const endpoint = endpoints.get(id)
      if (endpoint === undefined || endpoint.host !== peer.endpoint.host || endpoint.port !== peer.endpoint.port) {
        this.#peers.delete(id)
        releaseHeld(peer)
        void closePools(peer).catch(() => undefined)
      }
    }
    for (const [id, endpoint] of endpoints) {
      if (id === this.#options.selfId || this.#peers.has(id)) continue
      const origin = `http://${endpoint.host.includes(':') && !endpoint.host.startsWith('[') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`
      const pool = (connections: number, pipelining: number): Pool =>
        new Pool(origin, {
          connections,
          pipelining,
          keepAliveTimeout: 60_000,
          headersTimeout: this.#options.timeoutMs,
          bodyTimeout: this.#options.timeoutMs,
          connectTimeout: Math.min(this.#options.timeoutMs, 2000),
          maxResponseSize: this.#options.answerBytesMax ?? bodyBytesMax,
        })
      // Two connections for messages: while a request waits to be written on
      // one (it is opening, or undici checks it after idling), the next may
      // go on the other.
      const messages = pool(2, this.#options.sendsInFlightMax)
      const calls = pool(this.#options.sendsInFlightMax + 4, 1)
      this.#peers.set(id, { id, endpoint, messages, calls, queued: [], inFlight: 0, held: null, lastErrorLogMs: -Infinity })
    }
  }

  endpoint(id: number): PeerEndpoint | undefined {
    return this.#peers.get(id)?.endpoint
  }

  /** Sets where consensus messages that come back on answers go. */
  setReceiver(receiver: Receiver): void {
    this.#receiver = receiver
  }

  /**
   * Queues consensus messages for a peer; they leave together at the next
   * flush(), or at the end of this turn of the event loop.
   */
  send(to: number, message: unknown): void {
    const peer = this.#peers.get(to)
    if (peer === undefined || this.#isClosed) return
    peer.queued.push(message)
    if (peer.queued.length > this.#options.queuedMessagesMax) peer.queued.splice(0, peer.queued.length - this.#options.queuedMessagesMax)
    this.#scheduleFlush()
  }

  /**
   * Sends the queued messages now. The end of the turn comes late for a
   * replica whose messages are made in the check phase (after I/O, where its
   * loop runs): an immediate scheduled there waits out the next turn's I/O,
   * every client request ready by then, before it runs.
   */
  flush(): void {
    for (const peer of this.#peers.values()) this.#flush(peer)
  }

  /**
   * Takes over the answer to a consensus request from `from` (the peer
   * server's): the next messages for that peer leave in it, or it is sent
   * empty after `answerHoldMs`.
   */
  hold(from: number, answer: Answer): void {
    const peer = this.#peers.get(from)
    if (peer === undefined || this.#isClosed) {
      answer(null)
      return
    }
    // The newest is held longest; an older one would only keep a slot of the peer's taken.
    releaseHeld(peer)
    peer.held = { answer, heldSinceMs: performance.now() }
    if (peer.queued.length > 0) this.#scheduleFlush()
    this.#releaseTimer ??= this.#armRelease(this.#options.answerHoldMs)
  }

  /** Calls `method` on a peer; rejects with the peer's HerdError, or ConnectionLoss when it cannot be reached. */
  async call(to: number, method: string, args: unknown, timeoutMs = this.#options.timeoutMs): Promise<unknown> {
    const peer = this.#peers.get(to)
    if (peer === undefined) throw new HerdError('ConnectionLoss', `replica ${to} is not a known peer`)
    let response: Exchanged
    const body = encodeValue(args)
    // headersTimeout runs from when the request is written: the abort also
    // bounds the wait for a free connection, which calls held by a peer that
    // went silent can keep busy for their whole timeout each. A timer of our
    // own in real time (not the replica's clock, which a failpoint may skew),
    // cancelled once answered: AbortSignal.timeout's fired, and built an
    // exception, for every call.
    try {
      response = await exchange(peer.calls, { method: 'POST', path: `/call/${method}`, headers: this.#headers(to, body), body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, timeoutMs)
    } catch (error) {
      throw new HerdError('ConnectionLoss', `replica ${to} did not answer ${method}: ${(error as Error).message}`)
    }
    const answer = response.body
    if (response.statusCode === 200) {
      if (response.checksum !== bodyChecksum(answer)) {
        throw new HerdError('ConnectionLoss', `replica ${to} answered ${method} with bytes that fail their checksum`)
      }
      try {
        return decodeValue(answer)
      } catch (error) {
        throw new HerdError('ConnectionLoss', `replica ${to} answered ${method} with malformed bytes: ${(error as Error).message}`)
      }
    }
    throw remoteError(to, method, response.statusCode, answer)
  }

  async close(): Promise<void> {
    this.#isClosed = true
    if (this.#releaseTimer !== null) clearTimeout(this.#releaseTimer)
    for (const peer of this.#peers.values()) releaseHeld(peer)
    await Promise.all([...this.#peers.values()].map((peer) => Promise.all([peer.messages.destroy(), peer.calls.destroy()]).catch(() => undefined)))
    this.#peers.clear()
  }

  #scheduleFlush(): void {
    if (this.#isFlushScheduled) return
    this.#isFlushScheduled = true
    setImmediate(() => {
      this.#isFlushScheduled = false
      this.flush()
    })
  }

  /** Sends a peer's queued messages: in the answer held for it, else in a request if one may be in flight. */
  #flush(peer: Peer): void {
    if (peer.queued.length === 0 || this.#isClosed) return
    if (peer.held === null && peer.inFlight >= this.#options.sendsInFlightMax) return
    const messages = peer.queued
    peer.queued = []
    let body: Uint8Array
    try {
      body = encodeValue(messages, 1024)
    } catch (error) {
      this.#options.log.error(`cannot encode messages for replica ${peer.id}: ${(error as Error).message}`)
      return
    }
    const held = peer.held
    peer.held = null
    if (held?.answer(body) === true) return
    if (peer.inFlight >= this.#options.sendsInFlightMax) {
      // The held answer's connection had gone: wait for a request's turn.
      peer.queued = messages
      return
    }
    peer.inFlight++
    // Not blocking: the next request may follow this one before its answer comes.
    exchange(peer.messages, { method: 'POST', path: '/raft', headers: this.#headers(peer.id, body), body, idempotent: true, blocking: false }, null)
      .then((response) => {
        const answer = response.body
        if (response.statusCode === 200) this.#receiveAnswer(peer, response.checksum, answer)
        else if (response.statusCode !== 204) this.#logFailure(peer, `status ${response.statusCode} ${new TextDecoder().decode(answer.subarray(0, 200))}`)
      })
      .catch((error: unknown) => this.#logFailure(peer, (error as Error).message))
      .finally(() => {
        peer.inFlight--
        if (this.#peers.get(peer.id) === peer) this.#flush(peer)
      })
  }

  /** Consensus messages a peer sent back on the answer to a request: checked as the peer server checks a request's. */
  #receiveAnswer(peer: Peer, checksum: string | string[] | undefined, body: Uint8Array): void {
    if (checksum !== bodyChecksum(body)) return this.#logFailure(peer, 'an answer failed its checksum')
    if (this.#receiver === null || this.#peers.get(peer.id) !== peer) return
    try {
      this.#receiver(peer.id, decodeValue(body))
    } catch (error) {
      // Malformed or misaddressed: dropped as a request's would be refused.
      this.#logFailure(peer, `a malformed answer: ${(error as Error).message}`)
    }
  }

  /** Sends empty the answers held longer than `answerHoldMs`; runs while any is held. */
  #armRelease(afterMs: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.#releaseTimer = null
      const nowMs = performance.now()
      let nextMs = Infinity
      for (const peer of this.#peers.values()) {
        const held = peer.held
        if (held === null) continue
        const dueInMs = held.heldSinceMs + this.#options.answerHoldMs - nowMs
        if (dueInMs > 0) nextMs = Math.min(nextMs, dueInMs)
        else releaseHeld(peer)
      }
      if (nextMs !== Infinity && !this.#isClosed) this.#releaseTimer = this.#armRelease(Math.max(1, nextMs))
    }, afterMs)
    timer.unref()
    return timer
  }

  #headers(to: number, body: Uint8Array): Record<string, string> {
    return {
      [peerHeaders.secret]: this.#options.secret,
      [peerHeaders.from]: String(this.#options.selfId),
      [peerHeaders.to]: String(to),
      [peerHeaders.checksum]: bodyChecksum(body),
      'content-type': 'application/octet-stream',
    }
  }

  #logFailure(peer: Peer, reason: string): void {
    const nowMs = this.#options.clock.nowMs()
    if (nowMs - peer.lastErrorLogMs < 1000) return
    peer.lastErrorLogMs = nowMs
    this.#options.log.warn(`messages to replica ${peer.id} at ${peer.endpoint.host}:${peer.endpoint.port} were lost: ${reason}`)
  }
}

/** An answer, whole. */
interface Exchanged {
  readonly statusCode: number
  /** Its checksum header. */
  readonly checksum: string | undefined
  readonly body: Uint8Array
}

const emptyAnswer = new Uint8Array(0)

/**
 * One request on a pool, through undici's dispatch API: the answer is
 * gathered whole, without the Readable stream and promises `request` makes
 * for each (measured: test/bench/peer-port.ts). With `timeoutMs`, the
 * promise rejects once it passes, whether the request was written yet or
 * still waits for a connection (and is then aborted when it gets one).
 */
function exchange(pool: Pool, options: Dispatcher.DispatchOptions, timeoutMs: number | null): Promise<Exchanged> {
  return new Promise<Exchanged>((resolve, reject) => {
    let statusCode = 0
    let checksum: string | undefined
    const chunks: Buffer[] = []
    let controller: Dispatcher.DispatchController | null = null
    let isSettled = false
    let timer: ReturnType<typeof setTimeout> | null = null
    const settle = (error: Error | null, answer?: Exchanged): void => {
      if (isSettled) return
      isSettled = true
      if (timer !== null) clearTimeout(timer)
      if (error === null) resolve(answer as Exchanged)
      else reject(error)
    }
    if (timeoutMs !== null) {
      // A timer of our own in real time (not the replica's clock, which a
      // failpoint may skew), cancelled once answered.
      timer = setTimeout(() => {
        const error = new Error(`no answer within ${timeoutMs} ms`)
        controller?.abort(error)
        settle(error)
      }, timeoutMs)
      timer.unref()
    }
    pool.dispatch(options, {
      onRequestStart(started) {
        controller = started
        if (isSettled) started.abort(new Error('timed out waiting for a connection'))
      },
      onResponseStart(_controller, status, headers) {
        statusCode = status
        const value = headers[peerHeaders.checksum]
        checksum = typeof value === 'string' ? value : undefined
      },
      onResponseData(_controller, chunk) {
        chunks.push(chunk)
      },
      onResponseEnd() {
        settle(null, { statusCode, checksum, body: chunks.length === 0 ? emptyAnswer : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) })
      },
      onResponseError(_controller, error) {
        settle(error)
      },
    })
  })
}

function closePools(peer: Peer): Promise<unknown> {
  return Promise.all([peer.messages.close(), peer.calls.close()])
}

/** Sends the held answer, if any, empty. */
function releaseHeld(peer: Peer): void {
  peer.held?.answer(null)
  peer.held = null
}

function remoteError(to: number, method: string, status: number, body: Uint8Array): HerdError {
  try {
    const problem = JSON.parse(new TextDecoder().decode(body)) as { code?: unknown; detail?: unknown }
    if (typeof problem.code === 'string' && isErrorCode(problem.code)) {
      return new HerdError(problem.code, typeof problem.detail === 'string' ? problem.detail : `replica ${to} refused ${method}`)
    }
  } catch {
    // not a problem body: described below
  }
  return new HerdError('ConnectionLoss', `replica ${to} answered ${method} with status ${status}`)
}

export { bodyBytesMax as peerBodyBytesMax }
