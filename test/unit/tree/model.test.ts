// Model-based test: random command sequences applied to DataTree and to a
// deliberately naive reference model (a Map of path -> record, children
// found by scanning, multi undone by copying the whole map). After every
// step the outcomes, events and the whole visible state must agree, the
// incremental digest must equal a from-scratch one, and at random points a
// snapshot is restored and must then behave exactly like the original.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DataTree,
  Perms,
  openAcl,
  restoreSnapshot,
  ttlMsMax,
  writeSnapshot,
  type Acl,
  type Applied,
  type Command,
  type CreateOp,
  type Entry,
  type Failure,
  type MultiOp,
  type OpResult,
  type Outcome,
  type Result,
  type Stat,
  type TreeEvent,
  type TreeOptions,
  type ZnodeKind,
} from '../../../src/tree/index.ts'
import type { ErrorCode } from '../../../src/errors.ts'

const options: TreeOptions = { znodesMax: 12, sessionsMax: 3, ephemeralsPerSessionMax: 3, idempotencyKeysMax: 3 }
const bogusSession = 424_242

// ------------------------------------------------------------ the reference model

interface ModelZnode {
  data: Uint8Array
  acl: Acl
  kind: ZnodeKind
  owner: number
  ttlMs: number
  czxid: number
  ctime: number
  mzxid: number
  mtime: number
  pzxid: number
  version: number
  aversion: number
  creations: number
}

interface KeyRecord {
  key: string
  fingerprint: string
  outcome: Outcome
  expiresAtMs: number
  zxid: number
}

type OpOutcome = OpResult | Failure

const isFailure = (value: object): value is Failure => 'code' in value

function parentOf(path: string): string | null {
  if (path === '/') return null
  const parent = path.slice(0, path.lastIndexOf('/'))
  return parent === '' ? '/' : parent
}

function isValidPath(path: string): boolean {
  if (!path.startsWith('/')) return false
  if (path === '/') return true
  if (path.endsWith('/')) return false
  return path
    .slice(1)
    .split('/')
    .every((segment) => {
      if (segment === '' || segment === '.' || segment === '..') return false
      for (let i = 0; i < segment.length; i++) {
        const c = segment.charCodeAt(i)
        if (c <= 0x1f || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || c >= 0xfff0) return false
      }
      return true
    })
}

const isReserved = (path: string): boolean => path === '/zookeeper' || path.startsWith('/zookeeper/')

function sequenceSuffix(creations: number): string {
  const unsigned = ((creations % 2 ** 32) + 2 ** 32) % 2 ** 32
  const signed = unsigned >= 2 ** 31 ? unsigned - 2 ** 32 : unsigned
  return signed < 0 ? '-' + String(-signed).padStart(9, '0') : String(signed).padStart(10, '0')
}

/** Only the ACLs the generator makes: world:anyone and one digest id are valid. */
function isValidAcl(acl: Acl): boolean {
  return (
    acl.length > 0 &&
    acl.every(
      (e) =>
        Number.isInteger(e.perms) &&
        e.perms >= 0 &&
        e.perms <= 31 &&
        ((e.scheme === 'world' && e.id === 'anyone') || (e.scheme === 'digest' && e.id === 'user:hash')),
    )
  )
}

