// Real herd clusters for tests: N replica processes on loopback, ports chosen
// at run time, one temporary data directory each, a shared secret. With
// `proxied`, every directed peer link goes through a fault proxy
// (fault-proxy.ts): replica A reaches B at the proxy A->B, so a test can cut
// or degrade any link, one way or both.
import { createServer } from 'node:net'
import { join } from 'node:path'
import { LinkTable } from './fault-proxy.ts'
import { makeTempDir, removeTempDir, startNode, type NodeProcess } from './node-process.ts'

export interface ClusterOptions {
  readonly size: number
  /** Extra options for every replica. */
  readonly args?: readonly string[]
  /** Route peer traffic through a LinkTable of fault proxies. */
  readonly proxied?: boolean
  readonly seed?: number
  /** Replicas beyond `size` that may join later (ports and directories are set aside for them). */
  readonly spares?: number
  /** Environment of every replica process (e.g. HERD_FAILPOINTS), on every start. */
  readonly env?: Readonly<Record<string, string>>
  /** Environment of one replica, over `env` (e.g. a clock fault on one node). */
  readonly replicaEnv?: Readonly<Record<number, Readonly<Record<string, string>>>>
  /** Runs on each replica's data directory before its first start (a test mounting a small disk there). */
  readonly prepareDataDir?: (dir: string, id: number) => void
}

export interface ClusterStatusBody {
  readonly id: number
  readonly role: string
  readonly term: number
  readonly leader: number | null
  readonly commitZxid: number
  readonly appliedZxid: number
  readonly cutOff: boolean
  readonly digest: string
  readonly znodes: number
  readonly sessions: number
}

export const clusterSecret = 'test-cluster-secret-0123456789'

/** Ports nobody listens on right now (bound to 0, then released). */
export async function freePorts(count: number): Promise<number[]> {
  // Below the kernel's ephemeral range (32768 and up on Linux): a port the OS
  // hands out for outgoing connections (or listen(0)) never lands on one of
  // these, so a replica restarted on its port finds it free again.
  const ports: number[] = []
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (!ports.includes(port) && (await canListen(port))) ports.push(port)
  }
  return ports
}

async function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

export class TestCluster {
  readonly ids: number[]
  readonly nodes = new Map<number, NodeProcess>()
  readonly #clientPorts: number[]
  readonly #peerPorts: number[]
  /** Where every replica's data directory lies; removed by stop(). */
  readonly #root: string
  readonly #dataDirs: string[]
  readonly #args: readonly string[]
  #env: Readonly<Record<string, string>>
  readonly #pastOutput = new Map<number, string>()
  #replicaEnv: Readonly<Record<number, Readonly<Record<string, string>>>>
  readonly links: LinkTable | null

  private constructor(options: ClusterOptions, clientPorts: number[], peerPorts: number[], links: LinkTable | null) {
    this.ids = Array.from({ length: options.size }, (_, i) => i + 1)
    this.#clientPorts = clientPorts
    this.#peerPorts = peerPorts
    this.#args = options.args ?? []
    this.#env = options.env ?? {}
    this.#replicaEnv = options.replicaEnv ?? {}
    this.links = links
    this.#root = makeTempDir('herd-cluster-')
    this.#dataDirs = clientPorts.map((_, i) => join(this.#root, `replica-${i + 1}`))
  }

  static async start(options: ClusterOptions): Promise<TestCluster> {
    const total = options.size + (options.spares ?? 0)
    const ports = await freePorts(2 * total)
    const clientPorts = ports.slice(0, total)
    const peerPorts = ports.slice(total)
    let links: LinkTable | null = null
    if (options.proxied === true) {
      const ids = Array.from({ length: options.size }, (_, i) => i + 1)
      links = await LinkTable.start(ids, {
        seed: options.seed ?? 1,
        targets: new Map(ids.map((id) => [id, { host: '127.0.0.1', port: peerPorts[id - 1] as number }])),
      })
    }
    const cluster = new TestCluster(options, clientPorts, peerPorts, links)
    try {
      for (const id of cluster.ids) options.prepareDataDir?.(cluster.dataDir(id), id)
      await Promise.all(cluster.ids.map((id) => cluster.startReplica(id)))
    } catch (error) {
      await cluster.stop()
      throw error
    }
    return cluster
  }

  url(id: number): string {
    return `http://127.0.0.1:${this.#clientPorts[id - 1] as number}`
  }

  /** The port replica `id`'s peer server listens on (its --peer-port; the proxies, when proxied, forward to it). */
  peerPort(id: number): number {
    return this.#peerPorts[id - 1] as number
  }

  /**
   * Starts a spare replica with --join (knowing the current voters and
   * itself); it counts among `ids` from then on. Adding it to the voters
   * (POST /cluster/members) is the test's business.
   */
  async join(id: number): Promise<NodeProcess> {
    if (!this.ids.includes(id)) this.ids.push(id)
    return this.startReplica(id, ['--join'])
  }

  /** Everything replica `id` printed, over all its starts so far. */
  output(id: number): string {
    const past = this.#pastOutput.get(id) ?? ''
    return past + (this.nodes.get(id)?.output() ?? '')
  }

  /** The data directory of replica `id`. */
  dataDir(id: number): string {
    return this.#dataDirs[id - 1] as string
  }

  /** From now on, every replica starts with `env` instead of the cluster's and its own: a test turning its failpoints on or off. */
  setEnv(env: Readonly<Record<string, string>>): void {
    this.#env = env
    this.#replicaEnv = {}
  }

