// Failpoints: faults a test asks a node to inject into itself, named by the
// HERD_FAILPOINTS environment variable ("name=value,..."), off when it is
// unset. A leaf: main.ts parses the variable and hands the result to the
// layers that honour it. Production configurations never set it. It kills
// the process itself: a crash point must be a real SIGKILL, from exactly
// where it is passed.
//
//   sync-delay-ms=N         every append to the log waits N ms before it
//                           starts (a slow disk: writes queue up, time out)
//   <point>=crash           the process kills itself (SIGKILL: no shutdown
//   <point>=crash:P         hooks, nothing flushed) at that point, every time
//                           or with probability P (0 < P <= 1) per pass
//   <point>=error:P         an asynchronous point fails with an I/O error
//                           with probability P (a failed fsync: the replica
//                           must stop, never retry and assume it durable)
//   <point>=sleep:MS        the thread stops there for MS milliseconds (a
//                           stall: a GC pause, a slow disk, a descheduled
//                           process), blocking where the point is synchronous
//   power-loss              keep the power-loss journal (storage/power-loss.ts)
//                           so that a test can cut the power: after a SIGKILL
//                           and a POWER-CUT file in the data directory, the
//                           next start drops every write no sync covered
//   clock-rate=R            the node's clock runs R times as fast (0.25..4):
//                           its timers, timeouts and leases with it
//   clock-offset-ms=N       the node's wall clock is N ms off (±1 day)
//   unsafe-no-sync          the log is appended without syncing: the negative
//                           control of the power-loss tests, which must then
//                           find acknowledged writes lost
//
// Points act only once armed (main.ts arms them when the node listens), so
// a node with a crash point set always comes up and can be restarted.
// Points (where replication/replica.ts passes them):
//   before-sync             a Ready's entries or vote are about to be synced
//   after-sync              they are synced; no message or reply has left
//   before-apply            entries are committed, about to be applied
//   expiry-apply            a session's expiry is about to be applied
//   after-snapshot-write    a snapshot is durable; the log is not truncated yet

export const failpointNames = ['before-sync', 'after-sync', 'before-apply', 'expiry-apply', 'after-snapshot-write'] as const
export type FailpointName = (typeof failpointNames)[number]

type Action = { readonly kind: 'crash' | 'error'; readonly probability: number } | { readonly kind: 'sleep'; readonly ms: number }

export class Failpoints {
  readonly syncDelayMs: number
  readonly isPowerLossJournaled: boolean
  readonly isSyncDisabled: boolean
  readonly clockRate: number
  readonly clockOffsetMs: number
  readonly #actions: ReadonlyMap<FailpointName, Action>
  readonly #random: () => number
  #isArmed = false

  constructor(
    options: {
      syncDelayMs?: number
      isPowerLossJournaled?: boolean
      isSyncDisabled?: boolean
      clockRate?: number
      clockOffsetMs?: number
      actions?: ReadonlyMap<FailpointName, Action>
      random?: () => number
    } = {},
  ) {
    this.syncDelayMs = options.syncDelayMs ?? 0
    this.clockRate = options.clockRate ?? 1
    this.clockOffsetMs = options.clockOffsetMs ?? 0
    this.isPowerLossJournaled = options.isPowerLossJournaled ?? false
    this.isSyncDisabled = options.isSyncDisabled ?? false
    this.#actions = options.actions ?? new Map()
    this.#random = options.random ?? Math.random
  }

  /** From now on the points act. */
  arm(): void {
    this.#isArmed = true
  }

  /** Whether `name` has an action: lets a hot path skip the point altogether. */
  has(name: FailpointName): boolean {
    return this.#actions.has(name)
  }

  /** Passes a synchronous point: crashes, or blocks the thread for a sleep. */
  pass(name: FailpointName): void {
    const action = this.#actions.get(name)
    if (action === undefined || !this.#isArmed) return
    if (action.kind === 'sleep') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, action.ms)
    else if (action.kind === 'crash' && this.#random() < action.probability) crash(name)
  }

  /** Passes a point on an asynchronous path: crashes, or waits without blocking the thread. */
  async passAsync(name: FailpointName): Promise<void> {
    const action = this.#actions.get(name)
    if (action === undefined || !this.#isArmed) return
    if (action.kind === 'sleep') await new Promise((resolve) => setTimeout(resolve, action.ms))
    else if (this.#random() >= action.probability) return
    else if (action.kind === 'crash') crash(name)
    else throw new Error(`failpoint ${name}: injected I/O error (EIO)`)
  }
}

function crash(name: FailpointName): never {
  process.stderr.write(`failpoint ${name}: crashing (SIGKILL)\n`)
  process.kill(process.pid, 'SIGKILL')
  // SIGKILL cannot be caught; this line only satisfies the type.
  throw new Error('unreachable')
}

export const noFailpoints = new Failpoints()

/** Parses HERD_FAILPOINTS; throws an Error naming what it does not understand. */
export function parseFailpoints(text: string | undefined): Failpoints {
  if (text === undefined || text.trim() === '') return noFailpoints
  let syncDelayMs = 0
  let isPowerLossJournaled = false
  let isSyncDisabled = false
  let clockRate = 1
  let clockOffsetMs = 0
  const actions = new Map<FailpointName, Action>()
  for (const item of text.split(',')) {
    const [name = '', value = ''] = item.trim().split('=')
    const action = parseAction(value)
    if (name === 'sync-delay-ms' && isIntegerIn(value, 0, 60_000)) syncDelayMs = Number(value)
    else if (name === 'power-loss' && value === '') isPowerLossJournaled = true
    else if (name === 'unsafe-no-sync' && value === '') isSyncDisabled = true
    else if (name === 'clock-rate' && Number(value) >= 0.25 && Number(value) <= 4) clockRate = Number(value)
    else if (name === 'clock-offset-ms' && isIntegerIn(value, -86_400_000, 86_400_000)) clockOffsetMs = Number(value)
    else if ((failpointNames as readonly string[]).includes(name) && action !== null) actions.set(name as FailpointName, action)
    else throw new Error(`HERD_FAILPOINTS: unknown or malformed failpoint "${item}" (points: ${failpointNames.join(', ')}; actions: crash, crash:P, error:P, sleep:MS)`)
  }
  return new Failpoints({ syncDelayMs, isPowerLossJournaled, isSyncDisabled, clockRate, clockOffsetMs, actions })
}

function parseAction(value: string): Action | null {
  if (value === 'crash') return { kind: 'crash', probability: 1 }
  const [kind, argument = ''] = value.split(':')
  const number = Number(argument)
  if ((kind === 'crash' || kind === 'error') && argument !== '' && number > 0 && number <= 1) return { kind, probability: number }
  if (kind === 'sleep' && isIntegerIn(argument, 1, 60_000)) return { kind: 'sleep', ms: number }
  return null
}

function isIntegerIn(text: string, min: number, max: number): boolean {
  const number = Number(text)
  return text !== '' && Number.isInteger(number) && number >= min && number <= max
}