function dedupe(acl: Acl): Acl {
  const seen = new Set<string>()
  return acl.filter((e) => {
    const key = JSON.stringify([e.scheme, e.id, e.perms])
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

const fail = (code: ErrorCode, path: string | null): Failure => ({ code, path, detail: '' })

class Model {
  znodes = new Map<string, ModelZnode>()
  sessions = new Map<number, { timeoutMs: number; secretHash: string }>()
  keys: KeyRecord[] = []

  constructor() {
    for (const path of ['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config']) {
      const acl = path === '/zookeeper/config' ? [{ scheme: 'world', id: 'anyone', perms: Perms.read }] : openAcl
      this.znodes.set(path, { data: new Uint8Array(0), acl, kind: 'persistent', owner: 0, ttlMs: 0, czxid: 0, ctime: 0, mzxid: 0, mtime: 0, pzxid: 0, version: 0, aversion: 0, creations: 0 })
    }
  }

  children(path: string): string[] {
    return [...this.znodes.keys()].filter((p) => parentOf(p) === path).map((p) => p.slice(p.lastIndexOf('/') + 1)).sort()
  }

  stat(path: string): Stat {
    const z = this.znodes.get(path) as ModelZnode
    const numChildren = this.children(path).length
    return {
      czxid: z.czxid,
      mzxid: z.mzxid,
      pzxid: z.pzxid,
      ctime: z.ctime,
      mtime: z.mtime,
      version: z.version,
      cversion: z.creations * 2 - numChildren,
      aversion: z.aversion,
      ephemeralOwner: z.owner,
      dataLength: z.data.length,
      numChildren,
    }
  }

  ephemerals(sessionId: number): string[] {
    return [...this.znodes].filter(([, z]) => z.kind === 'ephemeral' && z.owner === sessionId).map(([p]) => p).sort()
  }

  isReapable(path: string, nowMs: number): boolean {
    const z = this.znodes.get(path) as ModelZnode
    if (this.children(path).length > 0) return false
    return (z.kind === 'container' && z.creations > 0) || (z.kind === 'ttl' && nowMs - z.mtime > z.ttlMs)
  }

  apply(entry: Entry): Applied {
    const claim = entry.idempotency
    if (claim === null) return this.applyCommand(entry)
    while (this.keys.length > 0 && (this.keys[0] as KeyRecord).expiresAtMs <= entry.timeMs) this.keys.shift()
    const found = this.keys.find((k) => k.key === claim.key && k.expiresAtMs > entry.timeMs)
    if (found !== undefined) {
      if (found.fingerprint === claim.fingerprint) return { outcome: found.outcome, events: [], replayOf: found.zxid }
      return failed(fail('IdempotencyKeyReused', null))
    }
    const applied = this.applyCommand(entry)
    this.keys = this.keys.filter((k) => k.key !== claim.key)
    this.keys.push({ key: claim.key, fingerprint: claim.fingerprint, outcome: applied.outcome, expiresAtMs: entry.timeMs + claim.windowMs, zxid: entry.zxid })
    while (this.keys.length > options.idempotencyKeysMax) this.keys.shift()
    return applied
  }

  private applyCommand(entry: Entry): Applied {
    const c = entry.command
    const caller = entry.caller.sessionId
    if (caller !== 0 && c.type !== 'createSession' && !this.sessions.has(caller)) return failed(fail('SessionExpired', 'path' in c ? c.path : null))
    const events: TreeEvent[] = []
    let result: Result | Failure
    switch (c.type) {
      case 'create':
      case 'delete':
      case 'setData':
        result = this.op(c, entry, events)
        break
      case 'put':
        if (!isValidPath(c.path) || isReserved(c.path)) result = fail('BadArguments', c.path)
        else if (this.znodes.has(c.path)) result = { type: 'put', path: c.path, isCreated: false, stat: this.setData(c.path, c.data, entry, events) }
        else {
          const created = this.create(c.path, c.data, c.acl, 'persistent', false, 0, entry, events)
          result = isFailure(created) ? created : { type: 'put', path: c.path, isCreated: true, stat: (created as { stat: Stat }).stat }
        }
        break
      case 'setACL': {
        const z = this.znodes.get(c.path)
        if (!isValidPath(c.path) || isReserved(c.path)) result = fail('BadArguments', c.path)
        else if (!isValidAcl(c.acl)) result = fail('InvalidACL', c.path)
        else if (z === undefined) result = fail('NoNode', c.path)
        else if (c.version !== -1 && c.version !== z.aversion) result = fail('BadVersion', c.path)
        else {
          z.acl = dedupe(c.acl)
          z.aversion++
          result = { type: 'setACL', path: c.path, stat: this.stat(c.path) }
        }
        break
      }
      case 'multi': {
        const saved = new Map([...this.znodes].map(([p, z]) => [p, { ...z }]))
        const results: OpResult[] = []
        for (const [index, op] of c.ops.entries()) {
          const r = this.op(op, entry, events)
          if (isFailure(r)) {
            this.znodes = saved
            return failed({
              ...fail(r.code, op.path),
              results: c.ops.map((o, i) => ({ code: i < index ? 'Ok' : i === index ? r.code : 'RuntimeInconsistency', path: o.path })),
              failedOp: index,
            })
          }
          results.push(r)
        }
        result = { type: 'multi', results }
        break
      }
      case 'createSession':
        if (this.sessions.size >= options.sessionsMax) result = fail('QuotaExceeded', null)
        else {
          this.sessions.set(entry.zxid, { timeoutMs: c.timeoutMs, secretHash: c.secretHash })
          result = { type: 'createSession', sessionId: entry.zxid, timeoutMs: c.timeoutMs }
        }
        break
      case 'closeSession':
        if (!this.sessions.has(c.sessionId)) result = fail('SessionExpired', null)
        else {
          const deletedPaths = this.ephemerals(c.sessionId)
          for (const path of deletedPaths) this.remove(path, entry, events)
          this.sessions.delete(c.sessionId)
          result = { type: 'closeSession', sessionId: c.sessionId, deletedPaths }
        }
        break
      case 'reap': {
        const z = this.znodes.get(c.path)
        const isDeleted = z !== undefined && z.czxid === c.czxid && this.isReapable(c.path, entry.timeMs)
        if (isDeleted) this.remove(c.path, entry, events)
        result = { type: 'reap', path: c.path, isDeleted }
        break
      }
      case 'noop':
      case 'membership':
        result = { type: 'noop' }
        break
    }
    return isFailure(result) ? failed(result) : { outcome: { ok: true, result }, events, replayOf: null }
  }

  private op(op: MultiOp, entry: Entry, events: TreeEvent[]): OpOutcome {
    const z = this.znodes.get(op.path)
    switch (op.type) {
      case 'create':
        return this.create(op.path, op.data, op.acl, op.kind, op.isSequential, op.ttlMs, entry, events)
      case 'delete':
        if (!isValidPath(op.path) || isReserved(op.path) || op.path === '/') return fail('BadArguments', op.path)
        if (z === undefined) return fail('NoNode', op.path)
        if (op.version !== -1 && op.version !== z.version) return fail('BadVersion', op.path)
        if (this.children(op.path).length > 0) return fail('NotEmpty', op.path)
        this.remove(op.path, entry, events)
        return { type: 'delete', path: op.path }
      case 'setData':
        if (!isValidPath(op.path) || isReserved(op.path)) return fail('BadArguments', op.path)
        if (z === undefined) return fail('NoNode', op.path)
        if (op.version !== -1 && op.version !== z.version) return fail('BadVersion', op.path)
        return { type: 'setData', path: op.path, stat: this.setData(op.path, op.data, entry, events) }
      case 'check':
        if (!isValidPath(op.path)) return fail('BadArguments', op.path)
        if (z === undefined) return fail('NoNode', op.path)
        if (op.version !== -1 && op.version !== z.version) return fail('BadVersion', op.path)
        return { type: 'check', path: op.path }
    }
  }

  private create(path: string, data: Uint8Array, acl: Acl, kind: ZnodeKind, isSequential: boolean, ttlMs: number, entry: Entry, events: TreeEvent[]): OpOutcome {
    const probe = isSequential ? path + '0' : path
    if (!isValidPath(isSequential ? path + '1' : path) || isReserved(probe)) return fail('BadArguments', path)
    if (kind === 'container' && isSequential) return fail('BadArguments', path)
    if (kind === 'ttl' ? !(Number.isInteger(ttlMs) && ttlMs > 0 && ttlMs <= ttlMsMax) : ttlMs !== 0) return fail('BadArguments', path)
    if (!isValidAcl(acl)) return fail('InvalidACL', path)
    const parentPath = parentOf(probe)
    const parent = parentPath === null ? undefined : this.znodes.get(parentPath)
    const finalPath = isSequential && parent !== undefined ? path + sequenceSuffix(parent.creations) : path
    const caller = entry.caller.sessionId
    if (this.znodes.has(finalPath)) return fail('NodeExists', path)
    if (parent === undefined || parentPath === null) return fail('NoNode', path)
    if (parent.kind === 'ephemeral') return fail('NoChildrenForEphemerals', path)
    if (kind === 'ephemeral' && !this.sessions.has(caller)) return fail('SessionExpired', path)
    if (this.znodes.size >= options.znodesMax) return fail('QuotaExceeded', path)
    if (kind === 'ephemeral' && this.ephemerals(caller).length >= options.ephemeralsPerSessionMax) return fail('QuotaExceeded', path)
    const { zxid, timeMs } = entry
    this.znodes.set(finalPath, {
      data,
      acl: dedupe(acl),
      kind,
      owner: kind === 'ephemeral' ? caller : 0,
      ttlMs,
      czxid: zxid,
      ctime: timeMs,
      mzxid: zxid,
      mtime: timeMs,
      pzxid: zxid,
      version: 0,
      aversion: 0,
      creations: 0,
    })
    parent.creations++
    parent.pzxid = zxid
    const stat = this.stat(finalPath)
    events.push({ type: 'NodeCreated', path: finalPath, zxid, stat }, { type: 'NodeChildrenChanged', path: parentPath, zxid, stat: this.stat(parentPath) })
    return { type: 'create', path: finalPath, stat }
  }

  private setData(path: string, data: Uint8Array, entry: Entry, events: TreeEvent[]): Stat {
    const z = this.znodes.get(path) as ModelZnode
    z.data = data
    z.version++
    z.mzxid = entry.zxid
    z.mtime = entry.timeMs
    const stat = this.stat(path)
    events.push({ type: 'NodeDataChanged', path, zxid: entry.zxid, stat })
    return stat
  }

  private remove(path: string, entry: Entry, events: TreeEvent[]): void {
    const parentPath = parentOf(path) as string
    this.znodes.delete(path)
    ;(this.znodes.get(parentPath) as ModelZnode).pzxid = entry.zxid
    events.push({ type: 'NodeDeleted', path, zxid: entry.zxid, stat: null }, { type: 'NodeChildrenChanged', path: parentPath, zxid: entry.zxid, stat: this.stat(parentPath) })
  }
}

function failed(failure: Failure): Applied {
  return { outcome: { ok: false, failure }, events: [], replayOf: null }
}

// ------------------------------------------------------------ generators

const segment = fc.constantFrom('a', 'b', 'c')
const plainPath = fc
  .oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 4, arbitrary: fc.constant(2) }, { weight: 2, arbitrary: fc.constant(3) })
  .chain((depth) => fc.array(segment, { minLength: depth, maxLength: depth }))
  .map((s) => '/' + s.join('/'))
const oddPath = fc.constantFrom('/', '/zookeeper', '/zookeeper/quota', '/zookeeper/x', '/a/', '//a', '/a/../b', '/.', 'a')
/** "#n" names the nth existing znode when the step runs (see resolvePath), so writes often hit something. */
const existingPath = fc.nat(40).map((n) => `#${n}`)
const anyPath = fc.oneof({ weight: 6, arbitrary: plainPath }, { weight: 10, arbitrary: existingPath }, { weight: 1, arbitrary: oddPath })
const sequentialPrefix = fc.oneof(
  { weight: 3, arbitrary: existingPath.map((p) => p + '/') },
  { weight: 2, arbitrary: plainPath.map((p) => p + '/') },
  { weight: 2, arbitrary: plainPath.map((p) => p + '/s-') },
  { weight: 1, arbitrary: plainPath },
  { weight: 1, arbitrary: fc.constant('/') },
  { weight: 1, arbitrary: fc.constantFrom('/zookeeper/', '/zookeeper') },
)
const data = fc.uint8Array({ maxLength: 3 })
const version = fc.constantFrom(-1, -1, -1, 0, 0, 1, 2, 5)
const aclArb = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Acl>(openAcl) },
  { weight: 1, arbitrary: fc.constant<Acl>([{ scheme: 'world', id: 'anyone', perms: Perms.read }]) },
  { weight: 1, arbitrary: fc.constant<Acl>([{ scheme: 'digest', id: 'user:hash', perms: Perms.all }, ...openAcl]) },
  { weight: 1, arbitrary: fc.constant<Acl>([...openAcl, ...openAcl]) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Acl>([], [{ scheme: 'auth', id: '', perms: Perms.all }], [{ scheme: 'world', id: 'anyone', perms: 64 }]),
  },
)
const kindAndTtl = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constant<ZnodeKind>('persistent'), fc.constantFrom(0, 0, 0, 0, 0, 0, 50)) },
  { weight: 3, arbitrary: fc.tuple(fc.constant<ZnodeKind>('ephemeral'), fc.constantFrom(0, 0, 0, 0, 50)) },
  { weight: 2, arbitrary: fc.tuple(fc.constant<ZnodeKind>('container'), fc.constantFrom(0, 0, 0, 0, 50)) },
  { weight: 2, arbitrary: fc.tuple(fc.constant<ZnodeKind>('ttl'), fc.constantFrom(100, 300, 300, 300, 0)) },
)
const createArb = fc
  .tuple(fc.boolean(), sequentialPrefix, anyPath, data, aclArb, kindAndTtl)
  .map(([isSequential, prefix, path, bytes, acl, [kind, ttlMs]]): CreateOp => ({
    type: 'create',
    path: isSequential ? prefix : path,
    data: bytes,
    acl,
    kind,
    isSequential,
    ttlMs,
  }))
