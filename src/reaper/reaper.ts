// Deletes empty containers and expired TTL znodes, as ZooKeeper's
// ContainerManager does: the leader looks every reapIntervalMs, deletes at
// most reapPerMinuteMax a minute, and each deletion is a `reap` log entry
// that the tree applies only if the znode is still the same one (czxid) and
// still eligible by the entry's own time. A node that changed between the
// look and the apply is left alone, identically on every replica.
import type { Clock, Timer } from '../clock.ts'
import type { Logger } from '../log.ts'
import type { Replica } from '../replication/index.ts'
import { anonymous } from '../tree/index.ts'

export interface ReaperOptions {
  readonly replica: Replica
  readonly clock: Clock
  readonly log: Logger
  readonly reapIntervalMs: number
  readonly reapPerMinuteMax: number
}

export class Reaper {
  readonly #options: ReaperOptions
  readonly #inFlight = new Set<string>()
  #timer: Timer | null = null

  constructor(options: ReaperOptions) {
    this.#options = options
  }

  start(): void {
    this.#timer = this.#options.clock.setInterval(() => this.sweep(), this.#options.reapIntervalMs)
  }

  stop(): void {
    this.#timer?.cancel()
  }

  /** One look: proposes the deletion of up to this interval's share of candidates. */
  sweep(): void {
    const { replica, clock, log, reapIntervalMs, reapPerMinuteMax } = this.#options
    if (!replica.isLeader) return
    const budget = Math.max(1, Math.floor((reapPerMinuteMax * reapIntervalMs) / 60_000))
    for (const candidate of replica.tree.reapCandidates(clock.wallMs(), budget)) {
      if (this.#inFlight.has(candidate.path)) continue
      this.#inFlight.add(candidate.path)
      replica
        .submit({ caller: anonymous, idempotency: null, command: { type: 'reap', path: candidate.path, czxid: candidate.czxid } })
        .catch((error: unknown) => log.warn(`reaping ${candidate.path} failed: ${(error as Error).message}`))
        .finally(() => this.#inFlight.delete(candidate.path))
    }
  }
}
