// A deterministic world for the Raft core (in the manner of TigerBeetle's
// VOPR and FoundationDB's simulator): N replicas in one process, each a
// RaftCore driven by a simulated driver over a simulated disk, talking over a
// simulated network; one seed decides everything.
//
// - Time is a discrete event queue in units (a tick is 10 units, with drift).
// - The network loses, duplicates, delays (so reorders) messages and is cut
//   by partitions of every shape: splits, one-way links, an isolated leader,
//   a bridge replica that sees both sides.
// - The driver keeps the Ready contract with a disk latency, as the
//   replica does: a leader's eager messages leave at once; ready() is taken
//   and its committed entries applied; the writes land later, then the
//   messages leave and advance() is called. Meanwhile the replica keeps
//   stepping messages and ticks. A crash loses the core's memory and every
//   Ready not yet written (sometimes half of one: its snapshot but not its
//   entries); a restart builds a new core over the disk.
// - Clients propose at whoever leads, ask for read indexes, change the
//   membership (one voter at a time, among N + 1 replicas), transfer
//   leadership, and replicas snapshot and compact their logs.
// After every event the SafetyChecker runs. Then the faults stop, the
// network heals, everyone restarts, and a leader must commit a new entry on
// every voter within a bounded number of ticks.
import { RaftCore, type CoreConfig, type Message, type RaftEntry, type Ready } from '../../src/replication/core/index.ts'
import { Prng } from './raft-sim-prng.ts'
import { SafetyChecker, SafetyViolation, persistReady, type CheckedReplica } from './raft-sim-checker.ts'
import {
  SimMachine,
  SimStorage,
  dataKey,
  decodeImage,
  describeData,
  encodeImage,
  simMembership,
  simNoop,
  simProposal,
} from './raft-sim-storage.ts'

export interface SimOptions {
  readonly seed: number
  /** Voters at the start (3 or 5); one more replica waits outside to be added. */
  readonly replicas: number
  /** Ticks of faults before the network heals. */
  readonly chaosTicks: number
  /** After healing, ticks within which a new entry must be committed and applied by every voter. */
  readonly healTicksMax: number
  readonly isTracing: boolean
  /**
   * Negative control: a disk that acknowledges writes it then loses (the
   * last Ready written before a crash is rolled back). Raft cannot be safe on
   * it, so the checker must find a violation on some seeds.
   */
  readonly isDiskLying?: boolean
  /** Without faults: no crashes, partitions, loss or duplication (to measure the healthy path). */
  readonly isCalm?: boolean
}

export interface SimResult {
  readonly seed: number
  readonly failure: string | null
  readonly trace: readonly string[]
  readonly events: number
  readonly commit: number
  readonly healTicks: number
  readonly leaders: number
  /** How often each interesting thing happened: the run's coverage. */
  readonly counts: ReadonlyMap<string, number>
}

export const tickUnits = 10
const electionTicks = 10
const heartbeatTicks = 2

type SimEvent =
  | { readonly kind: 'tick'; readonly id: number; readonly incarnation: number }
  | { readonly kind: 'deliver'; readonly message: Message }
  | { readonly kind: 'persist'; readonly id: number; readonly incarnation: number }
  | { readonly kind: 'restart'; readonly id: number }
  /** A learner's leader, some ticks after it started catching it up: propose it as a voter, or give up on it. */
  | { readonly kind: 'promote'; readonly leaderId: number; readonly incarnation: number; readonly learner: number }
  | { readonly kind: 'chaos' }
  | { readonly kind: 'client' }

interface Scheduled {
  readonly at: number
  readonly order: number
  readonly event: SimEvent
}

/** A binary min-heap on (at, order); order is random, so simultaneous events interleave by seed. */
class EventQueue {
  readonly #heap: Scheduled[] = []

  get size(): number {
    return this.#heap.length
  }

  push(item: Scheduled): void {
    const heap = this.#heap
    heap.push(item)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!EventQueue.#before(heap[i] as Scheduled, heap[parent] as Scheduled)) break
      ;[heap[i], heap[parent]] = [heap[parent] as Scheduled, heap[i] as Scheduled]
      i = parent
    }
  }

  pop(): Scheduled | undefined {
    const heap = this.#heap
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < heap.length && EventQueue.#before(heap[left] as Scheduled, heap[smallest] as Scheduled)) smallest = left
        if (right < heap.length && EventQueue.#before(heap[right] as Scheduled, heap[smallest] as Scheduled)) smallest = right
        if (smallest === i) break
        ;[heap[i], heap[smallest]] = [heap[smallest] as Scheduled, heap[i] as Scheduled]
        i = smallest
      }
    }
    return top
  }

  static #before(a: Scheduled, b: Scheduled): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order)
  }
}