const deleteArb = fc.record({ type: fc.constant('delete' as const), path: anyPath, version })
const setDataArb = fc.record({ type: fc.constant('setData' as const), path: anyPath, data, version })
const checkArb = fc.record({ type: fc.constant('check' as const), path: anyPath, version })
const multiOpArb = fc.oneof({ weight: 3, arbitrary: createArb }, { weight: 2, arbitrary: deleteArb }, setDataArb, checkArb)

/** A command whose session ids and czxids are picked when it runs, from the state then. */
type CommandSpec =
  | { readonly type: 'plain'; readonly command: Command }
  | { readonly type: 'closeSession'; readonly pick: number; readonly isExpiry: boolean }
  | { readonly type: 'reap'; readonly path: string; readonly isCurrent: boolean; readonly czxid: number }
  /** What the leader proposes: one of the model's reap candidates at the step's time. */
  | { readonly type: 'reapCandidate'; readonly pick: number }

const plain = (command: Command): CommandSpec => ({ type: 'plain', command })

const commandArb: fc.Arbitrary<CommandSpec> = fc.oneof(
  { weight: 8, arbitrary: createArb.map(plain) },
  { weight: 3, arbitrary: deleteArb.map(plain) },
  { weight: 2, arbitrary: setDataArb.map(plain) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('put' as const), path: anyPath, data, acl: aclArb }).map(plain) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('setACL' as const), path: anyPath, acl: aclArb, version }).map(plain) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('multi' as const), ops: fc.array(multiOpArb, { maxLength: 4 }) }).map(plain) },
  {
    weight: 2,
    arbitrary: fc
      .integer({ min: 1000, max: 5000 })
      .map((timeoutMs) => plain({ type: 'createSession', timeoutMs, secretHash: 'h' })),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('closeSession' as const), pick: fc.integer({ min: 1, max: 4 }), isExpiry: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('reap' as const), path: anyPath, isCurrent: fc.boolean(), czxid: fc.integer({ min: 0, max: 30 }) }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('reapCandidate' as const), pick: fc.nat(10) }) },
  { weight: 1, arbitrary: fc.constant(plain({ type: 'noop' })) },
)

