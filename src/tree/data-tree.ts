// DataTree: the deterministic znode state machine. apply(entry) checks the
// command against the tree exactly as ZooKeeper's PrepRequestProcessor
// does, makes the change and returns the outcome and the watch events. It
// reads nothing but the entry and the tree.
import { AclTable, checkAcl } from './acl.ts'
import { SortedChildren } from './children.ts'
import { digestFromScratch, rehashZnode, TreeDigest } from './digest.ts'
import { IdempotencyTable, type IdempotencyRecord } from './idempotency.ts'
import { baseName, isReservedPath, parentPath, reservedPath, rootPath, validatePath } from './paths.ts'
import { multiFailure, restoreFields, saveFields, type Undo } from './multi.ts'
import { formatSequence } from './sequence.ts'
import { makeSession, type Session } from './sessions.ts'
import {
  Perms,
  openAcl,
  type Acl,
  type Applied,
  type ChildrenPage,
  type CloseSessionCommand,
  type CreateSessionCommand,
  type Entry,
  type Failure,
  type MultiOp,
  type OpResult,
  type Outcome,
  type PutOp,
  type ReapCandidate,
  type ReapCommand,
  type Result,
  type SessionInfo,
  type SetAclOp,
  type Stat,
  type TreeEvent,
  type TreeReader,
  type ZnodeData,
  type ZnodeKind,
} from './types.ts'
import { checkCreateMode, isReapable, isVersionMatch, nextVersion, statOf, Znode } from './znode.ts'
import { assert } from '../assert.ts'
import type { ErrorCode } from '../errors.ts'

/** Cluster-wide limits: every replica must apply with the same ones, or they diverge. */
export interface TreeOptions {
  readonly znodesMax: number
  readonly sessionsMax: number
  readonly ephemeralsPerSessionMax: number
  readonly idempotencyKeysMax: number
}

/** What a snapshot holds of one znode, beyond what its parent implies. */
export interface ZnodeRecord {
  readonly path: string
  readonly data: Uint8Array
  readonly acl: Acl
  readonly kind: ZnodeKind
  readonly ephemeralOwner: number
  readonly ttlMs: number
  readonly czxid: number
  readonly ctime: number
  readonly mzxid: number
  readonly mtime: number
  readonly pzxid: number
  readonly version: number
  readonly aversion: number
  readonly creations: number
}

type CreateResult = Extract<OpResult, { type: 'create' }>

const noEvents: readonly TreeEvent[] = Object.freeze([])
const emptyData = new Uint8Array(0)
const readOnlyAcl: Acl = Object.freeze([Object.freeze({ scheme: 'world', id: 'anyone', perms: Perms.read })])

function failure(code: ErrorCode, path: string | null, detail: string): Failure {
  return { code, path, detail }
}

function isFailure(value: object): value is Failure {
  return 'code' in value
}

function checkOptions(options: TreeOptions): void {
  for (const [name, value] of Object.entries(options)) {
    assert(Number.isSafeInteger(value) && (value as number) > 0, `TreeOptions.${name} must be a positive integer`)
  }
}

export class DataTree implements TreeReader {
  private readonly options: TreeOptions
  private readonly znodes = new Map<string, Znode>()
  private readonly sessions = new Map<number, Session>()
  private acls = new AclTable()
  private readonly treeDigest = new TreeDigest()
  private readonly idempotency: IdempotencyTable
  /** Indexes for reapCandidates, so it never walks the whole tree. */
  private readonly containers = new Set<Znode>()
  private readonly ttls = new Set<Znode>()
  private lastZxid = 0

  constructor(options: TreeOptions) {
    checkOptions(options)
    this.options = Object.freeze({ ...options })
    this.idempotency = new IdempotencyTable(options.idempotencyKeysMax)
    this.addSystemZnodes()
  }

