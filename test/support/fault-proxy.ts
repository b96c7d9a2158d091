// An in-process TCP proxy that injects network faults on loopback (the
// primary design in RELIABILITY.md, "Network faults": etcd's proxy, no root).
// Each replica reaches each peer only through the proxy of that directed
// link, so a test can cut or degrade one link, one direction of it, or any
// set of links (a partition), and later cut one client off from its replica.
//
// Forward is the bytes the connecting side writes (a replica's requests to
// the peer), backward the bytes the target writes back (the peer's replies).
// Each direction of each connection is a FIFO queue drained by one pump, so
// a delay never reorders bytes and a blackhole holds them where they are:
// the pump stops and the source is paused, the kernel buffers fill and the
// sender stalls, as behind a silent drop. Held bytes, end-of-stream and
// resets are delivered in order once the direction heals, the way TCP would
// retransmit them; a test that wants them lost uses reject or drop instead.
// The end and the reset of a socket travel through the same queue as its
// bytes, so a peer never learns across a blackhole that the other side left.
//
// Every random choice comes from a seeded PRNG (the proxy's for accepting,
// one stream per connection and direction for chunks), so a seed replays the
// same decisions for the same sequence of connections and chunks.
import { connect, createServer, type Server, type Socket } from 'node:net'
import { assert, unreachable } from '../../src/assert.ts'

export type LinkMode =
  | { readonly kind: 'pass' }
  /** Accepts and holds connections, forwards nothing; connections already open stall too. */
  | { readonly kind: 'blackhole' }
  /** Resets new connections at once (RST) and resets the open ones when set. */
  | { readonly kind: 'reject' }
  /** Holds every chunk ms plus a uniform [0, jitterMs) before forwarding it, in order. */
  | { readonly kind: 'delay'; readonly ms: number; readonly jitterMs: number }
  /** Resets a new connection, or an open one on each chunk, with this probability. */
  | { readonly kind: 'drop'; readonly probability: number }
  /** Flips one byte (XOR with a non-zero value) of a chunk with this probability. */
  | { readonly kind: 'garble'; readonly probability: number }

/** Forward: bytes from the connecting side to the target; backward: the target's bytes back. */
export type Direction = 'forward' | 'backward'

export interface LinkModes {
  readonly forward: LinkMode
  readonly backward: LinkMode
}

export interface Target {
  readonly host: string
  readonly port: number
}

export interface FaultProxyOptions {
  /** Seeds every random choice; the same seed replays the same choices. */
  readonly seed?: number
  /** Connections over this are reset on accept. */
  readonly connectionsMax?: number
  /** Bytes queued per direction of a connection before its source is paused. */
  readonly queuedBytesMax?: number
}

export interface FaultProxy {
  readonly host: string
  /** The listening port, chosen by the OS. */
  readonly port: number
  /** Where new connections go; null resets them, as a port nobody listens on would. */
  readonly target: Target | null
  readonly seed: number
  setMode(mode: LinkMode, direction?: Direction | 'both'): void
  mode(): LinkModes
  /** Open connections make the next connections, not the open ones, go elsewhere. */
  setTarget(target: Target | null): void
  /** Connections accepted and not yet closed, held ones included. */
  connections(): number
  /** Closes the listener and every connection on both sides; resolves once all are closed. */
  close(): Promise<void>
}

const loopbackHost = '127.0.0.1'
const pass: LinkMode = { kind: 'pass' }

export async function startFaultProxy(target: Target | null, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const proxy = new TcpFaultProxy(target, options)
  await proxy.listen()
  return proxy
}

