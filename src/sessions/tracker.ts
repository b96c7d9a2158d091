// Session liveness, the leader's business (DESIGN.md, decision 6). The
// session table itself (ids, timeouts, secret hashes, ephemerals) is tree
// state, replicated by the log; what lives here is only the lease: when each
// session last heard from its client, by this replica's monotonic clock.
//
// Expiry is a log entry: when a lease runs out, the leader proposes
// closeSession(isExpiry), and the ephemerals go when that entry is applied,
// at one zxid on every replica. On becoming leader (on a single replica: on
// start) every live session gets a fresh full timeout, as ZooKeeper's
// SessionTrackerImpl re-tracks its table, so a restart never expires a client
// that had no chance to heartbeat.
//
// Leases sit in buckets of sessionCheckIntervalMs by deadline, so a check
// touches only the sessions due, never the whole table.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock, Timer } from '../clock.ts'
import { HerdError } from '../errors.ts'
import type { Replica } from '../replication/index.ts'
import { anonymous, type Applied, type TreeReader } from '../tree/index.ts'

export interface SessionTrackerOptions {
  readonly replica: Replica
  readonly clock: Clock
  readonly sessionTimeoutMinMs: number
  readonly sessionTimeoutMaxMs: number
  readonly sessionCheckIntervalMs: number
  readonly log: (message: string) => void
}

export interface NewSession {
  readonly id: number
  readonly timeoutMs: number
  readonly secret: string
  readonly zxid: number
}

/** What the HTTP layer may ask of sessions, on the replica's thread or on a serving thread. */
export interface SessionsHandle {
  /** Unknown or expired: SessionExpired; wrong secret: AuthFailed. */
  authenticate(sessionId: number, secret: string): { readonly timeoutMs: number }
  heartbeat(sessionId: number, secret: string): Promise<{ readonly timeoutMs: number }>
  create(requestedTimeoutMs: number | undefined): Promise<NewSession>
  close(sessionId: number, secret: string): Promise<{ readonly zxid: number; readonly deleted: readonly string[] }>
}

/**
 * Checks a session's secret against the session table of `tree`.
 * `loggedThrough` answers the newest zxid that may hold an entry this
 * replica has not applied (its log's end on a leader, which holds every
 * committed entry; Infinity on a follower, which cannot know). A session's
 * id is the zxid of its createSession entry, so a session past the tree and
 * not past that point may exist (just opened through another replica): it is
 * ConnectionLoss, to retry, never SessionExpired, which is final to a client.
 */
export function authenticateIn(tree: TreeReader, sessionId: number, secret: string, loggedThrough: () => number = () => tree.zxid): { readonly timeoutMs: number } {
  const session = tree.getSession(sessionId)
  if (session === undefined && sessionId > tree.zxid && sessionId <= loggedThrough()) {
    throw new HerdError('ConnectionLoss', `session ${sessionId} is newer than this replica's state (zxid ${tree.zxid}); retry shortly`)
  }
  if (session === undefined) throw new HerdError('SessionExpired', `session ${sessionId} has expired or does not exist`)
  if (!secretMatches(secret, session.secretHash)) throw new HerdError('AuthFailed', `wrong secret for session ${sessionId}`)
  return { timeoutMs: session.timeoutMs }
}

export class SessionTracker implements SessionsHandle {
  readonly #options: SessionTrackerOptions
  /** sessionId -> deadline (monotonic ms). */
  readonly #deadlines = new Map<number, number>()
  /** bucket (deadline rounded up to the check interval) -> sessions due then. */
  readonly #buckets = new Map<number, Set<number>>()
  /** Sessions whose expiry has been proposed and not yet applied. */
  readonly #expiring = new Set<number>()
  #timer: Timer | null = null
  #unsubscribe: (() => void) | null = null
  #unsubscribeRoles: (() => void) | null = null

  constructor(options: SessionTrackerOptions) {
    this.#options = options
  }