  /**
   * ZooKeeper's DataTree constructor: the root, /zookeeper, /zookeeper/quota
   * and /zookeeper/config, with zero stats, added with addChild and no
   * cversion change; so a fresh root shows numChildren 1 and cversion -1.
   */
  private addSystemZnodes(): void {
    const root = new Znode(rootPath, '', null, emptyData, this.acls.retain(this.acls.intern(openAcl)), 'persistent', 0, 0, 0, 0)
    this.znodes.set(rootPath, root)
    rehashZnode(root)
    this.treeDigest.add(root)
    for (const [path, acl] of [
      ['/zookeeper', openAcl],
      ['/zookeeper/quota', openAcl],
      ['/zookeeper/config', readOnlyAcl],
    ] as const) {
      const parent = this.znodes.get(parentPath(path) as string) as Znode
      const znode = new Znode(path, baseName(path), parent, emptyData, this.acls.intern(acl), 'persistent', 0, 0, 0, 0)
      this.treeDigest.subtract(parent)
      this.attach(znode)
      rehashZnode(parent)
      this.treeDigest.add(parent)
    }
  }

  // ------------------------------------------------------------ TreeReader

  get zxid(): number {
    return this.lastZxid
  }

  get znodeCount(): number {
    return this.znodes.size
  }

  get sessionCount(): number {
    return this.sessions.size
  }

  getData(path: string): ZnodeData | undefined {
    const znode = this.znodes.get(path)
    return znode === undefined ? undefined : { data: znode.data, stat: statOf(znode) }
  }

  exists(path: string): Stat | undefined {
    const znode = this.znodes.get(path)
    return znode === undefined ? undefined : statOf(znode)
  }

  getChildren(path: string, after: string | null, limit: number): ChildrenPage | undefined {
    assert(Number.isSafeInteger(limit) && limit > 0, 'getChildren limit must be a positive integer')
    const znode = this.znodes.get(path)
    if (znode === undefined) return undefined
    if (znode.children === null) return { children: [], stat: statOf(znode), next: null }
    const page = znode.children.page(after, limit)
    const next = page.hasMore ? (page.names[page.names.length - 1] as string) : null
    return { children: page.names, stat: statOf(znode), next }
  }

  countDescendants(path: string): number | undefined {
    return this.znodes.get(path)?.descendants
  }

  getAcl(path: string): { readonly acl: Acl; readonly stat: Stat } | undefined {
    const znode = this.znodes.get(path)
    return znode === undefined ? undefined : { acl: znode.acl.acl, stat: statOf(znode) }
  }

  getEphemerals(sessionId: number, prefix: string): readonly string[] {
    const session = this.sessions.get(sessionId)
    if (session === undefined) return []
    const paths: string[] = []
    for (const path of session.ephemerals) if (path.startsWith(prefix)) paths.push(path)
    return paths.sort()
  }

  getSession(sessionId: number): SessionInfo | undefined {
    const session = this.sessions.get(sessionId)
    if (session === undefined) return undefined
    const { timeoutMs, secretHash } = session
    return { sessionId, timeoutMs, secretHash, ephemeralCount: session.ephemerals.size }
  }

  sessionIds(): readonly number[] {
    return Array.from(this.sessions.keys())
  }

  reapCandidates(nowMs: number, max: number): readonly ReapCandidate[] {
    const candidates: ReapCandidate[] = []
    for (const znode of this.containers) {
      if (candidates.length >= max) return candidates
      if (isReapable(znode, nowMs)) candidates.push({ path: znode.path, czxid: znode.czxid })
    }
    for (const znode of this.ttls) {
      if (candidates.length >= max) return candidates
      if (isReapable(znode, nowMs)) candidates.push({ path: znode.path, czxid: znode.czxid })
    }
    return candidates
  }

  digest(): string {
    return this.treeDigest.toHex()
  }

  /** The digest recomputed over every znode from raw fields: for tests of the incremental one. */
  computeDigestFromScratch(): string {
    return digestFromScratch(this.znodes.values())
  }

  // ------------------------------------------------------------ apply