interface CommandStep {
  readonly type: 'command'
  readonly spec: CommandSpec
  /** 0 = no session; 1..3 = one of the open sessions (none if none is open); 4 = a session that never existed. */
  readonly sessionPick: number
  readonly elapsedMs: number
  readonly claim: { readonly key: string; readonly fingerprint: string; readonly windowMs: number } | null
}

type Step = CommandStep | { readonly type: 'snapshot' }

const claimArb = fc.oneof(
  { weight: 5, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc.record({ key: fc.constantFrom('k1', 'k2', 'k3', 'k4'), fingerprint: fc.constantFrom('f1', 'f2'), windowMs: fc.integer({ min: 1, max: 600 }) }),
  },
)

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 15,
    arbitrary: fc.record({
      type: fc.constant('command' as const),
      spec: commandArb,
      sessionPick: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.constant(4) }),
      elapsedMs: fc.integer({ min: 0, max: 150 }),
      claim: claimArb,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'snapshot' as const }) },
)

function pickSession(model: Model, pick: number): number {
  if (pick === 0) return 0
  if (pick === 4) return bogusSession
  const ids = [...model.sessions.keys()].sort((a, b) => a - b)
  return ids.length === 0 ? 0 : (ids[(pick - 1) % ids.length] as number)
}

/** "#n" and "#n/" name the nth existing znode outside /zookeeper (and a sequential prefix under it). */
function resolvePath(model: Model, path: string): string {
  if (!path.startsWith('#')) return path
  const isPrefix = path.endsWith('/')
  const paths = [...model.znodes.keys()].filter((p) => p !== '/' && !isReserved(p)).sort()
  const found = paths.length === 0 ? '/a' : (paths[Number.parseInt(path.slice(1), 10) % paths.length] as string)
  return isPrefix ? found + '/' : found
}

