// A hand-driven cluster of Raft cores for the paper-section tests: nothing
// happens unless the test says so. Each replica has a SimStorage disk and a
// SimMachine; flush() plays the driver for every replica (persist the Ready,
// queue its messages, apply, advance), deliver() hands queued messages to
// their receivers, and the SafetyChecker watches every step, as in the
// simulator.
import { assert } from '../../src/assert.ts'
import { RaftCore, type CoreConfig, type HardState, type Message, type RaftEntry, type ReadState, type Ready } from '../../src/replication/core/index.ts'
import { Prng } from './raft-sim-prng.ts'
import { SafetyChecker, persistReady, type CheckedReplica } from './raft-sim-checker.ts'
import { SimMachine, SimStorage, decodeImage, describeData, encodeImage, simMembership, simNoop } from './raft-sim-storage.ts'

export interface ClusterOptions {
  /** Replica ids; all of them start, the voters among them per `voters`. */
  readonly ids: readonly number[]
  /** Bootstrap voters; defaults to every id. */
  readonly voters?: readonly number[]
  readonly electionTicks?: number
  readonly heartbeatTicks?: number
  readonly appendBytesMax?: number
  readonly inflightAppendsMax?: number
  readonly seed?: number
  /** Logs to start from, as the term of each entry from index 1 (data: text(`${index}@${term}`)). */
  readonly logs?: Readonly<Record<number, readonly number[]>>
  /** Hard states to start from (term, vote, commit), per replica. */
  readonly hardStates?: Readonly<Record<number, HardState>>
}

export class ClusterReplica implements CheckedReplica {
  readonly id: number
  storage = new SimStorage()
  core: RaftCore | null = null
  machine = new SimMachine()
  incarnation = 0
  /** Every entry applied by this incarnation, in order, as text. */
  applied: string[] = []
  readStates: ReadState[] = []
  /** Every Ready handled, newest last (tests inspect them). */
  readies: Ready[] = []

  constructor(id: number) {
    this.id = id
  }
}

/** The data of a test proposal: its text. */
export function text(value: string): Uint8Array {
  return new TextEncoder().encode(`t${value}`)
}

export function describeEntry(entry: RaftEntry): string {
  const data = entry.data
  if (data[0] === 't'.charCodeAt(0)) return new TextDecoder().decode(data.subarray(1))
  return describeData(data)
}

export class Cluster {
  readonly replicas = new Map<number, ClusterReplica>()
  readonly checker = new SafetyChecker()
  /** Sent and not yet delivered, oldest first. */
  queue: Message[] = []
  /** Directed links that drop everything: "from>to". */
  readonly blocked = new Set<string>()
  /** Sees every message on delivery: returns it (or a changed copy) to deliver, null to drop. */
  intercept: ((message: Message) => Message | null) | null = null
  readonly #options: ClusterOptions
  readonly #random: Prng

  constructor(options: ClusterOptions) {
    this.#options = options
    this.#random = new Prng(options.seed ?? 1)
    for (const id of options.ids) {
      const replica = new ClusterReplica(id)
      this.replicas.set(id, replica)
      const terms = options.logs?.[id] ?? []
      const entries = terms.map((term, i): RaftEntry => ({ index: i + 1, term, data: text(`${i + 1}@${term}`) }))
      replica.storage.append(entries, options.hardStates?.[id] ?? null)
      this.checker.onPersist(replica, entries, null, 0)
      this.#start(replica)
    }
  }

  config(id: number): CoreConfig {
    const random = this.#random.fork()
    return {
      id,
      voters: this.#options.voters ?? this.#options.ids,
      electionTicks: this.#options.electionTicks ?? 10,
      heartbeatTicks: this.#options.heartbeatTicks ?? 1,
      random: () => random.next(),
      appendBytesMax: this.#options.appendBytesMax ?? 1 << 20,
      inflightAppendsMax: this.#options.inflightAppendsMax ?? 4,
      noop: simNoop,
      membership: simMembership,
    }
  }