  /**
   * Applies one committed entry. Total: a ZooKeeper-level failure is an
   * Outcome; a throw is a bug. Entries must come in increasing zxid order.
   */
  apply(entry: Entry): Applied {
    assert(Number.isSafeInteger(entry.zxid) && entry.zxid > this.lastZxid, `entry zxid ${entry.zxid} after ${this.lastZxid}`)
    const claim = entry.idempotency
    let applied: Applied
    if (claim === null) {
      applied = this.applyCommand(entry)
    } else {
      this.idempotency.prune(entry.timeMs)
      const record = this.idempotency.lookup(claim.key, entry.timeMs)
      if (record === undefined) {
        applied = this.applyCommand(entry)
        this.idempotency.store({ key: claim.key, fingerprint: claim.fingerprint, outcome: applied.outcome, expiresAtMs: entry.timeMs + claim.windowMs, zxid: entry.zxid })
      } else if (record.fingerprint === claim.fingerprint) {
        applied = { outcome: record.outcome, events: noEvents, replayOf: record.zxid }
      } else {
        const detail = `Idempotency-Key '${claim.key}' was used for a different request`
        applied = { outcome: { ok: false, failure: failure('IdempotencyKeyReused', null, detail) }, events: noEvents, replayOf: null }
      }
    }
    this.lastZxid = entry.zxid
    return applied
  }

  private applyCommand(entry: Entry): Applied {
    const command = entry.command
    const callerSession = entry.caller.sessionId
    if (callerSession !== 0 && command.type !== 'createSession' && !this.sessions.has(callerSession)) {
      const path = 'path' in command ? command.path : null
      return failed(failure('SessionExpired', path, `session ${callerSession} does not exist`))
    }
    const events: TreeEvent[] = []
    let result: Result | Failure
    switch (command.type) {
      case 'create':
      case 'delete':
      case 'setData':
        result = this.applyOp(command, entry, events, null)
        break
      case 'put':
        result = this.put(command, entry, events)
        break
      case 'setACL':
        result = this.setAcl(command)
        break
      case 'multi':
        return this.multi(command.ops, entry)
      case 'createSession':
        result = this.createSession(command, entry)
        break
      case 'closeSession':
        result = this.closeSession(command, entry, events)
        break
      case 'reap':
        result = this.reap(command, entry, events)
        break
      case 'noop':
      case 'membership':
        result = { type: 'noop' }
        break
      default:
        result = failure('BadArguments', null, `unknown command type '${String((command as { type: unknown }).type)}'`)
    }
    if (isFailure(result)) return failed(result)
    return { outcome: { ok: true, result }, events, replayOf: null }
  }

  /** The ops a multi may hold; create, delete and setData are also commands of their own. */
  private applyOp(op: MultiOp, entry: Entry, events: TreeEvent[], undo: Undo[] | null): OpResult | Failure {
    switch (op.type) {
      case 'create':
        return this.create(op.path, op.data, op.acl, op.kind, op.isSequential, op.ttlMs, entry, events, undo)
      case 'delete':
        return this.delete(op.path, op.version, entry, events, undo)
      case 'setData':
        return this.setData(op.path, op.data, op.version, entry, events, undo)
      case 'check':
        return this.check(op.path, op.version)
      default:
        return failure('BadArguments', null, `'${String((op as { type: unknown }).type)}' is not a multi op`)
    }
  }

  // ------------------------------------------------------------ commands

