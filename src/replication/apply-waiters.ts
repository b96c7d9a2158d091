// Requests waiting until a replica has applied a zxid (a minZxid read, sync,
// a forwarded write's own apply): released once the zxid is applied,
// refused with OperationTimeout at their deadline, or all at once when the
// replica closes. One piece for the Replica and its mirrors alike.
import type { Clock } from '../clock.ts'
import { HerdError } from '../errors.ts'

interface ApplyWaiter {
  readonly zxid: number
  readonly deadlineMs: number
  resolve(): void
  reject(error: unknown): void
}

export class ApplyWaiters {
  readonly #clock: Clock
  #waiters: ApplyWaiter[] = []

  constructor(clock: Clock) {
    this.#clock = clock
  }

  /** Resolves once `zxid` is applied (`applied` is what is applied now); OperationTimeout after timeoutMs. */
  wait(zxid: number, applied: number, timeoutMs: number): Promise<void> {
    if (zxid <= applied) return Promise.resolve()
    if (timeoutMs <= 0) return Promise.reject(notApplied(zxid, applied))
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ zxid, deadlineMs: this.#clock.nowMs() + timeoutMs, resolve, reject })
    })
  }

  /** Releases every waiter whose zxid is now applied. */
  release(applied: number): void {
    if (this.#waiters.length === 0) return
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.zxid > applied) return true
      waiter.resolve()
      return false
    })
  }

  /** Refuses every waiter past its deadline. */
  expire(applied: number): void {
    if (this.#waiters.length === 0) return
    const nowMs = this.#clock.nowMs()
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.deadlineMs > nowMs) return true
      waiter.reject(notApplied(waiter.zxid, applied))
      return false
    })
  }

  rejectAll(error: unknown): void {
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error)
  }
}

function notApplied(zxid: number, applied: number): HerdError {
  return new HerdError('OperationTimeout', `zxid ${zxid} is not applied here yet (applied ${applied})`)
}
