// The wire under HerdClient: one undici Pool per replica URL for requests
// (keep-alive, bounded connections) and a second one for watch streams, so
// that long-lived watches can never take every connection from short calls.
//
// It does three things once, for every call:
//   * translates failures into HerdClientError (client-error.ts);
//   * tracks the highest zxid seen (Herd-Zxid on every answer) and, on a read
//     sent to a replica that has not yet shown the client that zxid, adds
//     `minZxid` so the read waits for it: read-your-writes across replicas, as
//     ZooKeeper's client sends its last zxid when it reconnects elsewhere;
//   * fails over: a lost connection moves the client to the next URL, and a
//     call is sent there again only when that cannot do it twice (a read, a
//     heartbeat, or a request that never left this machine).
import { Pool, type Dispatcher } from 'undici'
import { errorFromNetwork, errorFromResponse, HerdClientError, wasNeverSent } from './client-error.ts'

export interface TransportOptions {
  readonly urls: readonly string[]
  readonly timeoutMs: number
  readonly connectionsPerUrlMax: number
  readonly watchStreamsPerUrlMax: number
}

/** What is drained after a watch's event before the connection is given up instead of reused. */
const streamDrainBytesMax = 64 * 1024

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE'

export interface Call {
  readonly method: Method
  /** Path and query, already percent-encoded. */
  readonly target: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string | Uint8Array
  /** Safe to send again on another replica after a lost connection. */
  readonly isIdempotent: boolean
  /** The route takes `minZxid` (reads): add it when this replica may be behind what the client has seen. */
  readonly takesMinZxid: boolean
  readonly signal?: AbortSignal | undefined
  /** Overrides the client's timeout for this call. */
  readonly timeoutMs?: number
}

export type ResponseHeaders = Dispatcher.ResponseData['headers']

export interface Reply<T> {
  readonly status: number
  readonly headers: ResponseHeaders
  readonly body: T
  /** The zxid the replica had applied when it answered (Herd-Zxid). */
  readonly zxid: number
}

interface Replica {
  readonly origin: string
  /** The URL's path, for a replica served under a prefix (e.g. behind a proxy); '' at the root. */
  readonly basePath: string
  readonly requests: Pool
  readonly streams: Pool
  /** The highest zxid this replica has shown the client: no minZxid is needed up to it. */
  zxidSeen: number
}

export class Transport {
  readonly #options: TransportOptions
  readonly #replicas: readonly Replica[]
  #current = 0
  #zxidSeen = 0
  #isClosed = false