  private create(
    path: string,
    data: Uint8Array,
    acl: Acl,
    kind: ZnodeKind,
    isSequential: boolean,
    ttlMs: number,
    entry: Entry,
    events: TreeEvent[],
    undo: Undo[] | null,
  ): CreateResult | Failure {
    const pathReason = validatePath(path, isSequential)
    if (pathReason !== null) return failure('BadArguments', path, pathReason)
    // A sequential name only adds digits, so the prefix decides: "/zookeeper/" is
    // reserved, while the prefix "/zookeeper" names "/zookeeper0000000001".
    if (isReservedPath(path) && !(isSequential && path === reservedPath)) return failure('BadArguments', path, `${path} is under the reserved /zookeeper`)
    const modeReason = checkCreateMode(kind, isSequential, ttlMs)
    if (modeReason !== null) return failure('BadArguments', path, modeReason)
    const aclReason = checkAcl(acl)
    if (aclReason !== null) return failure('InvalidACL', path, aclReason)
    // As ZooKeeper does, the parent is everything before the last '/' of the
    // path as given ("/tasks/" and "/tasks/job-" are both under "/tasks").
    const slash = path.lastIndexOf('/')
    const parent = slash > 0 ? this.znodes.get(path.slice(0, slash)) : isSequential || path.length > 1 ? this.znodes.get(rootPath) : undefined
    const finalPath = isSequential && parent !== undefined ? path + formatSequence(parent.creations) : path
    // get, not has: V8's Map.has is markedly slower on fresh concatenated strings.
    if (this.znodes.get(finalPath) !== undefined) return failure('NodeExists', path, `${finalPath} exists`)
    if (parent === undefined) return failure('NoNode', path, `the parent of ${path} does not exist`)
    if (parent.kind === 'ephemeral') return failure('NoChildrenForEphemerals', path, `${parent.path} is ephemeral`)
    const sessionId = entry.caller.sessionId
    const session = kind === 'ephemeral' ? this.sessions.get(sessionId) : undefined
    if (kind === 'ephemeral' && session === undefined) {
      return failure('SessionExpired', path, sessionId === 0 ? 'an ephemeral znode needs a session' : `session ${sessionId} does not exist`)
    }
    if (this.znodes.size >= this.options.znodesMax) return failure('QuotaExceeded', path, `the tree holds znodesMax (${this.options.znodesMax}) znodes`)
    if (session !== undefined && session.ephemerals.size >= this.options.ephemeralsPerSessionMax) {
      return failure('QuotaExceeded', path, `session ${sessionId} owns ephemeralsPerSessionMax (${this.options.ephemeralsPerSessionMax}) ephemerals`)
    }

    const zxid = entry.zxid
    const owner = kind === 'ephemeral' ? sessionId : 0
    const znode = new Znode(finalPath, baseName(finalPath), parent, data, this.acls.intern(acl), kind, owner, ttlMs, zxid, entry.timeMs)
    if (undo !== null) undo.push(saveFields(parent))
    this.treeDigest.subtract(parent)
    parent.creations++
    parent.pzxid = zxid
    this.attach(znode)
    rehashZnode(parent)
    this.treeDigest.add(parent)
    if (undo !== null) undo.push({ type: 'attached', znode })

    const stat = statOf(znode)
    events.push(
      { type: 'NodeCreated', path: finalPath, zxid, stat },
      { type: 'NodeChildrenChanged', path: parent.path, zxid, stat: statOf(parent) },
    )
    return { type: 'create', path: finalPath, stat }
  }

  private delete(path: string, version: number, entry: Entry, events: TreeEvent[], undo: Undo[] | null): OpResult | Failure {
    const reason = checkWritablePath(path)
    if (reason !== null) return failure('BadArguments', path, reason)
    if (path === rootPath) return failure('BadArguments', path, 'the root cannot be deleted')
    const znode = this.znodes.get(path)
    if (znode === undefined) return failure('NoNode', path, `${path} does not exist`)
    if (!isVersionMatch(version, znode.version)) return failure('BadVersion', path, `${path} is at version ${znode.version}, not ${version}`)
    if (znode.numChildren > 0) return failure('NotEmpty', path, `${path} has ${znode.numChildren} children`)
    this.remove(znode, entry.zxid, events, undo)
    return { type: 'delete', path }
  }

  private setData(path: string, data: Uint8Array, version: number, entry: Entry, events: TreeEvent[], undo: Undo[] | null): OpResult | Failure {
    const reason = checkWritablePath(path)
    if (reason !== null) return failure('BadArguments', path, reason)
    const znode = this.znodes.get(path)
    if (znode === undefined) return failure('NoNode', path, `${path} does not exist`)
    if (!isVersionMatch(version, znode.version)) return failure('BadVersion', path, `${path} is at version ${znode.version}, not ${version}`)
    const stat = this.changeData(znode, data, entry, events, undo)
    return { type: 'setData', path, stat }
  }

  private check(path: string, version: number): OpResult | Failure {
    // A check reads; it may name a reserved path.
    const reason = validatePath(path, false)
    if (reason !== null) return failure('BadArguments', path, reason)
    const znode = this.znodes.get(path)
    if (znode === undefined) return failure('NoNode', path, `${path} does not exist`)
    if (!isVersionMatch(version, znode.version)) return failure('BadVersion', path, `${path} is at version ${znode.version}, not ${version}`)
    return { type: 'check', path }
  }