function resolveCommand(model: Model, command: Command): Command {
  if (command.type === 'multi') return { ...command, ops: command.ops.map((op) => ({ ...op, path: resolvePath(model, op.path) })) }
  if ('path' in command) return { ...command, path: resolvePath(model, command.path) }
  return command
}

function resolve(step: CommandStep, model: Model, zxid: number, timeMs: number): Entry {
  const spec = step.spec
  let command: Command
  if (spec.type === 'plain') command = resolveCommand(model, spec.command)
  else if (spec.type === 'closeSession') command = { type: 'closeSession', sessionId: pickSession(model, spec.pick), isExpiry: spec.isExpiry }
  else if (spec.type === 'reapCandidate') {
    const candidates = [...model.znodes.keys()].filter((p) => model.isReapable(p, timeMs)).sort()
    const path = candidates[spec.pick % Math.max(1, candidates.length)] ?? '/a'
    command = { type: 'reap', path, czxid: model.znodes.get(path)?.czxid ?? 0 }
  } else {
    const path = resolvePath(model, spec.path)
    command = { type: 'reap', path, czxid: spec.isCurrent ? (model.znodes.get(path)?.czxid ?? 0) : spec.czxid }
  }
  const claim = step.claim === null ? null : { key: step.claim.key, fingerprint: step.claim.fingerprint, windowMs: step.claim.windowMs }
  return { zxid, timeMs, caller: { sessionId: pickSession(model, step.sessionPick), ids: [] }, idempotency: claim, command }
}

