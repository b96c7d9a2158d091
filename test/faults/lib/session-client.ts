// W5 (RELIABILITY.md): session clients. Each opens a session, creates an
// ephemeral znode, and heartbeats every third of its timeout through any
// live replica, recording every heartbeat's invoke time and answer. A
// nemesis may pause one (it stops heartbeating, as a SIGSTOPped client
// would) and resume it. The checks:
//
// - no false expiry: a session seen expired (410) less than its timeout
//   after the invocation of a heartbeat that succeeded was expired early
//   (the leader cannot have missed heartbeats for a whole timeout);
// - a paused client's ephemeral is gone within timeout + heartbeat + slack
//   of its last successful heartbeat, and the resumed client learns that
//   its session expired;
// - at the end, a session the client still holds has its ephemeral, and a
//   session seen expired has none.
import { sleep } from './znode-reads.ts'

const sessionExpiredStatus = 410

export interface SessionWorkload {
  readonly root: string
  readonly timeoutMs: number
  readonly requestTimeoutMs: number
  /** Bad clocks may expire a session early (F14): then an early expiry is not a failure. */
  readonly isEarlyExpiryAllowed?: boolean
}

interface Session {
  readonly id: number
  readonly secret: string
}

export class SessionClient {
  readonly failures: string[] = []
  /** Heartbeats a replica acknowledged: a run with none tested nothing. */
  okHeartbeats = 0
  #session: Session | null = null
  #ephemeral: string | null = null
  /** Invocation time of the newest heartbeat that succeeded (or of the session's creation). */
  #lastOkInvokeMs = 0
  #isPaused = false
  #lastStatus: number | null = null
  #expiredSeenMs: number | null = null
  #pausedAtMs: number | null = null
  /** Ephemerals of sessions seen expired: must be gone. */
  readonly #expiredEphemerals: string[] = []
  readonly #name: string
  readonly #workload: SessionWorkload
  readonly #targets: () => readonly string[]

  constructor(name: string, workload: SessionWorkload, targets: () => readonly string[]) {
    this.#name = name
    this.#workload = workload
    this.#targets = targets
  }

  get isPaused(): boolean {
    return this.#isPaused
  }

