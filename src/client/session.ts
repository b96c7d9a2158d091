// A session, as a ZooKeeper client keeps one: opened with a requested
// timeout (the server negotiates it), kept alive by heartbeats sent by
// itself at a third of the negotiated timeout (ZooKeeper's client pings after
// a third of it too), and ended by close() or by expiry. Expiry is learnt
// from the server, never guessed: a heartbeat or a session write answered
// 410 SessionExpired (or 401, a secret it no longer knows) ends the session
// and calls onExpired once. A heartbeat that meets a lost connection is tried
// again sooner, on the next replica when there are several.
//
// Writes made through the session carry Herd-Session and Herd-Session-Secret,
// so ephemeral znodes are owned by it and a write fails with SessionExpired
// once it is gone.
import { HerdClientError } from './client-error.ts'
import type { CreateOptions, HerdClient, WriteOptions } from './herd-client.ts'
import { withQuery } from './target.ts'
import { Transaction } from './transaction.ts'
import type { Transport } from './transport.ts'
import type { AclEntry, ClosedSession, Data, DeleteResult, Ephemerals, MultiOp, MultiResponse, NewSession, WriteResult } from './types.ts'

export type SessionState = 'open' | 'closed' | 'expired'

export type SessionWriteOptions = Omit<WriteOptions, 'session'>
export type SessionCreateOptions = Omit<CreateOptions, 'session'>

/** What HerdClient.openSession hands a new session; not for users. */
export interface SessionInit {
  readonly client: HerdClient
  readonly transport: Transport
  readonly opened: NewSession
  readonly onExpired: ((error: HerdClientError) => void) | undefined
  /** Tells the client the session has ended (closed or expired), so its close() need not close it. */
  readonly onEnded: (session: HerdSession) => void
}

/** The shortest pause between heartbeats, whatever the timeout. */
const heartbeatIntervalMinMs = 10

export class HerdSession {
  /** The session id (the zxid of its creation). */
  readonly id: number
  /** The negotiated timeout: the session expires this long after the server last heard from it. */
  readonly timeoutMs: number
  /** The session's password; sent as Herd-Session-Secret. */
  readonly secret: string
  /** The client the session's calls go through. */
  readonly client: HerdClient
  readonly #transport: Transport
  readonly #onExpired: ((error: HerdClientError) => void) | undefined
  readonly #onEnded: (session: HerdSession) => void
  #state: SessionState = 'open'
  #timer: ReturnType<typeof setTimeout> | null = null

  constructor(init: SessionInit) {
    this.id = init.opened.id
    this.timeoutMs = init.opened.timeoutMs
    this.secret = init.opened.secret
    this.client = init.client
    this.#transport = init.transport
    this.#onExpired = init.onExpired
    this.#onEnded = init.onEnded
    this.#schedule(this.#heartbeatIntervalMs)
  }

  get state(): SessionState {
    return this.#state
  }

  /** The headers that name this session on a request. */
  get headers(): Readonly<Record<string, string>> {
    return { 'herd-session': String(this.id), 'herd-session-secret': this.secret }
  }

  create(path: string, data: Data = '', options: SessionCreateOptions = {}): Promise<WriteResult> {
    return this.#guard(this.client.create(path, data, { ...options, session: this }))
  }

  put(path: string, data: Data, options: SessionWriteOptions = {}): Promise<WriteResult> {
    return this.#guard(this.client.put(path, data, { ...options, session: this }))
  }

  setData(path: string, data: Data, version = -1, options: SessionWriteOptions = {}): Promise<WriteResult> {
    return this.#guard(this.client.setData(path, data, version, { ...options, session: this }))
  }

  delete(path: string, version = -1, options: SessionWriteOptions = {}): Promise<DeleteResult> {
    return this.#guard(this.client.delete(path, version, { ...options, session: this }))
  }

  setAcl(path: string, acl: readonly AclEntry[], version = -1, options: SessionWriteOptions = {}): Promise<WriteResult> {
    return this.#guard(this.client.setAcl(path, acl, version, { ...options, session: this }))
  }

