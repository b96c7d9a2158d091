// Time as an injected dependency. Timeouts and leases use the monotonic clock
// (nowMs), never the wall clock, so that a stepped or slewed wall clock cannot
// expire a session early; the wall clock (wallMs) is only stamped into log
// entries by the leader for ctime/mtime and TTLs. Tests bring a manual clock
// of the same shape. main.ts is the only place that picks the system clock.

export interface Timer {
  cancel(): void
}

export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  nowMs(): number
  /** Wall-clock milliseconds since the epoch, for stamping entries. */
  wallMs(): number
  setTimeout(callback: () => void, delayMs: number): Timer
  setInterval(callback: () => void, intervalMs: number): Timer
}

export const systemClock: Clock = {
  nowMs: () => performance.now(),
  wallMs: () => Date.now(),
  setTimeout(callback, delayMs) {
    const handle = setTimeout(callback, delayMs)
    handle.unref()
    return { cancel: () => clearTimeout(handle) }
  },
  setInterval(callback, intervalMs) {
    const handle = setInterval(callback, intervalMs)
    handle.unref()
    return { cancel: () => clearInterval(handle) }
  },
}

/**
 * The system clock running `rate` times as fast (2: a second passes in half
 * a real one; timers fire early in proportion), with its wall clock
 * `wallOffsetMs` off: a node with a bad clock, for fault tests (failpoints
 * clock-rate and clock-offset-ms). Safety must never depend on either.
 */
export function skewedClock(rate: number, wallOffsetMs: number): Clock {
  const startMs = performance.now()
  const startWallMs = Date.now()
  const scaled = (): number => (performance.now() - startMs) * rate
  return {
    nowMs: () => startMs + scaled(),
    // Whole milliseconds, as Date.now() gives: entries carry integers.
    wallMs: () => Math.floor(startWallMs + wallOffsetMs + scaled()),
    setTimeout: (callback, delayMs) => systemClock.setTimeout(callback, delayMs / rate),
    setInterval: (callback, intervalMs) => systemClock.setInterval(callback, intervalMs / rate),
  }
}

/** A clock that only moves when told to: for unit tests of timeouts. */
export class ManualClock implements Clock {
  #nowMs = 0
  #wallMs: number
  #timers: Array<{ atMs: number; intervalMs: number; callback: () => void; isCancelled: boolean }> = []

  constructor(wallStartMs = 1_700_000_000_000) {
    this.#wallMs = wallStartMs
  }

  nowMs(): number {
    return this.#nowMs
  }

  wallMs(): number {
    return this.#wallMs + this.#nowMs
  }

  setTimeout(callback: () => void, delayMs: number): Timer {
    return this.#add(callback, delayMs, 0)
  }

  setInterval(callback: () => void, intervalMs: number): Timer {
    return this.#add(callback, intervalMs, intervalMs)
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const endMs = this.#nowMs + ms
    for (;;) {
      const due = this.#timers
        .filter((timer) => !timer.isCancelled && timer.atMs <= endMs)
        .sort((a, b) => a.atMs - b.atMs)[0]
      if (due === undefined) break
      this.#nowMs = due.atMs
      if (due.intervalMs > 0) due.atMs += due.intervalMs
      else due.isCancelled = true
      due.callback()
    }
    this.#nowMs = endMs
    this.#timers = this.#timers.filter((timer) => !timer.isCancelled)
  }

  #add(callback: () => void, delayMs: number, intervalMs: number): Timer {
    const timer = { atMs: this.#nowMs + Math.max(0, delayMs), intervalMs, callback, isCancelled: false }
    this.#timers.push(timer)
    return {
      cancel: () => {
        timer.isCancelled = true
      },
    }
  }
}