/** mulberry32: small, fast, and enough for fault decisions. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

function checkMode(mode: LinkMode): void {
  switch (mode.kind) {
    case 'pass':
    case 'blackhole':
    case 'reject':
      return
    case 'delay':
      assert(Number.isFinite(mode.ms) && mode.ms >= 0, `delay ms must be >= 0, not ${mode.ms}`)
      assert(Number.isFinite(mode.jitterMs) && mode.jitterMs >= 0, `delay jitterMs must be >= 0, not ${mode.jitterMs}`)
      return
    case 'drop':
    case 'garble':
      assert(mode.probability >= 0 && mode.probability <= 1, `${mode.kind} probability must be in [0, 1], not ${mode.probability}`)
      return
    default:
      unreachable(mode)
  }
}

function checkTarget(target: Target | null): void {
  // Fault tests may only ever reach loopback (RELIABILITY.md, workplace rule).
  assert(target === null || /^127\.\d+\.\d+\.\d+$/.test(target.host), `a fault proxy only targets 127.0.0.0/8, not ${target?.host}`)
}

/** RST where the socket allows it; a socket still connecting is just destroyed (resetAndDestroy would wait for it). */
function reset(socket: Socket): void {
  if (socket.destroyed) return
  if (socket.connecting) socket.destroy()
  else socket.resetAndDestroy()
}

function closed(socket: Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()))
}

type Item =
  | { readonly kind: 'data'; readonly bytes: Buffer; readonly releaseAtMs: number }
  | { readonly kind: 'end'; readonly releaseAtMs: number }
  | { readonly kind: 'reset'; readonly releaseAtMs: number }

/** One direction of one connection: source bytes queued, then released to the sink in order. */
class Pipe {
  readonly #source: Socket
  readonly #sink: Socket
  readonly #random: () => number
  readonly #queuedBytesMax: number
  readonly #onDrop: () => void
  #mode: LinkMode
  readonly #queue: Item[] = []
  #queuedBytes = 0
  #isSinkBlocked = false
  #isSourceDone = false
  #timer: NodeJS.Timeout | null = null