class SimReplica implements CheckedReplica {
  readonly id: number
  storage = new SimStorage()
  core: RaftCore | null = null
  machine = new SimMachine()
  incarnation = 0
  /** The Ready taken and not yet written, and when its write lands. */
  pending: Ready | null = null
  /** The storage as it was before the last Ready written (for the lying disk). */
  beforeLastWrite: SimStorage | null = null
  /** The commit index last seen, for the nemesis (reset by a restart). */
  commitSeen = 0
  readonly random: Prng

  constructor(id: number, random: Prng) {
    this.id = id
    this.random = random
  }
}

interface NetworkFaults {
  lossRate: number
  duplicateRate: number
  delayUnitsMax: number
  longDelayRate: number
}

const calmNetwork: NetworkFaults = { lossRate: 0, duplicateRate: 0, delayUnitsMax: 8, longDelayRate: 0 }

function describeMessage(m: Message): string {
  const head = `${m.type} ${m.from}->${m.to} t${m.term}`
  switch (m.type) {
    case 'preVote':
    case 'vote':
      return `${head} last ${m.lastIndex}@${m.lastTerm}`
    case 'preVoteReply':
    case 'voteReply':
      return `${head} ${m.granted ? 'granted' : 'refused'}`
    case 'append':
      return `${head} prev ${m.prevIndex}@${m.prevTerm} [${m.entries.map((e) => `${e.index}@${e.term}`).join(' ')}] commit ${m.commit}`
    case 'appendReply':
      return `${head} ${m.success ? 'ok' : 'rejected'} ${m.index} hint ${m.hintIndex}@${m.hintTerm}`
    case 'snapshot':
      return `${head} snapshot ${m.snapshot.meta.index}@${m.snapshot.meta.term}`
    case 'heartbeat':
      return `${head} commit ${m.commit} round ${m.context}`
    case 'heartbeatReply':
      return `${head} round ${m.context}`
    case 'timeoutNow':
      return head
  }
}

export class RaftWorld {
  readonly options: SimOptions
  readonly random: Prng
  readonly checker = new SafetyChecker()
  readonly replicas: SimReplica[] = []
  readonly trace: string[] = []
  readonly #queue = new EventQueue()
  readonly #blocked = new Set<string>()
  #faults: NetworkFaults
  #now = 0
  #events = 0
  #serial = 0
  #readContext = 0
  #isChaos = true
  readonly counts = new Map<string, number>()

  constructor(options: SimOptions) {
    this.options = options
    this.random = new Prng(options.seed)
    this.#faults = options.isCalm === true ? calmNetwork : this.#drawFaults()
    const voters = Array.from({ length: options.replicas }, (_, i) => i + 1)
    for (let id = 1; id <= options.replicas + 1; id++) {
      const replica = new SimReplica(id, this.random.fork())
      this.replicas.push(replica)
      this.#start(replica, voters)
    }
    this.#schedule(this.random.between(1, 30), { kind: 'chaos' })
    this.#schedule(this.random.between(1, 10), { kind: 'client' })
  }

