// The binary form of log entries (what replication stores and ships) and of
// outcomes (kept in snapshots for the Idempotency-Key table).
//
// Layout of a proposal: a version byte, then timeMs, the caller, the
// idempotency claim or none, and the command as a tag byte plus its fields.
// The zxid is not encoded: it is the entry's log index. Decoding is strict
// (known tags only, booleans 0 or 1, no trailing bytes) because these bytes
// arrive from peers: anything malformed is a CodecError.
import { ByteReader, ByteWriter, CodecError } from './bytes.ts'
import type {
  Acl,
  AclEntry,
  AuthId,
  Caller,
  Command,
  CreateOp,
  Entry,
  Failure,
  IdempotencyClaim,
  MultiOp,
  MultiOpFailure,
  OpResult,
  Outcome,
  Proposal,
  Result,
  Stat,
  ZnodeKind,
  Member,
} from './types.ts'
import { isErrorCode } from '../errors.ts'

const proposalVersion = 1
const outcomeVersion = 1

const commandTags = {
  create: 1,
  delete: 2,
  setData: 3,
  check: 4,
  put: 5,
  setACL: 6,
  multi: 7,
  createSession: 8,
  closeSession: 9,
  reap: 10,
  noop: 11,
  membership: 12,
} as const

const resultTags = {
  create: 1,
  delete: 2,
  setData: 3,
  check: 4,
  put: 5,
  setACL: 6,
  multi: 7,
  createSession: 8,
  closeSession: 9,
  reap: 10,
  noop: 11,
} as const

const kinds: readonly ZnodeKind[] = ['persistent', 'ephemeral', 'container', 'ttl']

// A shared writer: encoding is synchronous and finish() copies, so one
// buffer serves every call without a fresh allocation per entry.
const sharedWriter = new ByteWriter(4096)

// ------------------------------------------------------------ proposals

export function encodeProposal(proposal: Proposal): Uint8Array {
  const w = sharedWriter
  w.reset()
  w.u8(proposalVersion)
  w.varint(proposal.timeMs)
  writeCaller(w, proposal.caller)
  writeClaim(w, proposal.idempotency)
  if ((proposal.command.type as string) === 'check') throw new CodecError('check is only valid inside multi')
  writeCommand(w, proposal.command)
  return w.finish()
}

/**
 * A proposal encodeProposal wrote with time 0, stamped with `timeMs`: what
 * encodeProposal would have written with that time, without decoding the
 * rest. For proposals encoded in this process (a serving thread's writes),
 * whose bytes need no checking; throws CodecError if they are not unstamped.
 */
export function stampProposal(unstamped: Uint8Array, timeMs: number): Uint8Array {
  // Time 0 is the single varint byte 0, right after the version.
  if (unstamped.length < 3 || unstamped[0] !== proposalVersion || unstamped[1] !== 0) throw new CodecError('not an unstamped proposal')
  const time = sharedWriter
  time.reset()
  time.varint(timeMs)
  const timeBytes = time.byteLength
  const stamped = new Uint8Array(unstamped.length - 1 + timeBytes)
  stamped[0] = proposalVersion
  stamped.set(time.finishView(), 1)
  stamped.set(unstamped.subarray(2), 1 + timeBytes)
  return stamped
}

/**
 * The members named by a membership entry, or null for any other entry;
 * cheap for those (it reads only the few bytes before the command's tag),
 * since replication asks it of every entry it appends. Throws CodecError on
 * bytes encodeProposal could not have written.
 */
export function membershipOf(bytes: Uint8Array): readonly Member[] | null {
  const r = new ByteReader(bytes)
  if (r.u8() !== proposalVersion) throw new CodecError('unknown proposal version')
  r.varint()
  r.varint()
  for (let count = r.count(2); count > 0; count--) {
    r.skipBytes()
    r.skipBytes()
  }
  if (r.bool()) {
    r.skipBytes()
    r.skipBytes()
    r.varint()
  }
  if (bytes[bytes.length - r.remaining] !== commandTags.membership) return null
  const command = readCommand(r)
  r.expectEnd()
  return command.type === 'membership' ? command.members : null
}