// ------------------------------------------------------------ comparison

function withoutDetail(applied: Applied): unknown {
  if (applied.outcome.ok) return applied
  const { detail: _, ...failure } = applied.outcome.failure
  return { ...applied, outcome: { ok: false, failure } }
}

function expectSameState(tree: DataTree, model: Model, nowMs: number): void {
  expect(tree.digest()).toBe(tree.computeDigestFromScratch())
  expect(tree.znodeCount).toBe(model.znodes.size)
  expect(tree.countDescendants('/')).toBe(model.znodes.size - 1)
  for (const [path, z] of model.znodes) {
    expect(tree.getData(path)).toEqual({ data: z.data, stat: model.stat(path) })
    expect(tree.getAcl(path)?.acl).toEqual(z.acl)
    expect(tree.getChildren(path, null, 1000)?.children).toEqual(model.children(path))
  }
  expect([...tree.sessionIds()].sort((a, b) => a - b)).toEqual([...model.sessions.keys()].sort((a, b) => a - b))
  for (const [id, session] of model.sessions) {
    const ephemerals = model.ephemerals(id)
    expect(tree.getSession(id)).toEqual({ sessionId: id, ...session, ephemeralCount: ephemerals.length })
    expect(tree.getEphemerals(id, '/')).toEqual(ephemerals)
  }
  const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : 1)
  const expected = [...model.znodes.keys()].filter((p) => model.isReapable(p, nowMs)).map((path) => ({ path, czxid: model.znodes.get(path)?.czxid }))
  expect([...tree.reapCandidates(nowMs, 1000)].sort(byPath)).toEqual(expected.sort(byPath))
}

/** TREE_MODEL_RUNS=5000 for a long soak; the default keeps the unit suite quick. */
const runs = Number(process.env['TREE_MODEL_RUNS'] ?? 200)

describe('DataTree against a reference model', () => {
  it('agrees on every outcome, event and visible state, keeps its digest, and survives snapshots', { timeout: 30_000 + runs * 100 }, () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 80, size: 'max' }), (steps) => {
        const model = new Model()
        let trees = [new DataTree(options)]
        let zxid = 0
        let timeMs = 1_000
        for (const step of steps) {
          if (step.type === 'snapshot') {
            const original = trees[0] as DataTree
            const restored = restoreSnapshot(writeSnapshot(original), options)
            expect(restored.digest()).toBe(original.digest())
            expect(restored.zxid).toBe(original.zxid)
            expectSameState(restored, model, timeMs)
            trees = [original, restored]
            continue
          }
          zxid++
          timeMs += step.elapsedMs
          const entry = resolve(step, model, zxid, timeMs)
          const expected = withoutDetail(model.apply(entry))
          for (const tree of trees) {
            expect(withoutDetail(tree.apply(entry))).toEqual(expected)
            expect(tree.zxid).toBe(zxid)
            expectSameState(tree, model, timeMs + 200)
          }
        }
      }),
      { numRuns: runs },
    )
  })
})