  /** Starts (or restarts) replica `id` on its data directory and ports. */
  async startReplica(id: number, extra: readonly string[] = []): Promise<NodeProcess> {
    const peers = this.ids
      .map((peer) => {
        if (peer !== id && this.links !== null) return `${peer}=${this.links.address(id, peer).host}:${this.links.address(id, peer).port}`
        return `${peer}=127.0.0.1:${this.#peerPorts[peer - 1] as number}`
      })
      .join(',')
    const previous = this.nodes.get(id)
    if (previous !== undefined) {
      const ended = previous.child.signalCode ?? previous.child.exitCode ?? 'running'
      this.#pastOutput.set(id, `${this.#pastOutput.get(id) ?? ''}${previous.output()}\n---- (that process ended: ${ended}) restarted ----\n`)
    }
    const node = await startNode({
      dataDir: this.#dataDirs[id - 1] as string,
      port: this.#clientPorts[id - 1] as number,
      args: ['--replica-id', String(id), '--peers', peers, '--peer-port', String(this.#peerPorts[id - 1]), '--serve-threads', '1', ...this.#args, ...extra],
      env: { HERD_CLUSTER_SECRET: clusterSecret, ...this.#env, ...this.#replicaEnv[id] },
    })
    this.nodes.set(id, node)
    return node
  }

  /**
   * GET /cluster of replica `id`, or null when it does not answer in time.
   * The replica asks every other member for its report (for up to 1 s each,
   * src/api/cluster.ts), so the default allows for peers cut off or down;
   * with `local` it asks nobody else and answers at once.
   */
  async status(id: number, timeoutMs = 3000, local = false): Promise<ClusterStatusBody | null> {
    try {
      const response = await fetch(`${this.url(id)}/cluster${local ? '?local' : ''}`, { signal: AbortSignal.timeout(timeoutMs) })
      return response.status === 200 ? ((await response.json()) as ClusterStatusBody) : null
    } catch {
      return null
    }
  }

  /** The replica that every live replica of `among` agrees leads, once they agree. */
  async leader(among: readonly number[] = this.ids, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const statuses = await Promise.all(among.map((id) => this.status(id)))
      const leaders = statuses.filter((status): status is ClusterStatusBody => status !== null && status.role === 'leader')
      const leader = leaders[0]
      if (leaders.length === 1 && leader !== undefined && statuses.every((status) => status === null || status.leader === leader.id)) return leader.id
      if (Date.now() > deadline) throw new Error(`no agreed leader among ${among.join(', ')} within ${timeoutMs} ms: ${JSON.stringify(statuses)}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  /** Waits until every replica of `among` has applied the same zxid, and answers their statuses. */
  async converged(among: readonly number[] = this.ids, timeoutMs = 15_000): Promise<ClusterStatusBody[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const statuses = await Promise.all(among.map((id) => this.status(id)))
      const applied = new Set(statuses.map((status) => status?.appliedZxid))
      if (statuses.every((status) => status !== null) && applied.size === 1) return statuses as ClusterStatusBody[]
      if (Date.now() > deadline) throw new Error(`replicas did not converge within ${timeoutMs} ms: ${JSON.stringify(statuses)}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** Kills every replica, closes the link proxies and removes the data directories. */
  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((node) => node.kill()))
    await this.links?.close()
    removeTempDir(this.#root)
  }
}

/** A write a cluster acknowledged (201), with the data it wrote. */
export interface Acked {
  readonly path: string
  readonly data: string
}

/**
 * A client writing its own znodes (`${prefix}/c<client>-<i>`) one request at
 * a time, through whichever replicas `targets()` names now, in turn, until
 * told to stop; what was acknowledged goes to `acked`. No answer, or any
 * other status, is not an acknowledgement.
 */
export async function writer(client: number, prefix: string, targets: () => readonly string[], acked: Acked[], isDone: () => boolean, timeoutMs: number): Promise<void> {
  for (let i = 0; !isDone(); i++) {
    const urls = targets()
    if (urls.length === 0) {
      // Every replica is down (a fault suite's nemesis): wait, never spin on failing at once.
      await new Promise((resolve) => setTimeout(resolve, 50))
      continue
    }
    const url = urls[(client + i) % urls.length] as string
    const path = `${prefix}/c${client}-${i}`
    const data = `v${client}-${i}`
    try {
      const response = await fetch(`${url}/znodes${path}`, { method: 'PUT', body: data, signal: AbortSignal.timeout(timeoutMs) })
      await response.arrayBuffer()
      if (response.status === 201) acked.push({ path, data })
    } catch {
      // the replica died under us, or the write's outcome is unknown: neither counts as acknowledged
    }
  }
}

/** The acknowledged writes a replica (at `url`) does not hold with their data, read `parallel` at a time. */
export async function missingOn(url: string, acked: readonly Acked[], parallel = 16): Promise<string[]> {
  const missing: string[] = []
  let next = 0
  const reader = async (): Promise<void> => {
    for (let i = next++; i < acked.length; i = next++) {
      const { path, data } = acked[i] as Acked
      const response = await fetch(`${url}/znodes${path}?raw`)
      if (response.status !== 200 || (await response.text()) !== data) missing.push(path)
    }
  }
  await Promise.all(Array.from({ length: parallel }, reader))
  return missing
}