/** The entry at log index `zxid`. Throws CodecError for anything encodeProposal could not have written. */
export function decodeEntry(zxid: number, bytes: Uint8Array): Entry {
  const r = new ByteReader(bytes)
  const version = r.u8()
  if (version !== proposalVersion) throw new CodecError(`unknown proposal version ${version}`)
  const timeMs = r.varint()
  const caller = readCaller(r)
  const idempotency = readClaim(r)
  const command = readCommand(r)
  r.expectEnd()
  return { zxid, timeMs, caller, idempotency, command }
}

function writeCaller(w: ByteWriter, caller: Caller): void {
  w.varint(caller.sessionId)
  w.varuint(caller.ids.length)
  for (const id of caller.ids) {
    w.string(id.scheme)
    w.string(id.id)
  }
}

function readCaller(r: ByteReader): Caller {
  const sessionId = r.varint()
  const count = r.count(2)
  const ids: AuthId[] = []
  for (let i = 0; i < count; i++) ids.push({ scheme: r.string(), id: r.string() })
  return { sessionId, ids }
}

function writeClaim(w: ByteWriter, claim: IdempotencyClaim | null): void {
  w.bool(claim !== null)
  if (claim === null) return
  w.string(claim.key)
  w.string(claim.fingerprint)
  w.varint(claim.windowMs)
}

function readClaim(r: ByteReader): IdempotencyClaim | null {
  if (!r.bool()) return null
  return { key: r.string(), fingerprint: r.string(), windowMs: r.varint() }
}

function writeAcl(w: ByteWriter, acl: Acl): void {
  w.varuint(acl.length)
  for (const entry of acl) {
    w.string(entry.scheme)
    w.string(entry.id)
    w.varint(entry.perms)
  }
}

function readAcl(r: ByteReader): Acl {
  const count = r.count(3)
  const acl: AclEntry[] = []
  for (let i = 0; i < count; i++) acl.push({ scheme: r.string(), id: r.string(), perms: r.varint() })
  return acl
}

function writeCommand(w: ByteWriter, command: Command | MultiOp): void {
  switch (command.type) {
    case 'create':
      w.u8(commandTags.create)
      w.string(command.path)
      w.bytes(command.data)
      writeAcl(w, command.acl)
      w.u8(kindCode(command.kind))
      w.bool(command.isSequential)
      w.varint(command.ttlMs)
      return
    case 'delete':
      w.u8(commandTags.delete)
      w.string(command.path)
      w.varint(command.version)
      return
    case 'setData':
      w.u8(commandTags.setData)
      w.string(command.path)
      w.bytes(command.data)
      w.varint(command.version)
      return
    case 'check':
      w.u8(commandTags.check)
      w.string(command.path)
      w.varint(command.version)
      return
    case 'put':
      w.u8(commandTags.put)
      w.string(command.path)
      w.bytes(command.data)
      writeAcl(w, command.acl)
      return
    case 'setACL':
      w.u8(commandTags.setACL)
      w.string(command.path)
      writeAcl(w, command.acl)
      w.varint(command.version)
      return
    case 'multi':
      w.u8(commandTags.multi)
      w.varuint(command.ops.length)
      for (const op of command.ops) {
        if (op.type !== 'create' && op.type !== 'delete' && op.type !== 'setData' && op.type !== 'check') {
          throw new CodecError(`'${String((op as { type: unknown }).type)}' is not a multi op`)
        }
        writeCommand(w, op)
      }
      return
    case 'createSession':
      w.u8(commandTags.createSession)
      w.varint(command.timeoutMs)
      w.string(command.secretHash)
      return
    case 'closeSession':
      w.u8(commandTags.closeSession)
      w.varint(command.sessionId)
      w.bool(command.isExpiry)
      return
    case 'reap':
      w.u8(commandTags.reap)
      w.string(command.path)
      w.varint(command.czxid)
      return
    case 'noop':
      w.u8(commandTags.noop)
      return
    case 'membership':
      w.u8(commandTags.membership)
      w.varuint(command.members.length)
      for (const member of command.members) {
        w.varuint(member.id)
        w.string(member.host)
        w.varuint(member.port)
      }
      return
    default:
      throw new CodecError(`unknown command type '${String((command as { type: unknown }).type)}'`)
  }
}

function kindCode(kind: ZnodeKind): number {
  const code = kinds.indexOf(kind)
  if (code < 0) throw new CodecError(`unknown znode kind '${String(kind)}'`)
  return code
}

