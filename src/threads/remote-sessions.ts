// Sessions on a serving thread: secrets are checked against this thread's
// copy of the session table; leases live on the main thread, so heartbeats,
// opening and closing are passed there. A new or closed session is answered
// only once this thread has applied its entry, so the client can use (or
// no longer use) it on the very next request here.
import { HerdError, isErrorCode } from '../errors.ts'
import type { MirrorReplica } from '../replication/index.ts'
import { authenticateIn, type NewSession, type SessionsHandle } from '../sessions/index.ts'
import type { CallFailedMessage, CallMessage, ReplyMessage, SessionMethod } from './protocol.ts'

interface Waiting {
  resolve(value: unknown): void
  reject(error: unknown): void
}

export class RemoteSessions implements SessionsHandle {
  readonly #mirror: MirrorReplica
  readonly #send: (message: CallMessage) => void
  readonly #readWaitMs: number
  readonly #waiting = new Map<number, Waiting>()
  #nextId = 1

  constructor(mirror: MirrorReplica, send: (message: CallMessage) => void, readWaitMs: number) {
    this.#mirror = mirror
    this.#send = send
    this.#readWaitMs = readWaitMs
  }

  authenticate(sessionId: number, secret: string): { readonly timeoutMs: number } {
    // A leader's mirror knows the commit point (a session past it does not exist); a follower's cannot tell.
    return authenticateIn(this.#mirror.tree, sessionId, secret, () => {
      const status = this.#mirror.status()
      return status.role === 'leader' ? status.commitZxid : Infinity
    })
  }

  async heartbeat(sessionId: number, secret: string): Promise<{ readonly timeoutMs: number }> {
    return (await this.#call('heartbeat', sessionId, secret, undefined)) as { timeoutMs: number }
  }

  async create(requestedTimeoutMs: number | undefined): Promise<NewSession> {
    const session = (await this.#call('createSession', 0, '', requestedTimeoutMs)) as NewSession
    await this.#mirror.waitForApplied(session.zxid, this.#readWaitMs)
    return session
  }

  async close(sessionId: number, secret: string): Promise<{ readonly zxid: number; readonly deleted: readonly string[] }> {
    const closed = (await this.#call('closeSession', sessionId, secret, undefined)) as { zxid: number; deleted: string[] }
    await this.#mirror.waitForApplied(closed.zxid, this.#readWaitMs)
    return closed
  }

  /** A question for the Replica on the main thread (cluster status, sync), over the same channel. */
  ask(method: 'clusterStatus' | 'sync' | 'membership', timeoutMs: number, args?: unknown): Promise<unknown> {
    return this.#call(method, 0, '', timeoutMs, args)
  }

  /** An answer from the main thread. */
  receive(message: ReplyMessage | CallFailedMessage): void {
    const waiting = this.#waiting.get(message.id)
    if (waiting === undefined) return
    this.#waiting.delete(message.id)
    if (message.t === 'reply') waiting.resolve(message.value)
    else waiting.reject(new HerdError(isErrorCode(message.code) ? message.code : 'SystemError', message.detail))
  }

  /** The thread is stopping: every call still waiting fails. */
  shutdown(): void {
    const closing = new HerdError('ConnectionLoss', 'the serving thread is shutting down')
    for (const waiting of this.#waiting.values()) waiting.reject(closing)
    this.#waiting.clear()
  }

  #call(method: SessionMethod, sessionId: number, secret: string, timeoutMs: number | undefined, args?: unknown): Promise<unknown> {
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject })
      this.#send({ t: 'call', id, method, sessionId, secret, timeoutMs, args })
    })
  }
}