  constructor(source: Socket, sink: Socket, mode: LinkMode, random: () => number, queuedBytesMax: number, onDrop: () => void) {
    this.#source = source
    this.#sink = sink
    this.#mode = mode
    this.#random = random
    this.#queuedBytesMax = queuedBytesMax
    this.#onDrop = onDrop
    source.on('data', (chunk: Buffer) => this.#accept(chunk))
    source.once('end', () => this.#finish('end'))
    // A close without a clean end is a reset (or an error) to pass on.
    source.once('close', () => this.#finish('reset'))
    this.#updateFlow()
  }

  setMode(mode: LinkMode): void {
    this.#mode = mode
    this.#pump()
  }

  stop(): void {
    this.#clearTimer()
    this.#queue.length = 0
    this.#queuedBytes = 0
  }

  #accept(chunk: Buffer): void {
    const mode = this.#mode
    if (mode.kind === 'drop' && this.#random() < mode.probability) return this.#onDrop()
    let bytes = chunk
    if (mode.kind === 'garble' && chunk.length > 0 && this.#random() < mode.probability) {
      bytes = Buffer.from(chunk)
      const at = Math.floor(this.#random() * bytes.length)
      bytes[at] = (bytes[at] as number) ^ (1 + Math.floor(this.#random() * 255))
    }
    const delayMs = mode.kind === 'delay' ? mode.ms + this.#random() * mode.jitterMs : 0
    this.#queue.push({ kind: 'data', bytes, releaseAtMs: performance.now() + delayMs })
    this.#queuedBytes += bytes.length
    this.#pump()
  }

  #finish(kind: 'end' | 'reset'): void {
    if (this.#isSourceDone) return
    this.#isSourceDone = true
    const last = this.#queue.at(-1)
    const releaseAtMs = last?.releaseAtMs ?? performance.now()
    this.#queue.push({ kind, releaseAtMs })
    this.#pump()
  }

  /** Releases every item whose time has come, unless blackholed or the sink pushes back. */
  #pump(): void {
    this.#clearTimer()
    while (this.#queue.length > 0 && this.#mode.kind !== 'blackhole' && !this.#isSinkBlocked) {
      const head = this.#queue[0] as Item
      const waitMs = head.releaseAtMs - performance.now()
      if (waitMs > 0) {
        this.#timer = setTimeout(() => this.#pump(), Math.ceil(waitMs))
        break
      }
      this.#queue.shift()
      this.#deliver(head)
    }
    this.#updateFlow()
  }

  #deliver(item: Item): void {
    const sink = this.#sink
    if (item.kind === 'data') this.#queuedBytes -= item.bytes.length
    if (sink.destroyed) return
    if (item.kind === 'end') {
      sink.end()
    } else if (item.kind === 'reset') {
      reset(sink)
    } else if (!sink.write(item.bytes)) {
      this.#isSinkBlocked = true
      sink.once('drain', () => {
        this.#isSinkBlocked = false
        this.#pump()
      })
    }
  }

  /** Reads from the source only while something can move: a blackhole or a full queue pushes back on the sender. */
  #updateFlow(): void {
    if (this.#source.destroyed || this.#isSourceDone) return
    const shouldRead = this.#mode.kind !== 'blackhole' && this.#queuedBytes < this.#queuedBytesMax
    if (shouldRead && this.#source.isPaused()) this.#source.resume()
    else if (!shouldRead && !this.#source.isPaused()) this.#source.pause()
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }
}

/** An accepted socket and, once the link lets it through, its connection to the target. */
class Connection {
  readonly client: Socket
  #upstream: Socket | null = null
  #pipes: Pipe[] = []

  constructor(client: Socket) {
    this.client = client
    client.on('error', () => {})
    // Held until the link lets the connection through; the pipes take over from there.
    client.pause()
  }

  get isConnected(): boolean {
    return this.#upstream !== null
  }

  open(target: Target, modes: LinkModes, seed: number, index: number, queuedBytesMax: number): void {
    if (this.client.destroyed) return
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true })
    upstream.on('error', () => {})
    this.#upstream = upstream
    const drop = (): void => this.reset()
    const stream = (n: number): (() => number) => seededRandom((seed ^ Math.imul(2 * index + n, 0x9e3779b9)) >>> 0)
    this.#pipes = [
      new Pipe(this.client, upstream, modes.forward, stream(1), queuedBytesMax, drop),
      new Pipe(upstream, this.client, modes.backward, stream(2), queuedBytesMax, drop),
    ]
  }

  setModes(modes: LinkModes): void {
    this.#pipes[0]?.setMode(modes.forward)
    this.#pipes[1]?.setMode(modes.backward)
  }

  reset(): void {
    for (const pipe of this.#pipes) pipe.stop()
    reset(this.client)
    if (this.#upstream !== null) reset(this.#upstream)
  }

  destroy(): void {
    for (const pipe of this.#pipes) pipe.stop()
    this.client.destroy()
    this.#upstream?.destroy()
  }

  async closed(): Promise<void> {
    await closed(this.client)
    if (this.#upstream !== null) await closed(this.#upstream)
  }
}

class TcpFaultProxy implements FaultProxy {
  readonly host = loopbackHost
  readonly seed: number
  #port = 0
  #target: Target | null
  #modes: LinkModes = { forward: pass, backward: pass }
  readonly #server: Server
  readonly #connections = new Set<Connection>()
  readonly #random: () => number
  readonly #connectionsMax: number
  readonly #queuedBytesMax: number
  #accepted = 0
  #isClosed = false

  constructor(target: Target | null, options: FaultProxyOptions) {
    checkTarget(target)
    this.#target = target
    this.seed = (options.seed ?? 0x5eed) >>> 0
    this.#random = seededRandom(this.seed)
    this.#connectionsMax = options.connectionsMax ?? 1024
    this.#queuedBytesMax = options.queuedBytesMax ?? 4 * 1024 * 1024
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.#accept(socket))
  }

  get port(): number {
    return this.#port
  }

  get target(): Target | null {
    return this.#target
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(0, loopbackHost, () => resolve())
    })
    const address = this.#server.address()
    assert(address !== null && typeof address === 'object', 'a TCP listener has an address')
    this.#port = address.port
  }

  setMode(mode: LinkMode, direction: Direction | 'both' = 'both'): void {
    checkMode(mode)
    this.#modes = {
      forward: direction === 'backward' ? this.#modes.forward : mode,
      backward: direction === 'forward' ? this.#modes.backward : mode,
    }
    for (const connection of this.#connections) {
      if (mode.kind === 'reject') connection.reset()
      else if (connection.isConnected) connection.setModes(this.#modes)
      else this.#openIfLetThrough(connection)
    }
  }

  mode(): LinkModes {
    return this.#modes
  }

  setTarget(target: Target | null): void {
    checkTarget(target)
    this.#target = target
  }

  connections(): number {
    return this.#connections.size
  }

  async close(): Promise<void> {
    this.#isClosed = true
    const listenerClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    const connections = [...this.#connections]
    for (const connection of connections) connection.destroy()
    await Promise.all([listenerClosed, ...connections.map((connection) => connection.closed())])
  }

  #accept(client: Socket): void {
    const connection = new Connection(client)
    const modes = [this.#modes.forward, this.#modes.backward]
    const isDropped = modes.some((mode) => mode.kind === 'drop' && this.#random() < mode.probability)
    if (this.#isClosed || this.#connections.size >= this.#connectionsMax || isDropped || modes.some((mode) => mode.kind === 'reject')) {
      reset(client)
      return
    }
    this.#connections.add(connection)
    client.once('close', () => {
      // The connection counts until both of its sockets are closed.
      void connection.closed().then(() => this.#connections.delete(connection))
    })
    this.#openIfLetThrough(connection)
  }

  /** A blackhole in either direction holds a new connection: the target must not even see it accepted. */
  #openIfLetThrough(connection: Connection): void {
    if (this.#modes.forward.kind === 'blackhole' || this.#modes.backward.kind === 'blackhole') return
    if (this.#target === null) return connection.reset()
    connection.open(this.#target, this.#modes, this.seed, this.#accepted++, this.#queuedBytesMax)
  }
}

/** A replica's id, as in herd's --peers list. */
export type ReplicaId = number

/**
 * One proxy per directed link of a set of replicas, and the partition
 * vocabulary over them. Link from → to carries from's requests to `to`
 * (forward) and to's replies (backward); `from` is configured to reach `to`
 * at address(from, to).
 */
export class LinkTable {
  readonly replicaIds: readonly ReplicaId[]
  readonly #links: ReadonlyMap<string, FaultProxy>

  private constructor(replicaIds: readonly ReplicaId[], links: ReadonlyMap<string, FaultProxy>) {
    this.replicaIds = replicaIds
    this.#links = links
  }

  /** Starts N·(N−1) proxies; targets (the replicas' peer ports) may come later through setTarget. */
  static async start(replicaIds: readonly ReplicaId[], options: { readonly seed?: number; readonly targets?: ReadonlyMap<ReplicaId, Target> } = {}): Promise<LinkTable> {
    assert(new Set(replicaIds).size === replicaIds.length && replicaIds.length >= 2, `a link table needs two or more distinct replicas, not ${replicaIds.join(',')}`)
    const seed = options.seed ?? 0x5eed
    const pairs = replicaIds.flatMap((from) => replicaIds.filter((to) => to !== from).map((to) => [from, to] as const))
    const settled = await Promise.allSettled(pairs.map(([, to], index) => startFaultProxy(options.targets?.get(to) ?? null, { seed: seed + index })))
    const proxies = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
    const failure = settled.find((result) => result.status === 'rejected')
    if (failure !== undefined) {
      await Promise.all(proxies.map((proxy) => proxy.close()))
      throw failure.reason
    }
    return new LinkTable(replicaIds, new Map(pairs.map(([from, to], index) => [`${from}->${to}`, proxies[index] as FaultProxy])))
  }

  link(from: ReplicaId, to: ReplicaId): FaultProxy {
    const proxy = this.#links.get(`${from}->${to}`)
    assert(proxy !== undefined, `no link ${from}->${to} among replicas ${this.replicaIds.join(',')}`)
    return proxy
  }

  /** Where `from` reaches `to`. */
  address(from: ReplicaId, to: ReplicaId): Target {
    const proxy = this.link(from, to)
    return { host: proxy.host, port: proxy.port }
  }

  /** Every link into `replica` goes to this address from now on (e.g. once its peer port is known). */
  setTarget(replica: ReplicaId, target: Target | null): void {
    for (const from of this.#others(replica)) this.link(from, replica).setTarget(target)
  }

  /** Bytes from `from` to `to` are affected, on connections either side opened (iptables on `to`: -s from -j DROP). */
  oneWay(from: ReplicaId, to: ReplicaId, mode: LinkMode): void {
    this.link(from, to).setMode(mode, 'forward')
    this.link(to, from).setMode(mode, 'backward')
  }

  /** Blackholes every link to and from `replica`, both ways; other links keep their modes. */
  isolate(replica: ReplicaId): void {
    for (const other of this.#others(replica)) {
      this.link(replica, other).setMode({ kind: 'blackhole' })
      this.link(other, replica).setMode({ kind: 'blackhole' })
    }
  }

  /** Pass inside each group, blackhole across groups, both ways. Every replica is in exactly one group. */
  partition(groups: ReadonlyArray<readonly ReplicaId[]>): void {
    const groupOf = new Map<ReplicaId, number>()
    groups.forEach((group, index) => {
      for (const replica of group) {
        assert(!groupOf.has(replica), `replica ${replica} is in two groups`)
        groupOf.set(replica, index)
      }
    })
    assert(this.replicaIds.every((replica) => groupOf.has(replica)) && groupOf.size === this.replicaIds.length, `groups ${JSON.stringify(groups)} must cover replicas ${this.replicaIds.join(',')} exactly`)
    for (const [from, to] of this.#pairs()) {
      this.link(from, to).setMode(groupOf.get(from) === groupOf.get(to) ? pass : { kind: 'blackhole' })
    }
  }

  heal(): void {
    for (const [from, to] of this.#pairs()) this.link(from, to).setMode(pass)
  }

  /** One line per link, e.g. "1->3 blackhole" or "1->3 forward=delay 75+50ms backward=pass": for logs and test expectations. */
  describe(): string {
    return this.#pairs()
      .map(([from, to]) => {
        const { forward, backward } = this.link(from, to).mode()
        const text = formatMode(forward) === formatMode(backward) ? formatMode(forward) : `forward=${formatMode(forward)} backward=${formatMode(backward)}`
        return `${from}->${to} ${text}`
      })
      .join('\n')
  }

  async close(): Promise<void> {
    await Promise.all([...this.#links.values()].map((proxy) => proxy.close()))
  }

  #others(replica: ReplicaId): ReplicaId[] {
    assert(this.replicaIds.includes(replica), `unknown replica ${replica}`)
    return this.replicaIds.filter((other) => other !== replica)
  }

  #pairs(): Array<readonly [ReplicaId, ReplicaId]> {
    return this.replicaIds.flatMap((from) => this.#others(from).map((to) => [from, to] as const))
  }
}

export function formatMode(mode: LinkMode): string {
  switch (mode.kind) {
    case 'pass':
    case 'blackhole':
    case 'reject':
      return mode.kind
    case 'delay':
      return `delay ${mode.ms}+${mode.jitterMs}ms`
    case 'drop':
    case 'garble':
      return `${mode.kind} ${mode.probability}`
    default:
      return unreachable(mode)
  }
}