  /**
   * Starts tracking. Only the leader keeps leases: whenever this replica
   * becomes the leader, every session in the tree gets a full timeout from
   * then (DESIGN.md, decision 6); when it stops leading it forgets them.
   * Heartbeats reaching a follower are passed on to the leader.
   */
  start(): void {
    const { replica, clock } = this.#options
    this.#unsubscribe = replica.onApplied((_entry, applied) => this.#onApplied(applied))
    this.#unsubscribeRoles = replica.onRoleChange((change) => {
      if (change.role === 'leader') this.#trackAll()
      else this.#forgetAll()
    })
    replica.handleCall('heartbeat', (_from, args) => {
      if (typeof args !== 'object' || args === null) throw new HerdError('MarshallingError', 'a heartbeat names a session and its secret')
      const { sessionId, secret } = args as { sessionId?: unknown; secret?: unknown }
      if (typeof sessionId !== 'number' || typeof secret !== 'string') throw new HerdError('MarshallingError', 'a heartbeat names a session and its secret')
      return this.renew(sessionId, secret)
    })
    if (replica.isLeader) this.#trackAll()
    this.#timer = clock.setInterval(() => this.#expireDue(), this.#options.sessionCheckIntervalMs)
  }

  #trackAll(): void {
    const { replica, clock } = this.#options
    const nowMs = clock.nowMs()
    for (const id of replica.tree.sessionIds()) {
      const session = replica.tree.getSession(id)
      if (session !== undefined) this.#renew(id, nowMs + session.timeoutMs)
    }
  }

  #forgetAll(): void {
    this.#deadlines.clear()
    this.#buckets.clear()
    this.#expiring.clear()
  }

  stop(): void {
    this.#timer?.cancel()
    this.#unsubscribe?.()
    this.#unsubscribeRoles?.()
  }

  /** ZooKeeper's negotiation: the requested timeout clamped to [min, max]. */
  negotiateTimeoutMs(requestedMs: number | undefined): number {
    const { sessionTimeoutMinMs, sessionTimeoutMaxMs } = this.#options
    if (requestedMs === undefined) return sessionTimeoutMaxMs
    return Math.min(sessionTimeoutMaxMs, Math.max(sessionTimeoutMinMs, requestedMs))
  }

  async create(requestedTimeoutMs: number | undefined): Promise<NewSession> {
    const timeoutMs = this.negotiateTimeoutMs(requestedTimeoutMs)
    const secret = randomBytes(24).toString('base64url')
    const committed = await this.#options.replica.submit({
      caller: anonymous,
      idempotency: null,
      command: { type: 'createSession', timeoutMs, secretHash: hashSecret(secret) },
    })
    const { outcome } = committed.applied
    if (!outcome.ok) throw new HerdError(outcome.failure.code, outcome.failure.detail)
    if (outcome.result.type !== 'createSession') throw new HerdError('SystemError', 'unexpected result for createSession')
    return { id: outcome.result.sessionId, timeoutMs: outcome.result.timeoutMs, secret, zxid: committed.zxid }
  }

  /**
   * Checks that the session exists and the secret is its own. Unknown or
   * expired: SessionExpired; not applied here yet, or its expiry proposed
   * and not yet applied: ConnectionLoss; wrong secret: AuthFailed.
   */
  authenticate(sessionId: number, secret: string): { readonly timeoutMs: number } {
    // SessionExpired is final for a client (it drops its ephemerals' work):
    // only an applied expiry says it. A proposed one may yet be lost in a
    // change of leader (a leader resumed after a pause expires the leases
    // that ran out meanwhile, and is deposed), and the session lives on.
    if (this.#expiring.has(sessionId)) throw new HerdError('ConnectionLoss', `session ${sessionId} is being expired (its lease ran out); retry to learn whether the expiry took effect`)
    const { replica } = this.#options
    return authenticateIn(replica.tree, sessionId, secret, () => (replica.isLeader ? replica.coreStatus().lastIndex : Infinity))
  }

  /** Renews the lease for another full timeout, on the leader (a follower passes the heartbeat on). */
  async heartbeat(sessionId: number, secret: string): Promise<{ readonly timeoutMs: number }> {
    const { replica } = this.#options
    if (replica.isLeader) return this.renew(sessionId, secret)
    // A session newer than this follower's state is the leader's to judge.
    const session = sessionId > replica.appliedZxid ? null : this.authenticate(sessionId, secret)
    const answer = await replica.callLeader('heartbeat', { sessionId, secret })
    if (session !== null) return session
    const timeoutMs = typeof answer === 'object' && answer !== null ? (answer as { timeoutMs?: unknown }).timeoutMs : undefined
    if (typeof timeoutMs !== 'number') throw new HerdError('ConnectionLoss', 'the leader answered a heartbeat with garbage')
    return { timeoutMs }
  }

  /**
   * The leader's side of a heartbeat: renews the lease, then answers once a
   * quorum has confirmed that this replica still leads. A leader deposed
   * without knowing it yet (paused, cut off) would otherwise promise a lease
   * the real leader never saw, and the client, told its heartbeat went
   * through, would see its session expire less than a timeout later (found
   * by the fault suite's pause-leader scenario).
   */
  async renew(sessionId: number, secret: string): Promise<{ readonly timeoutMs: number }> {
    const { replica, clock } = this.#options
    const session = this.authenticate(sessionId, secret)
    if (replica.isLeader) this.#renew(sessionId, clock.nowMs() + session.timeoutMs)
    await replica.readIndex(Math.max(100, Math.floor(session.timeoutMs / 2)))
    return session
  }

  async close(sessionId: number, secret: string): Promise<{ readonly zxid: number; readonly deleted: readonly string[] }> {
    this.authenticate(sessionId, secret)
    const committed = await this.#options.replica.submit({
      caller: anonymous,
      idempotency: null,
      command: { type: 'closeSession', sessionId, isExpiry: false },
    })
    const { outcome } = committed.applied
    if (!outcome.ok) throw new HerdError(outcome.failure.code, outcome.failure.detail)
    const deleted = outcome.result.type === 'closeSession' ? outcome.result.deletedPaths : []
    return { zxid: committed.zxid, deleted }
  }

  /** Milliseconds until the session's lease runs out (for status and tests). */
  remainingMs(sessionId: number): number | undefined {
    const deadline = this.#deadlines.get(sessionId)
    return deadline === undefined ? undefined : Math.max(0, deadline - this.#options.clock.nowMs())
  }

  #onApplied(applied: Applied): void {
    const { outcome } = applied
    if (!outcome.ok) return
    const result = outcome.result
    if (result.type === 'createSession' && applied.replayOf === null && this.#options.replica.isLeader) {
      this.#renew(result.sessionId, this.#options.clock.nowMs() + result.timeoutMs)
    } else if (result.type === 'closeSession') {
      this.#forget(result.sessionId)
    }
  }

  #renew(sessionId: number, deadlineMs: number): void {
    this.#unbucket(sessionId)
    this.#deadlines.set(sessionId, deadlineMs)
    const bucket = this.#bucketOf(deadlineMs)
    let ids = this.#buckets.get(bucket)
    if (ids === undefined) {
      ids = new Set()
      this.#buckets.set(bucket, ids)
    }
    ids.add(sessionId)
  }

  #forget(sessionId: number): void {
    this.#unbucket(sessionId)
    this.#deadlines.delete(sessionId)
    this.#expiring.delete(sessionId)
  }

  #unbucket(sessionId: number): void {
    const old = this.#deadlines.get(sessionId)
    if (old === undefined) return
    const bucket = this.#bucketOf(old)
    const ids = this.#buckets.get(bucket)
    ids?.delete(sessionId)
    if (ids?.size === 0) this.#buckets.delete(bucket)
  }

  #bucketOf(deadlineMs: number): number {
    const interval = this.#options.sessionCheckIntervalMs
    return Math.ceil(deadlineMs / interval) * interval
  }

  #expireDue(): void {
    const { replica, clock, log } = this.#options
    if (!replica.isLeader) return
    const nowMs = clock.nowMs()
    for (const [bucket, ids] of this.#buckets) {
      if (bucket > nowMs) continue
      for (const sessionId of ids) {
        const deadline = this.#deadlines.get(sessionId)
        if (deadline === undefined || deadline > nowMs || this.#expiring.has(sessionId)) continue
        this.#expiring.add(sessionId)
        replica
          .submit({ caller: anonymous, idempotency: null, command: { type: 'closeSession', sessionId, isExpiry: true } })
          .then(
            () => this.#forget(sessionId),
            (error: unknown) => {
              // Not known to be applied: try again at the next check.
              this.#expiring.delete(sessionId)
              log(`expiring session ${sessionId} failed: ${(error as Error).message}`)
            },
          )
      }
    }
  }
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

function secretMatches(secret: string, secretHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex')
  const expected = Buffer.from(secretHash, 'hex')
  return presented.length === expected.length && timingSafeEqual(presented, expected)
}