  constructor(options: TransportOptions) {
    if (options.urls.length === 0) throw new TypeError('HerdClient needs at least one url')
    this.#options = options
    this.#replicas = options.urls.map((url) => {
      const parsed = new URL(url)
      const origin = parsed.origin
      const basePath = parsed.pathname.replace(/\/+$/, '')
      const common = { connectTimeout: options.timeoutMs, keepAliveTimeout: 30_000 }
      return {
        origin,
        basePath,
        requests: new Pool(origin, { ...common, connections: options.connectionsPerUrlMax }),
        streams: new Pool(origin, { ...common, connections: options.watchStreamsPerUrlMax }),
        zxidSeen: 0,
      }
    })
  }

  /** The highest zxid any replica has reported to this client. */
  get zxidSeen(): number {
    return this.#zxidSeen
  }

  /** The URL calls go to now. */
  get currentUrl(): string {
    const replica = this.#replicas[this.#current] as Replica
    return replica.origin + replica.basePath
  }

  get replicaCount(): number {
    return this.#replicas.length
  }

  /** A call answered with JSON (or nothing); a non-2xx answer throws. */
  async json<T>(call: Call): Promise<Reply<T>> {
    return this.#send(call, async (response) => {
      const text = await response.body.text()
      if (text === '') return undefined as T
      try {
        // The one place the client trusts the contract: the body is the documented shape.
        return JSON.parse(text) as T
      } catch (error) {
        throw new HerdClientError({ code: 'MarshallingError', status: response.statusCode, detail: `${call.target}: the answer is not JSON`, cause: error })
      }
    })
  }

  /** A call answered with raw bytes; a non-2xx answer throws. */
  async bytes(call: Call): Promise<Reply<Uint8Array>> {
    return this.#send(call, async (response) => new Uint8Array(await response.body.arrayBuffer()))
  }

  /**
   * A long-lived response (a watch stream) on the streams pool of the current
   * replica: `read` consumes the body, then the rest is drained so the
   * connection is reused. A non-2xx answer throws. Never sent again here:
   * the caller knows from which zxid to re-arm.
   */
  async stream<T>(call: Call, read: (body: AsyncIterable<Uint8Array>, zxid: number) => Promise<T>): Promise<Reply<T>> {
    const replica = this.#replica()
    try {
      const response = await replica.streams.request(this.#requestOptions(call, replica, { bodyTimeout: 0 }))
      const zxid = this.#note(replica, response.headers)
      if (response.statusCode < 200 || response.statusCode >= 300) throw await this.#failure(response, zxid)
      try {
        const body = await read(response.body, zxid)
        await response.body.dump({ limit: streamDrainBytesMax })
        return { status: response.statusCode, headers: response.headers, body, zxid }
      } finally {
        if (!response.body.destroyed) response.body.destroy()
      }
    } catch (error) {
      throw this.#translate(error, call, replica)
    }
  }

  /** Moves later calls to the next URL (after the current replica was lost). */
  failover(): void {
    this.#current = (this.#current + 1) % this.#replicas.length
  }

  /** Graceful: no new calls; resolves when the calls in flight have finished. */
  async close(): Promise<void> {
    this.#isClosed = true
    await Promise.all(this.#replicas.flatMap((replica) => [replica.requests.close(), replica.streams.close()]))
  }

  /** At once: calls in flight fail with ConnectionLoss. */
  async destroy(): Promise<void> {
    this.#isClosed = true
    await Promise.all(this.#replicas.flatMap((replica) => [replica.requests.destroy(), replica.streams.destroy()]))
  }

  async #send<T>(call: Call, read: (response: Dispatcher.ResponseData) => Promise<T>): Promise<Reply<T>> {
    for (let attempt = 1; ; attempt++) {
      const replica = this.#replica()
      try {
        const response = await replica.requests.request(this.#requestOptions(call, replica, {}))
        const zxid = this.#note(replica, response.headers)
        if (response.statusCode >= 200 && response.statusCode < 300) {
          return { status: response.statusCode, headers: response.headers, body: await read(response), zxid }
        }
        throw await this.#failure(response, zxid)
      } catch (error) {
        const failure = this.#translate(error, call, replica)
        const isLost = failure instanceof HerdClientError && failure.code === 'ConnectionLoss'
        if (!isLost || attempt >= this.#replicas.length) throw failure
        // Another replica may answer; send the call there only if that cannot do it twice.
        if (!call.isIdempotent && !wasNeverSent(failure)) throw failure
      }
    }
  }

  #replica(): Replica {
    if (this.#isClosed) throw new HerdClientError({ code: 'ConnectionLoss', detail: 'the client is closed' })
    return this.#replicas[this.#current] as Replica
  }

  #requestOptions(call: Call, replica: Replica, extra: { bodyTimeout?: number }): Dispatcher.RequestOptions {
    const timeoutMs = call.timeoutMs ?? this.#options.timeoutMs
    let target = replica.basePath + call.target
    if (call.takesMinZxid && this.#zxidSeen > replica.zxidSeen) {
      target += `${target.includes('?') ? '&' : '?'}minZxid=${this.#zxidSeen}`
    }
    return {
      method: call.method,
      path: target,
      headers: call.headers ?? {},
      body: call.body ?? null,
      signal: call.signal ?? null,
      headersTimeout: timeoutMs,
      bodyTimeout: extra.bodyTimeout ?? timeoutMs,
    }
  }

  /** Records the replica's Herd-Zxid; returns it (0 when absent). */
  #note(replica: Replica, headers: ResponseHeaders): number {
    const value = headers['herd-zxid']
    const zxid = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : 0
    if (zxid > replica.zxidSeen) replica.zxidSeen = zxid
    if (zxid > this.#zxidSeen) this.#zxidSeen = zxid
    return zxid
  }

  async #failure(response: Dispatcher.ResponseData, zxid: number): Promise<HerdClientError> {
    let body: unknown
    try {
      body = JSON.parse(await response.body.text())
    } catch {
      body = undefined
    }
    const retryAfter = response.headers['retry-after']
    return errorFromResponse(response.statusCode, body, zxid || undefined, typeof retryAfter === 'string' ? retryAfter : undefined)
  }

  /** The error to throw; a lost connection moves later calls to the next replica. */
  #translate(error: unknown, call: Call, replica: Replica): unknown {
    // An aborted call rejects with the signal's reason, untouched, as fetch does.
    if (call.signal?.aborted === true) return call.signal.reason
    const failure = errorFromNetwork(error, replica.origin)
    const isLost = failure instanceof HerdClientError && failure.code === 'ConnectionLoss'
    if (isLost && this.#replicas[this.#current] === replica && !this.#isClosed) this.failover()
    return failure
  }
}