  #count(what: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1)
  }

  #log(line: string): void {
    if (this.options.isTracing) this.trace.push(`${String(this.#now).padStart(6)} ${line}`)
  }

  #schedule(delay: number, event: SimEvent): void {
    this.#queue.push({ at: this.#now + delay, order: this.random.next(), event })
  }

  #config(replica: SimReplica, voters: readonly number[]): CoreConfig {
    const random = replica.random.fork()
    return {
      id: replica.id,
      voters,
      electionTicks,
      heartbeatTicks,
      random: () => random.next(),
      appendBytesMax: this.random.pick([5, 16, 64, 1024]),
      inflightAppendsMax: this.random.pick([1, 2, 4]),
      noop: simNoop,
      membership: simMembership,
      committedBytesMax: this.random.pick([8, 1 << 20]),
    }
  }

  #start(replica: SimReplica, voters: readonly number[]): void {
    replica.incarnation++
    replica.pending = null
    replica.commitSeen = 0
    replica.machine = new SimMachine()
    const snapshot = replica.storage.loadSnapshot()
    if (snapshot !== null) replica.machine.restore(decodeImage(snapshot.chunks[0] as Uint8Array))
    replica.core = new RaftCore(this.#config(replica, voters), replica.storage)
    this.checker.onRestart(replica)
    this.#schedule(this.random.between(1, tickUnits), { kind: 'tick', id: replica.id, incarnation: replica.incarnation })
  }

  #replica(id: number): SimReplica {
    return this.replicas[id - 1] as SimReplica
  }

  #leader(): SimReplica | null {
    let best: SimReplica | null = null
    let bestTerm = -1
    for (const replica of this.replicas) {
      const status = replica.core?.status()
      if (status?.role === 'leader' && status.term > bestTerm) {
        best = replica
        bestTerm = status.term
      }
    }
    return best
  }

  #drawFaults(): NetworkFaults {
    return {
      lossRate: this.random.pick([0, 0.01, 0.05, 0.2]),
      duplicateRate: this.random.pick([0, 0.02, 0.1]),
      delayUnitsMax: this.random.pick([2, 8, 20]),
      longDelayRate: this.random.pick([0, 0.02, 0.1]),
    }
  }

  // The network.

  #send(message: Message): void {
    if (message.to < 1 || message.to > this.replicas.length) return
    if (this.random.chance(this.#faults.lossRate)) return
    const copies = this.random.chance(this.#faults.duplicateRate) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      const isLong = this.random.chance(this.#faults.longDelayRate)
      const delay = isLong ? this.random.between(20, 120) : this.random.between(1, this.#faults.delayUnitsMax)
      this.#schedule(delay, { kind: 'deliver', message })
    }
  }

  #deliver(message: Message): void {
    const replica = this.#replica(message.to)
    if (replica.core === null || this.#blocked.has(`${message.from}>${message.to}`)) return
    this.#log(`deliver ${describeMessage(message)}`)
    replica.core.step(message)
  }

  // The driver.

  #takeReady(replica: SimReplica): void {
    const core = replica.core
    if (core === null) return
    // As the replica does: a leader's appends and heartbeats leave at once,
    // even while a Ready is on its way to the disk (thesis §10.2.1).
    for (const message of core.takeEagerMessages()) this.#send(message)
    // And applies what is committed at once, even while a Ready is out.
    const committed = core.takeCommitted()
    if (committed.length > 0) this.#applyCommitted(replica, committed)
    if (replica.pending !== null || !core.hasReady()) return
    replica.pending = core.ready()
    // And committed entries are applied before the Ready's writes land (they
    // are durable on a majority already), unless a snapshot comes first.
    if (replica.pending.snapshot === null) this.#applyCommitted(replica, replica.pending.committed)
    const latency = this.random.chance(0.05) ? this.random.between(10, 40) : this.random.between(0, 4)
    this.#schedule(latency, { kind: 'persist', id: replica.id, incarnation: replica.incarnation })
  }

  #persist(replica: SimReplica): void {
    const ready = replica.pending as Ready
    const core = replica.core as RaftCore
    replica.pending = null
    if (this.options.isDiskLying === true) replica.beforeLastWrite = replica.storage.clone()
    persistReady(this.checker, replica, ready)
    if (ready.soft?.role === 'leader') this.#count('leader elected')
    if (ready.soft !== null) this.#log(`n${replica.id} is ${ready.soft.role} of term ${ready.soft.term} (leader n${ready.soft.leader})`)
    for (const message of ready.messages) this.#send(message)
    if (ready.snapshot !== null) {
      replica.machine.restore(decodeImage(ready.snapshot.chunks[0] as Uint8Array))
      this.checker.onRestore(replica)
      this.#count('snapshot installed')
      this.#log(`n${replica.id} installs snapshot ${ready.snapshot.meta.index}@${ready.snapshot.meta.term}`)
    }
    if (ready.snapshot !== null) this.#applyCommitted(replica, ready.committed)
    for (const read of ready.readStates) {
      this.checker.onReadState(replica, read)
      this.#count('read served')
      this.#log(`n${replica.id} read ${read.context} at ${read.index}`)
    }
    core.advance(ready)
    const status = core.status()
    if (status.role === 'follower' && status.commit > core.leaderCommit().index) this.#count('follower committed as a pair')
  }

  #applyCommitted(replica: SimReplica, committed: readonly RaftEntry[]): void {
    for (const entry of committed) {
      if (simMembership.decode(entry.data) !== null) this.#count('membership change applied')
      replica.machine.apply(entry)
      this.checker.onApply(replica, entry)
    }
    if (committed.length > 0) {
      const last = committed[committed.length - 1]
      this.#log(`n${replica.id} applies through ${last?.index} (${describeData(last?.data ?? simNoop)})`)
    }
  }

  /**
   * The nemesis: a leader that just moved its commit index sometimes dies at
   * once, before the news (or its next entries) leave: the window of Figure 8.
   */
  #nemesis(): void {
    for (const replica of this.replicas) {
      const status = replica.core?.status()
      if (status === undefined) continue
      const isNewCommit = status.commit > replica.commitSeen
      replica.commitSeen = status.commit
      if (this.#isChaos && isNewCommit && status.role === 'leader' && this.random.chance(0.03)) {
        this.#crash(replica)
        this.#schedule(this.random.between(1, 30) * tickUnits, { kind: 'restart', id: replica.id })
      }
    }
  }

  // Faults and clients.

  #crash(replica: SimReplica): void {
    if (replica.core === null) return
    const pending = replica.pending
    // A torn write: the snapshot made it to disk, the entries and hard state did not.
    if (pending?.snapshot != null && this.random.chance(0.5)) {
      replica.storage.saveSnapshot(pending.snapshot, decodeImage(pending.snapshot.chunks[0] as Uint8Array).chain)
    }
    if (this.options.isDiskLying === true && replica.beforeLastWrite !== null) replica.storage = replica.beforeLastWrite
    replica.beforeLastWrite = null
    replica.core = null
    replica.pending = null
    this.#count('crash')
    this.#log(`n${replica.id} crashes`)
  }

  #partition(): void {
    this.#blocked.clear()
    const ids = this.replicas.map((replica) => replica.id)
    const shape = this.random.int(5)
    const cut = (a: number, b: number) => {
      this.#blocked.add(`${a}>${b}`)
      this.#blocked.add(`${b}>${a}`)
    }
    if (shape === 0) {
      const side = new Set(ids.filter(() => this.random.chance(0.5)))
      for (const a of ids) for (const b of ids) if (side.has(a) && !side.has(b)) cut(a, b)
      this.#log(`partition: {${[...side].join(',')}} | rest`)
    } else if (shape === 1) {
      const leader = this.#leader()?.id ?? this.random.pick(ids)
      for (const other of ids) if (other !== leader) cut(leader, other)
      this.#log(`partition: n${leader} isolated`)
    } else if (shape === 2) {
      const links: string[] = []
      for (let i = this.random.between(1, ids.length); i > 0; i--) {
        const from = this.random.pick(ids)
        const to = this.random.pick(ids)
        if (from !== to) {
          this.#blocked.add(`${from}>${to}`)
          links.push(`${from}>${to}`)
        }
      }
      this.#log(`partition: one-way ${links.join(' ')}`)
    } else if (shape === 3) {
      const bridge = this.random.pick(ids)
      const side = new Set(ids.filter((id) => id !== bridge && this.random.chance(0.5)))
      for (const a of ids) {
        for (const b of ids) if (a !== bridge && b !== bridge && side.has(a) && !side.has(b)) cut(a, b)
      }
      this.#log(`partition: n${bridge} bridges {${[...side].join(',')}} and the rest`)
    } else {
      this.#log('partition: healed')
    }
  }

  #chaos(): void {
    const roll = this.options.isCalm === true ? 100 : this.random.int(100)
    const up = this.replicas.filter((replica) => replica.core !== null)
    if (roll < 10) {
      this.#partition()
    } else if (roll < 18 && up.length > 0) {
      const victim = this.random.chance(0.3) ? (this.#leader() ?? this.random.pick(up)) : this.random.pick(up)
      this.#crash(victim)
      this.#schedule(this.random.between(1, 30) * tickUnits, { kind: 'restart', id: victim.id })
    } else if (roll < 23) {
      this.#faults = this.#drawFaults()
    } else if (roll < 30) {
      this.#changeMembership()
    } else if (roll < 45 && up.length > 0) {
      this.#snapshot(this.random.pick(up))
    } else if (roll < 48) {
      const leader = this.#leader()
      const to = leader === null ? 0 : this.random.pick(leader.core?.voters() ?? [0])
      if (leader !== null && to !== leader.id && leader.core?.transferLeadership(to) === true) {
        this.#count('leadership transfer')
        this.#log(`n${leader.id} transfers leadership to n${to}`)
      }
    } else if (roll < 50) {
      const replica = this.random.pick(up.length > 0 ? up : this.replicas)
      replica.core?.campaign()
    }
    this.#schedule(this.random.between(1, 3 * tickUnits), { kind: 'chaos' })
  }

  #changeMembership(): void {
    const leader = this.#leader()
    const core = leader?.core
    if (leader === null || core === undefined || core === null) return
    const voters = core.voters()
    const n = this.options.replicas
    const canAdd = voters.length < n + 1
    const canRemove = voters.length > n - 1
    let next: number[]
    if (canAdd && (!canRemove || this.random.chance(0.5))) {
      const outside = this.replicas.map((replica) => replica.id).filter((id) => !voters.includes(id))
      const added = this.random.pick(outside)
      // As the replica adds a voter: half the time caught up as a learner first.
      if (this.random.chance(0.5) && core.addLearner(added)) {
        this.#count('learner added')
        this.#log(`n${leader.id} catches n${added} up as a learner`)
        this.#schedule(this.random.between(1, 3 * electionTicks) * tickUnits, { kind: 'promote', leaderId: leader.id, incarnation: leader.incarnation, learner: added })
        return
      }
      next = [...voters, added]
    } else {
      const out = this.random.pick(voters)
      next = voters.filter((id) => id !== out)
    }
    const index = core.proposeMembership(next)
    if (index !== null) this.#count('membership change proposed')
    if (index !== null) this.#log(`n${leader.id} proposes voters ${next.join(',')} at ${index}`)
  }

  #promote(event: Extract<SimEvent, { kind: 'promote' }>): void {
    const leader = this.#replica(event.leaderId)
    const core = leader.core
    // Learners are forgotten with leadership (or a crash).
    if (core === null || leader.incarnation !== event.incarnation || core.status().role !== 'leader') return
    if (this.random.chance(0.2)) {
      core.removeLearner(event.learner)
      this.#count('learner given up')
      this.#log(`n${leader.id} gives up on learner n${event.learner}`)
      return
    }
    const voters = core.voters()
    const next = [...voters, event.learner]
    if (voters.includes(event.learner) || core.proposeMembership(next) === null) return
    core.removeLearner(event.learner)
    this.#count('learner promoted')
    if ((core.matchOf(event.learner) ?? 0) > 0) this.#count('learner promoted with entries')
    this.#log(`n${leader.id} proposes learner n${event.learner}: voters ${next.join(',')}`)
  }

  #snapshot(replica: SimReplica): void {
    const core = replica.core as RaftCore
    const { storage, machine } = replica
    const snapshotIndex = storage.snapshotMeta()?.index ?? 0
    // As the replica does: snapshots are taken between Readies, when what
    // was applied is on the disk too (committed entries are applied before
    // their Ready's writes land).
    if (replica.pending !== null) return
    if (machine.index <= snapshotIndex || machine.index < storage.firstIndex() - 1) return
    const term = storage.term(machine.index)
    if (term === undefined) return
    const image = machine.image()
    storage.saveSnapshot(
      { meta: { index: machine.index, term, extra: simMembership.encode(core.votersAt(machine.index)) }, chunks: [encodeImage(image)] },
      image.chain,
    )
    const through = Math.max(storage.firstIndex() - 1, machine.index - this.random.int(4))
    storage.compact(through)
    this.#count('snapshot taken')
    this.#log(`n${replica.id} snapshots at ${machine.index}, compacts through ${through}`)
  }

  #client(): void {
    // Any replica that believes it leads gets requests, stale leaders too.
    const leader = this.random.pick(this.replicas)
    if (leader.core?.status().role === 'leader') {
      if (this.random.chance(0.8)) {
        const count = this.random.between(1, 3)
        const data = Array.from({ length: count }, () => simProposal(++this.#serial))
        const index = leader.core.propose(data)
        if (index !== null) this.#count('proposal')
        if (index !== null) this.#log(`n${leader.id} proposes ${data.map(describeData).join(' ')} at ${index}`)
      } else {
        const context = ++this.#readContext
        this.checker.onReadIndex(context)
        if (leader.core.readIndex(context)) this.#log(`n${leader.id} read index ${context}`)
      }
    }
    this.#schedule(this.random.between(1, 2 * tickUnits), { kind: 'client' })
  }

  // The loop.

  #handle(event: SimEvent): void {
    switch (event.kind) {
      case 'tick': {
        const replica = this.#replica(event.id)
        if (replica.core === null || replica.incarnation !== event.incarnation) return
        replica.core.tick()
        const drift = this.#isChaos ? this.random.between(-2, 2) : 0
        this.#schedule(tickUnits + drift, event)
        return
      }
      case 'deliver':
        this.#deliver(event.message)
        return
      case 'persist': {
        const replica = this.#replica(event.id)
        if (replica.core === null || replica.incarnation !== event.incarnation || replica.pending === null) return
        this.#persist(replica)
        return
      }
      case 'restart': {
        const replica = this.#replica(event.id)
        if (replica.core !== null) return
        this.#start(replica, this.#bootstrapVoters())
        this.#log(`n${replica.id} restarts: ${replica.storage.describe()}`)
        return
      }
      case 'promote':
        this.#promote(event)
        return
      case 'chaos':
        if (this.#isChaos) this.#chaos()
        return
      case 'client':
        this.#client()
        return
    }
  }

  #bootstrapVoters(): number[] {
    return Array.from({ length: this.options.replicas }, (_, i) => i + 1)
  }

  /** Runs one event and the checks; false when the queue is empty. */
  step(): boolean {
    const next = this.#queue.pop()
    if (next === undefined) return false
    this.#now = next.at
    this.#events++
    this.#handle(next.event)
    this.#nemesis()
    for (const replica of this.replicas) this.#takeReady(replica)
    this.checker.observe(this.replicas)
    return true
  }

  runUntil(time: number): void {
    while (this.#now < time && this.step()) {
      // Each step checks the world.
    }
  }

  heal(): void {
    this.#isChaos = false
    this.#blocked.clear()
    this.#faults = calmNetwork
    this.#log('heal: faults stop, the network heals, every replica restarts')
    for (const replica of this.replicas) {
      if (replica.core === null) this.#start(replica, this.#bootstrapVoters())
    }
  }

  /**
   * After heal(): runs until a leader has committed a new entry and every
   * voter applied it; returns the ticks that took, or null past the bound.
   */
  awaitLiveness(ticksMax: number): number | null {
    const start = this.#now
    const deadline = start + ticksMax * tickUnits
    let marker: { index: number; key: string; term: number } | null = null
    while (this.#now < deadline) {
      const leader = this.#leader()
      const status = leader?.core?.status()
      if (leader !== null && status !== undefined && (marker === null || marker.term !== status.term)) {
        const data = simProposal(++this.#serial)
        const index = leader.core?.propose([data]) ?? null
        if (index !== null) {
          marker = { index, key: dataKey(data), term: status.term }
          this.#log(`liveness: n${leader.id} proposes marker at ${index}`)
        }
      }
      if (marker !== null && status !== undefined && this.checker.appliedDataAt(marker.index) === marker.key) {
        const isEverywhere = status.voters.every((id) => this.#replica(id).machine.index >= (marker as { index: number }).index)
        if (isEverywhere) return Math.ceil((this.#now - start) / tickUnits)
      }
      if (!this.step()) break
    }
    return null
  }

  get events(): number {
    return this.#events
  }

  describe(): string {
    return this.replicas
      .map((replica) => {
        const status = replica.core?.status()
        const head = status === undefined ? 'down' : `${status.role} t${status.term} commit ${status.commit} applied ${status.applied} voters ${status.voters.join(',')}`
        return `n${replica.id} ${head}; disk ${replica.storage.describe()}`
      })
      .join('\n')
  }
}

export function runSimulation(options: SimOptions): SimResult {
  const world = new RaftWorld(options)
  let failure: string | null = null
  let healTicks = -1
  try {
    world.runUntil(options.chaosTicks * tickUnits)
    world.heal()
    const ticks = world.awaitLiveness(options.healTicksMax)
    if (ticks === null) failure = `liveness: no entry committed on every voter within ${options.healTicksMax} ticks of healing`
    else healTicks = ticks
  } catch (error) {
    if (!(error instanceof SafetyViolation) && !(error instanceof Error)) throw error
    failure = `${error.name}: ${error.message}${error instanceof SafetyViolation ? '' : `\n${error.stack ?? ''}`}`
  }
  if (failure !== null && options.isTracing) world.trace.push(`final state:\n${world.describe()}`)
  return {
    seed: options.seed,
    failure,
    trace: world.trace,
    events: world.events,
    commit: world.checker.maxCommit,
    healTicks,
    leaders: world.checker.leaders.size,
    counts: world.counts,
  }
}