  private put(op: PutOp, entry: Entry, events: TreeEvent[]): Result | Failure {
    const reason = checkWritablePath(op.path)
    if (reason !== null) return failure('BadArguments', op.path, reason)
    const znode = this.znodes.get(op.path)
    if (znode !== undefined) {
      const stat = this.changeData(znode, op.data, entry, events, null)
      return { type: 'put', path: op.path, isCreated: false, stat }
    }
    const created = this.create(op.path, op.data, op.acl, 'persistent', false, 0, entry, events, null)
    if (isFailure(created)) return created
    return { type: 'put', path: op.path, isCreated: true, stat: created.stat }
  }

  private setAcl(op: SetAclOp): Result | Failure {
    const reason = checkWritablePath(op.path)
    if (reason !== null) return failure('BadArguments', op.path, reason)
    const aclReason = checkAcl(op.acl)
    if (aclReason !== null) return failure('InvalidACL', op.path, aclReason)
    const znode = this.znodes.get(op.path)
    if (znode === undefined) return failure('NoNode', op.path, `${op.path} does not exist`)
    if (!isVersionMatch(op.version, znode.aversion)) {
      return failure('BadVersion', op.path, `${op.path} is at aversion ${znode.aversion}, not ${op.version}`)
    }
    this.treeDigest.subtract(znode)
    const acl = this.acls.retain(this.acls.intern(op.acl))
    this.acls.release(znode.acl)
    znode.acl = acl
    znode.aversion = nextVersion(znode.aversion)
    rehashZnode(znode)
    this.treeDigest.add(znode)
    // ZooKeeper fires no watch for an ACL change.
    return { type: 'setACL', path: op.path, stat: statOf(znode) }
  }

  /**
   * All or nothing, under one zxid. Ops run in order against the live tree
   * (so later ops see earlier ones, as ZooKeeper's pending change records
   * allow); the first failure rolls every change back.
   */
  private multi(ops: readonly MultiOp[], entry: Entry): Applied {
    const events: TreeEvent[] = []
    const undo: Undo[] = []
    const results: OpResult[] = []
    for (let index = 0; index < ops.length; index++) {
      const op = ops[index] as MultiOp
      const result = this.applyOp(op, entry, events, undo)
      if (isFailure(result)) {
        this.rollback(undo)
        return failed(multiFailure(ops, index, result))
      }
      results.push(result)
    }
    return { outcome: { ok: true, result: { type: 'multi', results } }, events, replayOf: null }
  }

  private createSession(command: CreateSessionCommand, entry: Entry): Result | Failure {
    if (this.sessions.size >= this.options.sessionsMax) {
      return failure('QuotaExceeded', null, `sessionsMax (${this.options.sessionsMax}) sessions are open`)
    }
    const sessionId = entry.zxid
    assert(!this.sessions.has(sessionId), `session ${sessionId} exists`)
    this.sessions.set(sessionId, makeSession(sessionId, command.timeoutMs, command.secretHash))
    return { type: 'createSession', sessionId, timeoutMs: command.timeoutMs }
  }

  private closeSession(command: CloseSessionCommand, entry: Entry, events: TreeEvent[]): Result | Failure {
    const session = this.sessions.get(command.sessionId)
    if (session === undefined) return failure('SessionExpired', null, `session ${command.sessionId} does not exist`)
    // Sorted, so every replica deletes (and reports) in the same order.
    const deletedPaths = Array.from(session.ephemerals).sort()
    for (const path of deletedPaths) {
      const znode = this.znodes.get(path)
      assert(znode !== undefined && znode.numChildren === 0, `ephemeral ${path} of session ${command.sessionId}`)
      this.remove(znode, entry.zxid, events, null)
    }
    assert(session.ephemerals.size === 0, 'closeSession left ephemerals behind')
    this.sessions.delete(command.sessionId)
    return { type: 'closeSession', sessionId: command.sessionId, deletedPaths }
  }

  private reap(command: ReapCommand, entry: Entry, events: TreeEvent[]): Result {
    const znode = this.znodes.get(command.path)
    // Judged again at apply, with the entry's time: the leader's view when it
    // proposed may be stale, and a recreated znode (another czxid) is spared.
    if (znode === undefined || znode.czxid !== command.czxid || !isReapable(znode, entry.timeMs)) {
      return { type: 'reap', path: command.path, isDeleted: false }
    }
    this.remove(znode, entry.zxid, events, null)
    return { type: 'reap', path: command.path, isDeleted: true }
  }

