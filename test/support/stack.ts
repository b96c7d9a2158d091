// One replica assembled in-process exactly as main.ts wires it, but over a
// MemoryStore and a ManualClock: for API tests that call app.request() and
// move time by hand (session expiry, keep-alives) without a process.
import { assemble, type Assembled } from '../../src/assemble.ts'
import { ManualClock } from '../../src/clock.ts'
import { defaults, type Config } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { MemoryStore } from '../../src/storage/index.ts'

export interface TestStack extends Assembled {
  readonly config: Config
  readonly clock: ManualClock
  readonly store: MemoryStore
  request(path: string, init?: RequestInit): Promise<Response>
}

export function testStack(overrides: Partial<Config> = {}, store = new MemoryStore()): TestStack {
  const config: Config = Object.freeze({ ...defaults, ...overrides })
  const clock = new ManualClock()
  const node = assemble({
    config,
    store,
    clock,
    log: silentLogger,
    clientUrl: 'http://in-process',
    onFatal: (error) => {
      throw error
    },
  })
  node.start()
  return {
    ...node,
    config,
    clock,
    store,
    request: async (path, init) => node.api.app.request(path, init),
  }
}

/** Lets queued writes reach the store and be applied (the replica flushes on setImmediate). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
}
