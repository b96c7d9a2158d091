// HerdClient: ZooKeeper's client API over herd's HTTP contract. One method
// per ZooKeeper call, named as ZooKeeper names it; results are the
// contract's shapes (openapi.gen.ts) with data as bytes.
//
// Lifecycle, as undici's: close() is graceful (ends the client's sessions,
// ends its watches, lets calls in flight finish), destroy() is at once.
import { HerdClientError } from './client-error.ts'
import { checkRetries, newIdempotencyKey, withRetries } from './retry.ts'
import { HerdSession } from './session.ts'
import { firstEvent } from './sse.ts'
import { znodeTarget, type QueryPart } from './target.ts'
import { Transaction, type TransactionCreateOptions } from './transaction.ts'
import { Transport, type Call, type Reply } from './transport.ts'
import type {
  AclEntry,
  AclView,
  ChildrenPage,
  Children,
  ClusterStatus,
  Data,
  DataEncoding,
  Descendants,
  DataResult,
  DeleteResult,
  Health,
  MultiOp,
  MultiReadResponse,
  MultiResponse,
  NewSession,
  ReadOp,
  ReadResult,
  Stat,
  SyncResult,
  TextDataResult,
  WatchEvent,
  WatchKind,
  WriteResult,
  Znode,
  ZnodeStat,
} from './types.ts'

export interface HerdClientOptions {
  /** A replica's URL, e.g. http://127.0.0.1:8181. */
  readonly url?: string
  /** Several replicas: calls go to one and move to the next when it is lost; reads then wait for the client's last zxid. */
  readonly urls?: readonly string[]
  /** Deadline of a call (for its headers, then for its body). Default 15 s, above the server's 10 s write and read-wait bounds. */
  readonly timeoutMs?: number
  /** Connections per replica for calls. Default 64. */
  readonly connectionsPerUrlMax?: number
  /** Connections per replica for watch streams (each pending watch holds one). Default 1024. */
  readonly watchStreamsPerUrlMax?: number
}

export interface CallOptions {
  readonly signal?: AbortSignal
}

export interface WriteOptions extends CallOptions {
  /** Makes the write happen at most once: a retry with the same key returns the first result. */
  readonly idempotencyKey?: string
  /**
   * Retry after ConnectionLoss, OperationTimeout or Throttled, up to this many
   * times, with the same Idempotency-Key (a fresh one when none is given), so
   * the write still happens at most once. Default 0.
   */
  readonly retries?: number
  /** Make the write in this session (HerdSession's own methods set it). */
  readonly session?: HerdSession
}

export interface CreateOptions extends WriteOptions, TransactionCreateOptions {}

export interface GetDataOptions extends CallOptions {
  /** Answer with the data as text in this encoding instead of bytes (utf8 fails with BadArguments on data that is not UTF-8). */
  readonly encoding?: DataEncoding
}

export interface ChildrenPageOptions extends CallOptions {
  /** The most names in the page (the server caps it). */
  readonly limit?: number
  /** The `next` of the previous page. */
  readonly cursor?: string
}

export interface WatchOptions extends CallOptions {
  /**
   * The zxid the caller last saw (e.g. a read's `zxid`): a matching change
   * after it fires at once, so nothing between the read and the watch is
   * missed. Default: the zxid applied when the watch is armed.
   */
  readonly zxid?: number
}

export interface OpenSessionOptions extends CallOptions {
  /** The requested timeout; the server clamps it (by default to 4-40 s). Default: the server's maximum. */
  readonly timeoutMs?: number
  /** Called once when the server reports the session gone (410 on a heartbeat or a session write). */
  readonly onExpired?: (error: HerdClientError) => void
}

const defaultTimeoutMs = 15_000
const octetStream = 'application/octet-stream'
const jsonType = 'application/json'
/** getChildren restarts its paging when the parent's children change under it, at most this often. */
const childrenRestartsMax = 3
/** The longest watch event accepted (a path of the server's maximum and a stat fit many times over). */
const watchEventCharsMax = 1024 * 1024

export class HerdClient {
  readonly #transport: Transport
  readonly #sessions = new Set<HerdSession>()
  readonly #watches = new Set<AbortController>()