  // ------------------------------------------------------------ changes

  private changeData(znode: Znode, data: Uint8Array, entry: Entry, events: TreeEvent[], undo: Undo[] | null): Stat {
    if (undo !== null) undo.push(saveFields(znode))
    this.treeDigest.subtract(znode)
    znode.replaceData(data)
    znode.version = nextVersion(znode.version)
    znode.mzxid = entry.zxid
    znode.mtime = entry.timeMs
    rehashZnode(znode)
    this.treeDigest.add(znode)
    const stat = statOf(znode)
    events.push({ type: 'NodeDataChanged', path: znode.path, zxid: entry.zxid, stat })
    return stat
  }

  /** Deletes a childless znode: the parent's pzxid moves, its cversion does not (ZooKeeper's deleteNode). */
  private remove(znode: Znode, zxid: number, events: TreeEvent[], undo: Undo[] | null): void {
    const parent = znode.parent
    assert(parent !== null && znode.numChildren === 0, `cannot remove ${znode.path}`)
    if (undo !== null) undo.push(saveFields(parent))
    this.treeDigest.subtract(parent)
    this.detach(znode)
    parent.pzxid = zxid
    rehashZnode(parent)
    this.treeDigest.add(parent)
    if (undo !== null) undo.push({ type: 'detached', znode })
    events.push(
      { type: 'NodeDeleted', path: znode.path, zxid, stat: null },
      { type: 'NodeChildrenChanged', path: parent.path, zxid, stat: statOf(parent) },
    )
  }

  /**
   * Links a znode into the tree and every index, and adds its hash. The
   * parent's own hash changes too (numChildren): the caller rehashes it.
   */
  private attach(znode: Znode): void {
    const parent = znode.parent
    assert(parent !== null, `cannot attach the root ${znode.path}`)
    const count = this.znodes.size
    this.znodes.set(znode.path, znode)
    assert(this.znodes.size === count + 1, `${znode.path} is already in the tree`)
    znode.acl = this.acls.retain(znode.acl)
    parent.children ??= new SortedChildren<Znode>()
    parent.children.insert(znode)
    for (let ancestor: Znode | null = parent; ancestor !== null; ancestor = ancestor.parent) ancestor.descendants++
    if (znode.kind === 'ephemeral') (this.sessions.get(znode.ephemeralOwner) as Session).ephemerals.add(znode.path)
    else if (znode.kind === 'container') this.containers.add(znode)
    else if (znode.kind === 'ttl') this.ttls.add(znode)
    rehashZnode(znode)
    this.treeDigest.add(znode)
  }

  /** The inverse of attach; the znode object keeps its fields, so attach can put it back. */
  private detach(znode: Znode): void {
    const parent = znode.parent as Znode
    this.treeDigest.subtract(znode)
    this.znodes.delete(znode.path)
    const isRemoved = parent.children?.remove(znode.name) === true
    assert(isRemoved, `${znode.path} missing from its parent`)
    if (parent.children?.size === 0) parent.children = null
    for (let ancestor: Znode | null = parent; ancestor !== null; ancestor = ancestor.parent) ancestor.descendants--
    if (znode.kind === 'ephemeral') this.sessions.get(znode.ephemeralOwner)?.ephemerals.delete(znode.path)
    else if (znode.kind === 'container') this.containers.delete(znode)
    else if (znode.kind === 'ttl') this.ttls.delete(znode)
    this.acls.release(znode.acl)
  }

  private rollback(undo: Undo[]): void {
    for (let i = undo.length - 1; i >= 0; i--) {
      const step = undo[i] as Undo
      const znode = step.znode
      if (step.type === 'fields') {
        this.treeDigest.subtract(znode)
        restoreFields(znode, step.saved, this.acls)
        rehashZnode(znode)
        this.treeDigest.add(znode)
        continue
      }
      const parent = znode.parent as Znode
      this.treeDigest.subtract(parent)
      if (step.type === 'attached') this.detach(znode)
      else this.attach(znode)
      rehashZnode(parent)
      this.treeDigest.add(parent)
    }
  }

  // ------------------------------------------------------------ snapshots (snapshot.ts)