  multi(ops: readonly MultiOp[], options: SessionWriteOptions = {}): Promise<MultiResponse> {
    return this.#guard(this.client.multi(ops, { ...options, session: this }))
  }

  /** A transaction made in this session (its ephemeral creates belong to it). */
  transaction(): Transaction<SessionWriteOptions> {
    return new Transaction((ops, options) => this.multi(ops, options))
  }

  /** The session's ephemeral znodes, sorted (ZooKeeper's getEphemerals). */
  async getEphemerals(prefix = '/', options: { readonly signal?: AbortSignal } = {}): Promise<string[]> {
    const reply = await this.#guard(
      this.#transport.json<Ephemerals>({
        method: 'GET',
        target: withQuery(`/sessions/${this.id}/ephemerals`, prefix === '/' ? [] : [['prefix', prefix]]),
        headers: { 'herd-session-secret': this.secret },
        isIdempotent: true,
        takesMinZxid: true,
        signal: options.signal,
      }),
    )
    return reply.body.paths
  }

  /** Renews the lease now (the session also does so by itself). */
  async heartbeat(): Promise<void> {
    await this.#guard(
      this.#transport.json({
        method: 'POST',
        target: `/sessions/${this.id}/heartbeat`,
        headers: { 'herd-session-secret': this.secret },
        isIdempotent: true,
        takesMinZxid: false,
        // A heartbeat slower than the interval is as good as lost.
        timeoutMs: this.#heartbeatIntervalMs,
      }),
    )
  }

  /**
   * Ends the session now, deleting its ephemeral znodes at once. Resolves
   * with what was deleted, or null when the session had already ended.
   */
  async close(): Promise<ClosedSession | null> {
    if (this.#state !== 'open') return null
    this.#end('closed')
    try {
      const reply = await this.#transport.json<ClosedSession>({
        method: 'POST',
        target: `/sessions/${this.id}/close`,
        headers: { 'herd-session-secret': this.secret },
        isIdempotent: true,
        takesMinZxid: false,
      })
      return reply.body
    } catch (error) {
      if (error instanceof HerdClientError && error.code === 'SessionExpired') return null
      throw error
    }
  }

  /** Stops heartbeating without telling the server (the session expires after its timeout). */
  abandon(): void {
    if (this.#state === 'open') this.#end('closed')
  }

  get #heartbeatIntervalMs(): number {
    return Math.max(heartbeatIntervalMinMs, Math.floor(this.timeoutMs / 3))
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => void this.#beat(), delayMs)
    // An open session does not by itself keep the process alive (its calls and watches do).
    this.#timer.unref()
  }

  async #beat(): Promise<void> {
    this.#timer = null
    if (this.#state !== 'open') return
    try {
      await this.heartbeat()
      if (this.#state === 'open') this.#schedule(this.#heartbeatIntervalMs)
    } catch {
      // Expiry was handled by #guard; anything else (a lost connection, a
      // timeout) is worth another try before the timeout runs out.
      if (this.#state === 'open') this.#schedule(Math.max(heartbeatIntervalMinMs, Math.floor(this.timeoutMs / 6)))
    }
  }

  /** Passes a call's result through, ending the session when the server says it is gone. */
  async #guard<T>(call: Promise<T>): Promise<T> {
    try {
      return await call
    } catch (error) {
      const isGone = error instanceof HerdClientError && (error.code === 'SessionExpired' || error.code === 'AuthFailed')
      if (isGone && this.#state === 'open') {
        this.#end('expired')
        const onExpired = this.#onExpired
        // Called outside this call's promise chain, so a throwing callback surfaces instead of vanishing.
        if (onExpired !== undefined) queueMicrotask(() => onExpired(error))
      }
      throw error
    }
  }

  #end(state: 'closed' | 'expired'): void {
    this.#state = state
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#onEnded(this)
  }
}