  #start(replica: ClusterReplica): void {
    replica.incarnation++
    replica.machine = new SimMachine()
    replica.applied = []
    const snapshot = replica.storage.loadSnapshot()
    if (snapshot !== null) replica.machine.restore(decodeImage(snapshot.chunks[0] as Uint8Array))
    replica.core = new RaftCore(this.config(replica.id), replica.storage)
    this.checker.onRestart(replica)
  }

  replica(id: number): ClusterReplica {
    const replica = this.replicas.get(id)
    assert(replica !== undefined, `cluster: no replica ${id}`)
    return replica
  }

  core(id: number): RaftCore {
    const core = this.replica(id).core
    assert(core !== null, `cluster: n${id} is down`)
    return core
  }

  /** The one replica every live replica of the highest term calls leader, or null. */
  leader(): number | null {
    let best: number | null = null
    let bestTerm = -1
    for (const replica of this.replicas.values()) {
      const status = replica.core?.status()
      if (status?.role === 'leader' && status.term > bestTerm) {
        best = replica.id
        bestTerm = status.term
      }
    }
    return best
  }

  /** Plays the driver for every replica until none has a Ready. */
  flush(): void {
    for (let round = 0; round < 100; round++) {
      let isIdle = true
      for (const replica of this.replicas.values()) {
        const core = replica.core
        if (core === null || !core.hasReady()) continue
        isIdle = false
        this.#handleReady(replica, core.ready())
      }
      this.checker.observe([...this.replicas.values()])
      if (isIdle) return
    }
    assert(false, 'cluster: Readies did not settle')
  }

  /** Persists a Ready, queues its messages, applies it, advances. */
  #handleReady(replica: ClusterReplica, ready: Ready): void {
    persistReady(this.checker, replica, ready)
    for (const message of ready.messages) this.queue.push(message)
    if (ready.snapshot !== null) {
      replica.machine.restore(decodeImage(ready.snapshot.chunks[0] as Uint8Array))
      this.checker.onRestore(replica)
    }
    for (const entry of ready.committed) {
      replica.machine.apply(entry)
      this.checker.onApply(replica, entry)
      replica.applied.push(describeEntry(entry))
    }
    for (const read of ready.readStates) replica.readStates.push(read)
    replica.readies.push(ready)
    ;(replica.core as RaftCore).advance(ready)
  }

  /**
   * Delivers the queued messages that pass `filter` (the others stay
   * queued), once each; messages on blocked links or to a crashed replica are
   * dropped. Returns how many were delivered.
   */
  deliver(filter: (message: Message) => boolean = () => true): number {
    this.flush()
    const queue = this.queue
    this.queue = []
    let count = 0
    for (const message of queue) {
      if (!filter(message)) {
        this.queue.push(message)
        continue
      }
      const receiver = this.replicas.get(message.to)
      if (receiver?.core == null || this.blocked.has(`${message.from}>${message.to}`)) continue
      const delivered = this.intercept === null ? message : this.intercept(message)
      if (delivered === null) continue
      receiver.core.step(delivered)
      count++
      this.flush()
    }
    return count
  }

  /** Drops queued messages that pass `filter`. */
  drop(filter: (message: Message) => boolean = () => true): number {
    const before = this.queue.length
    this.queue = this.queue.filter((message) => !filter(message))
    return before - this.queue.length
  }

  /** Flushes and delivers until no message is left (or the round bound is hit). */
  stabilize(roundsMax = 200): void {
    this.flush()
    for (let round = 0; round < roundsMax; round++) {
      if (this.queue.length === 0) return
      this.deliver()
    }
    assert(this.queue.length === 0, 'cluster: messages did not settle')
  }

  tick(id: number, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.core(id).tick()
      this.flush()
    }
  }

  /** Ticks every live replica `times` times, delivering all messages after each round. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const replica of this.replicas.values()) replica.core?.tick()
      this.stabilize()
    }
  }

  /** Makes `id` campaign and runs the election to its end. */
  elect(id: number): void {
    this.core(id).campaign()
    this.stabilize()
    assert(this.core(id).status().role === 'leader', `cluster: n${id} did not win`)
  }

  propose(id: number, ...values: string[]): number | null {
    const index = this.core(id).propose(values.map(text))
    this.flush()
    return index
  }

  /** Cuts every link to and from id. */
  isolate(id: number): void {
    for (const other of this.replicas.keys()) {
      if (other === id) continue
      this.blocked.add(`${id}>${other}`)
      this.blocked.add(`${other}>${id}`)
    }
  }

  heal(): void {
    this.blocked.clear()
  }

  /** Loses the core and everything not yet persisted (in this harness, every Ready is persisted at once). */
  crash(id: number): void {
    const replica = this.replica(id)
    replica.core = null
    this.queue = this.queue.filter((message) => message.to !== id)
  }

  restart(id: number): void {
    const replica = this.replica(id)
    assert(replica.core === null, `cluster: n${id} is running`)
    this.#start(replica)
    this.flush()
  }

  /** Snapshots the state machine of id at its applied index and compacts the log through it. */
  compact(id: number, keepEntries = 0): void {
    const replica = this.replica(id)
    const core = this.core(id)
    const { storage, machine } = replica
    const term = storage.term(machine.index)
    assert(term !== undefined, 'cluster: applied entry not in the log')
    const image = machine.image()
    storage.saveSnapshot(
      { meta: { index: machine.index, term, extra: simMembership.encode(core.votersAt(machine.index)) }, chunks: [encodeImage(image)] },
      image.chain,
    )
    storage.compact(Math.max(storage.firstIndex() - 1, machine.index - keepEntries))
  }

  /** The durable log of id, as "index@term:data" strings. */
  log(id: number): string[] {
    const storage = this.replica(id).storage
    if (storage.lastIndex() < storage.firstIndex()) return []
    return storage
      .entries(storage.firstIndex(), storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER)
      .map((entry) => `${entry.index}@${entry.term}:${describeEntry(entry)}`)
  }
}