  /** Every znode, parents before children, children in name order: a deterministic walk. */
  *walkZnodes(): Generator<Znode> {
    const root = this.znodes.get(rootPath) as Znode
    yield root
    const stack: Iterator<Znode>[] = []
    if (root.children !== null) stack.push(root.children[Symbol.iterator]())
    while (stack.length > 0) {
      const next = (stack[stack.length - 1] as Iterator<Znode>).next()
      if (next.done === true) {
        stack.pop()
        continue
      }
      const child = next.value
      yield child
      if (child.children !== null) stack.push(child.children[Symbol.iterator]())
    }
  }

  sessionsInOrder(): IterableIterator<Session> {
    return this.sessions.values()
  }

  idempotencyInOrder(): IterableIterator<IdempotencyRecord> {
    return this.idempotency.values()
  }

  /** Empties the tree (system znodes too) before a snapshot is loaded into it. */
  clearForRestore(): void {
    this.znodes.clear()
    this.sessions.clear()
    this.containers.clear()
    this.ttls.clear()
    this.idempotency.clear()
    this.acls = new AclTable()
    this.treeDigest.reset()
    this.lastZxid = 0
  }

  /**
   * Loads one znode of a snapshot. Returns null, or why the record cannot
   * belong to a tree (the snapshot may come from a peer: it is checked, not
   * trusted). Parents come before children, sessions before their ephemerals.
   */
  restoreZnode(record: ZnodeRecord): string | null {
    const { path, kind, ttlMs, ephemeralOwner } = record
    if (validatePath(path, false) !== null) return `invalid path ${JSON.stringify(path)}`
    if (this.znodes.get(path) !== undefined) return `duplicate znode ${path}`
    const parentName = parentPath(path)
    const parent = parentName === null ? null : this.znodes.get(parentName)
    if (parent === undefined) return `${path} comes before its parent`
    if (parent === null && this.znodes.size > 0) return 'a second root'
    if (parent?.kind === 'ephemeral') return `${path} is a child of an ephemeral`
    if ((kind === 'ephemeral') !== (ephemeralOwner !== 0)) return `${path} has a bad ephemeral owner`
    if (kind === 'ephemeral' && !this.sessions.has(ephemeralOwner)) return `${path} is owned by unknown session ${ephemeralOwner}`
    if (checkCreateMode(kind, false, ttlMs) !== null) return `${path} has a bad TTL`
    if (checkAcl(record.acl) !== null) return `${path} has an invalid ACL`
    const acl = this.acls.intern(record.acl)
    const znode = new Znode(path, baseName(path), parent, record.data, acl, kind, ephemeralOwner, ttlMs, record.czxid, record.ctime)
    znode.mzxid = record.mzxid
    znode.mtime = record.mtime
    znode.pzxid = record.pzxid
    znode.version = record.version
    znode.aversion = record.aversion
    znode.creations = record.creations
    if (parent === null) {
      znode.acl = this.acls.retain(acl)
      this.znodes.set(path, znode)
      rehashZnode(znode)
      this.treeDigest.add(znode)
      return null
    }
    this.treeDigest.subtract(parent)
    this.attach(znode)
    rehashZnode(parent)
    this.treeDigest.add(parent)
    return null
  }

  /** Loads one session of a snapshot; null, or why it cannot be loaded. */
  restoreSession(sessionId: number, timeoutMs: number, secretHash: string): string | null {
    if (this.sessions.has(sessionId)) return `duplicate session ${sessionId}`
    if (sessionId <= 0) return `bad session id ${sessionId}`
    this.sessions.set(sessionId, makeSession(sessionId, timeoutMs, secretHash))
    return null
  }

  restoreIdempotency(record: IdempotencyRecord): void {
    this.idempotency.store(record)
  }

  restoreZxid(zxid: number): void {
    this.lastZxid = zxid
  }
}

function failed(reason: Failure): Applied {
  return { outcome: { ok: false, failure: reason } satisfies Outcome, events: noEvents, replayOf: null }
}

/** BadArguments reasons shared by every write: a malformed path, or one under /zookeeper. */
function checkWritablePath(path: string): string | null {
  const reason = validatePath(path, false)
  if (reason !== null) return reason
  if (isReservedPath(path)) return `${path} is under the reserved /zookeeper`
  return null
}