  /** Heartbeats (and opens sessions) until `isDone()`. */
  async run(isDone: () => boolean): Promise<void> {
    for (let n = 0; !isDone(); n++) {
      const urls = this.#targets()
      const url = urls[n % Math.max(1, urls.length)]
      let isAnswered = true
      if (!this.#isPaused && url !== undefined) {
        if (this.#session === null) await this.#open(url, n)
        else isAnswered = await this.#heartbeat(url)
      }
      // A heartbeat that got no answer is sent again soon (elsewhere, if there is an elsewhere), as a real client would.
      await sleep(isAnswered ? this.#workload.timeoutMs / 3 : 200)
    }
  }

  /** Stops heartbeating, as a paused client process would; answers the session's last successful heartbeat's invocation time. */
  pause(): { readonly ephemeral: string | null; readonly lastOkInvokeMs: number } {
    this.#isPaused = true
    this.#pausedAtMs = performance.now()
    return { ephemeral: this.#session === null ? null : this.#ephemeral, lastOkInvokeMs: this.#lastOkInvokeMs }
  }

  resume(): void {
    this.#isPaused = false
  }

  /**
   * The client process dies and starts again: its session is dropped
   * without closing (nobody heartbeats it any more) and the next round opens
   * a new one. Answers the old session's ephemeral and last successful
   * heartbeat, so the caller can time the ephemeral's end.
   */
  crash(): { readonly ephemeral: string | null; readonly lastOkInvokeMs: number } {
    const crashed = { ephemeral: this.#session === null ? null : this.#ephemeral, lastOkInvokeMs: this.#lastOkInvokeMs }
    if (crashed.ephemeral !== null) this.#expiredEphemerals.push(crashed.ephemeral)
    this.#session = null
    this.#ephemeral = null
    return crashed
  }

  /** Whether the resumed client learned its session had expired since the pause. */
  sawExpiryAfterPause(): boolean {
    return this.#pausedAtMs !== null && this.#expiredSeenMs !== null && this.#expiredSeenMs >= this.#pausedAtMs
  }

  /** The final check against a healed cluster (at `url`, read linearizably). */
  async finalCheck(url: string): Promise<void> {
    if (this.#session !== null && this.#ephemeral !== null) {
      // Still held: the session must be alive (one more heartbeat says so) and its ephemeral there.
      const status = await this.#heartbeatStatus(url, this.#session)
      if (status === 200 && !(await exists(url, this.#ephemeral))) this.failures.push(`${this.#name}: session ${this.#session.id} is alive but its ephemeral ${this.#ephemeral} is gone`)
      if (status === sessionExpiredStatus) this.#expired(this.#ephemeral)
    }
    for (const path of this.#expiredEphemerals) {
      if (await exists(url, path)) this.failures.push(`${this.#name}: ${path} outlived its expired session`)
    }
  }

  async #open(url: string, n: number): Promise<void> {
    const invokeMs = performance.now()
    try {
      const opened = await fetch(`${url}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ timeoutMs: this.#workload.timeoutMs }), signal: AbortSignal.timeout(this.#workload.requestTimeoutMs) })
      if (opened.status !== 201) {
        await opened.arrayBuffer()
        return
      }
      const session = (await opened.json()) as Session
      const path = `${this.#workload.root}/${this.#name}-${n}`
      const created = await fetch(`${url}/znodes${path}?ephemeral`, {
        method: 'PUT',
        headers: { 'herd-session': String(session.id), 'herd-session-secret': session.secret },
        body: this.#name,
        signal: AbortSignal.timeout(this.#workload.requestTimeoutMs),
      })
      await created.arrayBuffer()
      // An ephemeral whose create has an unknown outcome would make the final check ambiguous: drop the session's ephemeral claim then.
      this.#session = session
      this.#ephemeral = created.status === 201 ? path : null
      this.#lastOkInvokeMs = invokeMs
    } catch {
      // A session whose creation has an unknown outcome is abandoned; it expires on its own.
    }
  }

  /** The client's state, for failure messages. */
  describe(): string {
    const at = (ms: number | null): string => (ms === null ? 'never' : `${ms.toFixed(0)} ms`)
    return `session ${this.#session?.id ?? 'none'}, last heartbeat answer ${this.#lastStatus ?? 'none'}, paused at ${at(this.#pausedAtMs)}, expiry seen at ${at(this.#expiredSeenMs)}, now ${performance.now().toFixed(0)} ms`
  }

  /** When the client last learned that its session had expired, or null. */
  get expiredSeenMs(): number | null {
    return this.#expiredSeenMs
  }

  /** Heartbeats once; answers whether a replica answered at all. */
  async #heartbeat(url: string): Promise<boolean> {
    const session = this.#session as Session
    const invokeMs = performance.now()
    const status = await this.#heartbeatStatus(url, session, Math.floor(this.#workload.timeoutMs / 3))
    this.#lastStatus = status
    if (status === 200) {
      this.okHeartbeats++
      this.#lastOkInvokeMs = invokeMs
    } else if (status === sessionExpiredStatus) {
      const nowMs = performance.now()
      const sinceOkMs = nowMs - this.#lastOkInvokeMs
      if (sinceOkMs < this.#workload.timeoutMs && this.#workload.isEarlyExpiryAllowed !== true) {
        this.failures.push(`${this.#name}: session ${session.id} expired ${sinceOkMs.toFixed(0)} ms after a heartbeat that succeeded (timeout ${this.#workload.timeoutMs} ms)`)
      }
      this.#expired(this.#ephemeral)
    }
    return status !== null && status < 500
  }

  #expired(ephemeral: string | null): void {
    this.#expiredSeenMs = performance.now()
    if (ephemeral !== null) this.#expiredEphemerals.push(ephemeral)
    this.#session = null
    this.#ephemeral = null
  }

  async #heartbeatStatus(url: string, session: Session, timeoutMs = this.#workload.requestTimeoutMs): Promise<number | null> {
    try {
      const response = await fetch(`${url}/sessions/${session.id}/heartbeat`, { method: 'POST', headers: { 'herd-session-secret': session.secret }, signal: AbortSignal.timeout(timeoutMs) })
      await response.arrayBuffer()
      return response.status
    } catch {
      return null
    }
  }
}

/** Whether `path` exists, read linearizably at `url`. */
export async function exists(url: string, path: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(`${url}/znodes${path}?stat&linearizable`, { signal: AbortSignal.timeout(5000) })
      await response.arrayBuffer()
      if (response.status === 200) return true
      if (response.status === 404) return false
    } catch {
      // retried below
    }
    if (attempt >= 10) throw new Error(`could not read ${path} at ${url}`)
    await sleep(200)
  }
}