function readKind(r: ByteReader): ZnodeKind {
  const code = r.u8()
  const kind = kinds[code]
  if (kind === undefined) throw new CodecError(`unknown znode kind code ${code}`)
  return kind
}

function readCommand(r: ByteReader): Command {
  const tag = r.u8()
  switch (tag) {
    case commandTags.multi: {
      const count = r.count(2)
      const ops: MultiOp[] = []
      for (let i = 0; i < count; i++) ops.push(readMultiOp(r))
      return { type: 'multi', ops }
    }
    case commandTags.put:
      return { type: 'put', path: r.string(), data: r.bytes(), acl: readAcl(r) }
    case commandTags.setACL:
      return { type: 'setACL', path: r.string(), acl: readAcl(r), version: r.varint() }
    case commandTags.createSession:
      return { type: 'createSession', timeoutMs: r.varint(), secretHash: r.string() }
    case commandTags.closeSession:
      return { type: 'closeSession', sessionId: r.varint(), isExpiry: r.bool() }
    case commandTags.reap:
      return { type: 'reap', path: r.string(), czxid: r.varint() }
    case commandTags.noop:
      return { type: 'noop' }
    case commandTags.membership: {
      const count = r.count(3)
      const members: Member[] = []
      for (let i = 0; i < count; i++) members.push({ id: r.varuint(), host: r.string(), port: r.varuint() })
      return { type: 'membership', members }
    }
    case commandTags.check:
      throw new CodecError('check is only valid inside multi')
    default:
      return readOpBody(r, tag)
  }
}

function readMultiOp(r: ByteReader): MultiOp {
  const tag = r.u8()
  if (tag === commandTags.check) return { type: 'check', path: r.string(), version: r.varint() }
  return readOpBody(r, tag)
}

function readOpBody(r: ByteReader, tag: number): CreateOp | Extract<MultiOp, { type: 'delete' | 'setData' }> {
  switch (tag) {
    case commandTags.create:
      return {
        type: 'create',
        path: r.string(),
        data: r.bytes(),
        acl: readAcl(r),
        kind: readKind(r),
        isSequential: r.bool(),
        ttlMs: r.varint(),
      }
    case commandTags.delete:
      return { type: 'delete', path: r.string(), version: r.varint() }
    case commandTags.setData:
      return { type: 'setData', path: r.string(), data: r.bytes(), version: r.varint() }
    default:
      throw new CodecError(`unknown command tag ${tag}`)
  }
}

// ------------------------------------------------------------ outcomes

export function encodeOutcome(outcome: Outcome): Uint8Array {
  const w = new ByteWriter(256)
  w.u8(outcomeVersion)
  writeOutcome(w, outcome)
  return w.finish()
}

export function decodeOutcome(bytes: Uint8Array): Outcome {
  const r = new ByteReader(bytes)
  const version = r.u8()
  if (version !== outcomeVersion) throw new CodecError(`unknown outcome version ${version}`)
  const outcome = readOutcome(r)
  r.expectEnd()
  return outcome
}

export function writeOutcome(w: ByteWriter, outcome: Outcome): void {
  w.bool(outcome.ok)
  if (outcome.ok) writeResult(w, outcome.result)
  else writeFailure(w, outcome.failure)
}

export function readOutcome(r: ByteReader): Outcome {
  return r.bool() ? { ok: true, result: readResult(r) } : { ok: false, failure: readFailure(r) }
}

function writeStat(w: ByteWriter, stat: Stat): void {
  w.varint(stat.czxid)
  w.varint(stat.mzxid)
  w.varint(stat.pzxid)
  w.varint(stat.ctime)
  w.varint(stat.mtime)
  w.varint(stat.version)
  w.varint(stat.cversion)
  w.varint(stat.aversion)
  w.varint(stat.ephemeralOwner)
  w.varint(stat.dataLength)
  w.varint(stat.numChildren)
}

function readStat(r: ByteReader): Stat {
  return {
    czxid: r.varint(),
    mzxid: r.varint(),
    pzxid: r.varint(),
    ctime: r.varint(),
    mtime: r.varint(),
    version: r.varint(),
    cversion: r.varint(),
    aversion: r.varint(),
    ephemeralOwner: r.varint(),
    dataLength: r.varint(),
    numChildren: r.varint(),
  }
}