  constructor(options: HerdClientOptions) {
    const urls = options.urls ?? (options.url === undefined ? [] : [options.url])
    if (urls.length === 0) throw new TypeError('HerdClient needs a url (or urls)')
    this.#transport = new Transport({
      urls,
      timeoutMs: options.timeoutMs ?? defaultTimeoutMs,
      connectionsPerUrlMax: options.connectionsPerUrlMax ?? 64,
      watchStreamsPerUrlMax: options.watchStreamsPerUrlMax ?? 1024,
    })
  }

  /** The highest zxid any replica has reported to this client. */
  get lastZxid(): number {
    return this.#transport.zxidSeen
  }

  /** The replica URL calls go to now. */
  get currentUrl(): string {
    return this.#transport.currentUrl
  }

  // ── writes ────────────────────────────────────────────────────────────

  /** ZooKeeper's create: NodeExists if it exists, NoNode if the parent is missing. The result names the real path (with the sequence suffix). */
  async create(path: string, data: Data = '', options: CreateOptions = {}): Promise<WriteResult> {
    const query: QueryPart[] = []
    if (options.sequential === true) query.push(['sequential'])
    if (options.ephemeral === true) query.push(['ephemeral'])
    if (options.container === true) query.push(['container'])
    if (options.ttlMs !== undefined) query.push(['ttl', options.ttlMs])
    for (const entry of options.acl ?? []) query.push(['acl', `${entry.scheme}:${entry.id}:${entry.perms}`])
    return this.#write<WriteResult>(
      { method: 'PUT', target: znodeTarget(path, query), headers: { 'content-type': octetStream, 'if-none-match': '*' }, body: data },
      options,
    )
  }

  /** Upsert: setData when the znode exists, else create it (persistent, open ACL); `created` says which. */
  async put(path: string, data: Data, options: WriteOptions = {}): Promise<WriteResult> {
    return this.#write<WriteResult>({ method: 'PUT', target: znodeTarget(path), headers: { 'content-type': octetStream }, body: data }, options)
  }

  /** ZooKeeper's setData: BadVersion unless the data version is `version` (-1: any). */
  async setData(path: string, data: Data, version = -1, options: WriteOptions = {}): Promise<WriteResult> {
    return this.#write<WriteResult>(
      { method: 'PUT', target: znodeTarget(path), headers: { 'content-type': octetStream, 'if-match': version === -1 ? '*' : `"${version}"` }, body: data },
      options,
    )
  }

  /** ZooKeeper's delete: NotEmpty while it has children, BadVersion unless the version is `version` (-1: any). */
  async delete(path: string, version = -1, options: WriteOptions = {}): Promise<DeleteResult> {
    return this.#write<DeleteResult>({ method: 'DELETE', target: znodeTarget(path), headers: versionHeader(version) }, options)
  }

  /** ZooKeeper's setACL: BadVersion unless the ACL version (aversion) is `version` (-1: any). */
  async setAcl(path: string, acl: readonly AclEntry[], version = -1, options: WriteOptions = {}): Promise<WriteResult> {
    return this.#write<WriteResult>(
      { method: 'PUT', target: znodeTarget(path, [['acl']]), headers: { 'content-type': jsonType, ...versionHeader(version) }, body: JSON.stringify({ acl }) },
      options,
    )
  }

  /** ZooKeeper's multi: every operation at one zxid, or none (see HerdClientError.results). */
  async multi(ops: readonly MultiOp[], options: WriteOptions = {}): Promise<MultiResponse> {
    return this.#write<MultiResponse>({ method: 'POST', target: '/multi', headers: { 'content-type': jsonType }, body: JSON.stringify({ ops }) }, options)
  }

  /** ZooKeeper's Transaction: gather operations, then commit() them as one multi. */
  transaction(): Transaction<WriteOptions> {
    return new Transaction((ops, options) => this.multi(ops, options))
  }

  // ── reads ─────────────────────────────────────────────────────────────

  /** ZooKeeper's getData: the bytes and stat, or with `encoding` the data as text. NoNode if missing. */
  getData(path: string, options: GetDataOptions & { readonly encoding: DataEncoding }): Promise<TextDataResult>
  getData(path: string, options?: CallOptions): Promise<DataResult>
  async getData(path: string, options: GetDataOptions = {}): Promise<DataResult | TextDataResult> {
    if (options.encoding !== undefined) {
      const reply = await this.#read<Znode>(znodeTarget(path, [['encoding', options.encoding]]), options)
      const { data, encoding, stat } = reply.body
      return { data, encoding, stat, zxid: reply.zxid }
    }
    const reply = await this.#transport.bytes(this.#readCall(znodeTarget(path, [['raw']]), options))
    const header = reply.headers['herd-stat']
    if (typeof header !== 'string') throw new HerdClientError({ code: 'MarshallingError', status: reply.status, detail: 'raw data came without Herd-Stat' })
    return { data: reply.body, stat: JSON.parse(header) as Stat, zxid: reply.zxid }
  }

  /** ZooKeeper's exists: the stat, or null when there is no such znode. */
  async exists(path: string, options: CallOptions = {}): Promise<Stat | null> {
    try {
      return (await this.#read<ZnodeStat>(znodeTarget(path, [['stat']]), options)).body.stat
    } catch (error) {
      if (error instanceof HerdClientError && error.code === 'NoNode') return null
      throw error
    }
  }

  /**
   * ZooKeeper's getChildren: every child's name, sorted. Follows the paging
   * cursor; if the children change between pages it starts again, so the
   * names are those of one moment (at most a few restarts, then
   * OperationTimeout).
   */
  async getChildren(path: string, options: CallOptions = {}): Promise<string[]> {
    for (let restarts = 0; restarts <= childrenRestartsMax; restarts++) {
      const names: string[] = []
      let page = await this.getChildrenPage(path, options)
      const { cversion } = page.stat
      names.push(...page.children)
      while (page.next !== null && page.stat.cversion === cversion) {
        page = await this.getChildrenPage(path, { ...options, cursor: page.next })
        names.push(...page.children)
      }
      if (page.stat.cversion === cversion) return names
    }
    throw new HerdClientError({ code: 'OperationTimeout', detail: `the children of ${path} changed during each of ${childrenRestartsMax + 1} attempts to list them` })
  }

  /** One page of getChildren with the parent's stat; pass `next` as `cursor` for the following page (null on the last). */
  async getChildrenPage(path: string, options: ChildrenPageOptions = {}): Promise<ChildrenPage> {
    const query: QueryPart[] = [['children']]
    if (options.limit !== undefined) query.push(['limit', options.limit])
    if (options.cursor !== undefined) query.push(['cursor', options.cursor])
    const reply = await this.#read<Children>(znodeTarget(path, query), options)
    return { ...reply.body, zxid: reply.zxid }
  }

  /** ZooKeeper's getAllChildrenNumber: how many znodes lie below `path`. */
  async countDescendants(path: string, options: CallOptions = {}): Promise<number> {
    return (await this.#read<Descendants>(znodeTarget(path, [['descendants']]), options)).body.count
  }

  /** ZooKeeper's getACL: the ACL and the stat (its aversion is setAcl's version). */
  async getAcl(path: string, options: CallOptions = {}): Promise<AclView> {
    return (await this.#read<AclView>(znodeTarget(path, [['acl']]), options)).body
  }

  /** ZooKeeper's multiRead: each read answered on its own (not atomic); a failed one carries its code. */
  async multiRead(ops: readonly ReadOp[], options: CallOptions = {}): Promise<ReadResult[]> {
    const call: Call = { ...this.#readCall('/multi-read', options), method: 'POST', headers: { 'content-type': jsonType }, body: JSON.stringify({ ops }) }
    return (await this.#transport.json<MultiReadResponse>(call)).body.results
  }

  /** ZooKeeper's sync: resolves (with the zxid) once this replica has applied every write committed before it. */
  async sync(path?: string, options: CallOptions = {}): Promise<number> {
    const call: Call = {
      method: 'POST',
      target: '/sync',
      headers: { 'content-type': jsonType },
      body: JSON.stringify(path === undefined ? {} : { path }),
      isIdempotent: true,
      takesMinZxid: false,
      signal: options.signal,
    }
    return (await this.#transport.json<SyncResult>(call)).body.zxid
  }

  /** The replica's view of the cluster: role, term, zxids, digest. */
  async cluster(options: CallOptions = {}): Promise<ClusterStatus> {
    return (await this.#transport.json<ClusterStatus>({ ...this.#readCall('/cluster', options), takesMinZxid: false })).body
  }

  /** Liveness: the replica is up and applying. */
  async health(options: CallOptions = {}): Promise<Health> {
    return (await this.#transport.json<Health>({ ...this.#readCall('/health', options), takesMinZxid: false })).body
  }

  // ── sessions and watches ──────────────────────────────────────────────

  /** Opens a session that heartbeats by itself until close() or expiry. */
  async openSession(options: OpenSessionOptions = {}): Promise<HerdSession> {
    const reply = await this.#transport.json<NewSession>({
      method: 'POST',
      target: '/sessions',
      headers: { 'content-type': jsonType },
      body: JSON.stringify(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      isIdempotent: false,
      takesMinZxid: false,
      signal: options.signal,
    })
    const session = new HerdSession({
      client: this,
      transport: this.#transport,
      opened: reply.body,
      onExpired: options.onExpired,
      onEnded: (ended) => this.#sessions.delete(ended),
    })
    this.#sessions.add(session)
    return session
  }

  /**
   * A one-shot watch: resolves with the first change of this kind after
   * `zxid` (data: NodeDataChanged or NodeDeleted; exists: also NodeCreated;
   * children: NodeChildrenChanged or NodeDeleted). `data` and `children`
   * need the znode to exist (NoNode otherwise). If the stream is lost, the
   * watch is armed again from the zxid it was armed at (on the next replica
   * when there are several), so no change is missed; when every replica has
   * been tried it rejects with ConnectionLoss, whose `zxid` is where to
   * re-arm. Aborting `signal` closes the stream and rejects with its reason.
   */
  async watch(path: string, kind: WatchKind, options: WatchOptions = {}): Promise<WatchEvent> {
    const stop = new AbortController()
    this.#watches.add(stop)
    const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal])
    let zxid = options.zxid
    try {
      for (let attempt = 1; ; attempt++) {
        let failure: HerdClientError
        try {
          const query: QueryPart[] = [['watch', kind]]
          if (zxid !== undefined) query.push(['zxid', zxid])
          const call: Call = { method: 'GET', target: znodeTarget(path, query), isIdempotent: true, takesMinZxid: false, signal }
          const reply = await this.#transport.stream(call, async (body, armedZxid) => {
            // Armed at armedZxid with nothing since: re-arming from it misses nothing.
            zxid = armedZxid
            return firstEvent(body, watchEventCharsMax)
          })
          if (reply.body !== null) return JSON.parse(reply.body.data) as WatchEvent
          failure = new HerdClientError({ code: 'ConnectionLoss', detail: `the watch stream on ${path} ended before its event`, zxid })
          this.#transport.failover()
        } catch (error) {
          if (signal.aborted) throw signal.reason
          if (!(error instanceof HerdClientError) || error.code !== 'ConnectionLoss') throw error
          failure = zxid === undefined ? error : new HerdClientError({ code: 'ConnectionLoss', detail: error.detail, zxid, cause: error })
        }
        if (attempt >= this.#transport.replicaCount) throw failure
      }
    } finally {
      this.#watches.delete(stop)
    }
  }

  // ── lifecycle ─────────────────────────────────────────────────────────

  /**
   * Graceful: closes the sessions this client opened (their ephemerals go at
   * once), ends pending watches with ConnectionLoss, lets calls in flight
   * finish, then closes the connections.
   */
  async close(): Promise<void> {
    this.#stopWatches()
    await Promise.allSettled([...this.#sessions].map((session) => session.close()))
    await this.#transport.close()
  }

  /** At once: stops heartbeats (sessions expire on the server), fails calls and watches in flight, drops connections. */
  async destroy(): Promise<void> {
    for (const session of [...this.#sessions]) session.abandon()
    this.#stopWatches()
    await this.#transport.destroy()
  }

  #stopWatches(): void {
    for (const stop of this.#watches) stop.abort(new HerdClientError({ code: 'ConnectionLoss', detail: 'the client was closed' }))
  }

  async #write<T>(call: Omit<Call, 'isIdempotent' | 'takesMinZxid'>, options: WriteOptions): Promise<T> {
    const retries = checkRetries(options.retries ?? 0)
    const key = options.idempotencyKey ?? (retries > 0 ? newIdempotencyKey() : undefined)
    const headers: Record<string, string> = { ...call.headers, ...options.session?.headers }
    if (key !== undefined) headers['idempotency-key'] = key
    // With a key, sending the write again (to this replica or another) cannot do it twice.
    const send: Call = { ...call, headers, isIdempotent: key !== undefined, takesMinZxid: false, signal: options.signal }
    return withRetries(retries, options.signal, async () => (await this.#transport.json<T>(send)).body)
  }

  #read<T>(target: string, options: CallOptions): Promise<Reply<T>> {
    return this.#transport.json<T>(this.#readCall(target, options))
  }

  #readCall(target: string, options: CallOptions): Call {
    return { method: 'GET', target, isIdempotent: true, takesMinZxid: true, signal: options.signal }
  }
}

function versionHeader(version: number): Record<string, string> {
  return version === -1 ? {} : { 'if-match': `"${version}"` }
}