function writeResult(w: ByteWriter, result: Result): void {
  switch (result.type) {
    case 'create':
    case 'setData':
    case 'setACL':
      w.u8(resultTags[result.type])
      w.string(result.path)
      writeStat(w, result.stat)
      return
    case 'delete':
    case 'check':
      w.u8(resultTags[result.type])
      w.string(result.path)
      return
    case 'put':
      w.u8(resultTags.put)
      w.string(result.path)
      w.bool(result.isCreated)
      writeStat(w, result.stat)
      return
    case 'multi':
      w.u8(resultTags.multi)
      w.varuint(result.results.length)
      for (const op of result.results) writeResult(w, op)
      return
    case 'createSession':
      w.u8(resultTags.createSession)
      w.varint(result.sessionId)
      w.varint(result.timeoutMs)
      return
    case 'closeSession':
      w.u8(resultTags.closeSession)
      w.varint(result.sessionId)
      w.varuint(result.deletedPaths.length)
      for (const path of result.deletedPaths) w.string(path)
      return
    case 'reap':
      w.u8(resultTags.reap)
      w.string(result.path)
      w.bool(result.isDeleted)
      return
    case 'noop':
      w.u8(resultTags.noop)
      return
    default:
      throw new CodecError(`unknown result type '${String((result as { type: unknown }).type)}'`)
  }
}

function readResult(r: ByteReader): Result {
  const tag = r.u8()
  switch (tag) {
    case resultTags.put:
      return { type: 'put', path: r.string(), isCreated: r.bool(), stat: readStat(r) }
    case resultTags.setACL:
      return { type: 'setACL', path: r.string(), stat: readStat(r) }
    case resultTags.multi: {
      const count = r.count(2)
      const results: OpResult[] = []
      for (let i = 0; i < count; i++) results.push(readOpResult(r, r.u8()))
      return { type: 'multi', results }
    }
    case resultTags.createSession:
      return { type: 'createSession', sessionId: r.varint(), timeoutMs: r.varint() }
    case resultTags.closeSession: {
      const sessionId = r.varint()
      const count = r.count(1)
      const deletedPaths: string[] = []
      for (let i = 0; i < count; i++) deletedPaths.push(r.string())
      return { type: 'closeSession', sessionId, deletedPaths }
    }
    case resultTags.reap:
      return { type: 'reap', path: r.string(), isDeleted: r.bool() }
    case resultTags.noop:
      return { type: 'noop' }
    default:
      return readOpResult(r, tag)
  }
}

function readOpResult(r: ByteReader, tag: number): OpResult {
  switch (tag) {
    case resultTags.create:
      return { type: 'create', path: r.string(), stat: readStat(r) }
    case resultTags.delete:
      return { type: 'delete', path: r.string() }
    case resultTags.setData:
      return { type: 'setData', path: r.string(), stat: readStat(r) }
    case resultTags.check:
      return { type: 'check', path: r.string() }
    default:
      throw new CodecError(`unknown result tag ${tag}`)
  }
}

function writeFailure(w: ByteWriter, failure: Failure): void {
  w.string(failure.code)
  w.bool(failure.path !== null)
  if (failure.path !== null) w.string(failure.path)
  w.string(failure.detail)
  const results = failure.results
  w.bool(results !== undefined)
  if (results !== undefined) {
    w.varuint(results.length)
    for (const op of results) {
      w.string(op.code)
      w.string(op.path)
    }
  }
  w.bool(failure.failedOp !== undefined)
  if (failure.failedOp !== undefined) w.varuint(failure.failedOp)
}

function readFailure(r: ByteReader): Failure {
  const code = r.string()
  if (!isErrorCode(code)) throw new CodecError(`unknown error code '${code}'`)
  const path = r.bool() ? r.string() : null
  const detail = r.string()
  let failure: Failure = { code, path, detail }
  if (r.bool()) {
    const count = r.count(2)
    const results: MultiOpFailure[] = []
    for (let i = 0; i < count; i++) {
      const opCode = r.string()
      if (opCode !== 'Ok' && !isErrorCode(opCode)) throw new CodecError(`unknown error code '${opCode}'`)
      results.push({ code: opCode, path: r.string() })
    }
    failure = { ...failure, results }
  }
  if (r.bool()) failure = { ...failure, failedOp: r.varuint() }
  return failure
}
