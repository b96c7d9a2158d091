// Snapshots: the whole tree state as a list of chunks of about 1 MiB, and
// back. A snapshot may come from a peer (InstallSnapshot), so restore checks
// every record and the result's digest, and anything wrong is a CodecError.
//
// Each chunk starts with a magic byte, the format version and the chunk's
// index, then whole records (a record never spans chunks; one large znode
// may make its chunk larger than the target). Records, in this order:
//   header      last applied zxid and the counts that follow
//   acl*        the distinct ACLs, each written once; znodes name them by index
//   session*    id, timeoutMs, secretHash (ephemerals are found from the znodes)
//   znode*      parents before children, children in name order
//   key*        the Idempotency-Key table, oldest first
//   end         the digest and the number of chunks
// Equal states give byte-identical snapshots.
import type { InternedAcl } from './acl.ts'
import { ByteReader, ByteWriter, CodecError } from './bytes.ts'
import { readOutcome, writeOutcome } from './codec.ts'
import { DataTree, type TreeOptions, type ZnodeRecord } from './data-tree.ts'
import type { Acl, AclEntry, ZnodeKind } from './types.ts'
import type { Znode } from './znode.ts'

const magic = 0x48 // 'H'
const formatVersion = 2
const chunkBytesTarget = 1024 * 1024

const tags = { header: 1, acl: 2, session: 3, znode: 4, key: 5, end: 6 } as const
const kinds: readonly ZnodeKind[] = ['persistent', 'ephemeral', 'container', 'ttl']

class ChunkWriter {
  readonly chunks: Uint8Array[] = []
  private readonly writer = new ByteWriter(chunkBytesTarget + 64 * 1024)

  constructor() {
    this.startChunk()
  }

  get w(): ByteWriter {
    return this.writer
  }

  /** Called after each whole record: starts a new chunk once this one is big enough. */
  endRecord(): void {
    if (this.writer.byteLength < chunkBytesTarget) return
    this.chunks.push(this.writer.finish())
    this.startChunk()
  }

  finish(): Uint8Array[] {
    this.chunks.push(this.writer.finish())
    return this.chunks
  }

  private startChunk(): void {
    this.writer.reset()
    this.writer.u8(magic)
    this.writer.u8(formatVersion)
    this.writer.varuint(this.chunks.length)
  }
}

export function writeSnapshot(tree: DataTree): Uint8Array[] {
  const out = new ChunkWriter()
  const znodes = Array.from(tree.walkZnodes())
  const sessions = Array.from(tree.sessionsInOrder())
  const keys = Array.from(tree.idempotencyInOrder())

  // The ACL table, in order of first use, so the bytes depend only on the state.
  const aclIndex = new Map<InternedAcl, number>()
  const acls: Acl[] = []
  for (const znode of znodes) {
    if (aclIndex.has(znode.acl)) continue
    aclIndex.set(znode.acl, acls.length)
    acls.push(znode.acl.acl)
  }

  let w = out.w
  w.u8(tags.header)
  w.varuint(tree.zxid)
  w.varuint(acls.length)
  w.varuint(sessions.length)
  w.varuint(znodes.length)
  w.varuint(keys.length)
  out.endRecord()

  for (const acl of acls) {
    w = out.w
    w.u8(tags.acl)
    w.varuint(acl.length)
    for (const entry of acl) {
      w.string(entry.scheme)
      w.string(entry.id)
      w.varuint(entry.perms)
    }
    out.endRecord()
  }
  for (const session of sessions) {
    w = out.w
    w.u8(tags.session)
    w.varuint(session.sessionId)
    w.varint(session.timeoutMs)
    w.string(session.secretHash)
    out.endRecord()
  }
  for (const znode of znodes) {
    writeZnode(out.w, znode, aclIndex.get(znode.acl) as number)
    out.endRecord()
  }
  for (const record of keys) {
    w = out.w
    w.u8(tags.key)
    w.string(record.key)
    w.string(record.fingerprint)
    w.varuint(record.zxid)
    w.varint(record.expiresAtMs)
    writeOutcome(w, record.outcome)
    out.endRecord()
  }
  w = out.w
  w.u8(tags.end)
  w.string(tree.digest())
  w.varuint(out.chunks.length + 1)
  return out.finish()
}

function writeZnode(w: ByteWriter, znode: Znode, aclIndex: number): void {
  w.u8(tags.znode)
  w.string(znode.path)
  w.bytes(znode.data)
  w.varuint(aclIndex)
  w.u8(kinds.indexOf(znode.kind))
  w.varint(znode.ephemeralOwner)
  w.varint(znode.ttlMs)
  w.varint(znode.czxid)
  w.varint(znode.ctime)
  w.varint(znode.mzxid)
  w.varint(znode.mtime)
  w.varint(znode.pzxid)
  w.varint(znode.version)
  w.varint(znode.aversion)
  w.varint(znode.creations)
}

interface Header {
  readonly zxid: number
  readonly aclCount: number
  readonly sessionCount: number
  readonly znodeCount: number
  readonly keyCount: number
}

/** Rebuilds a tree from writeSnapshot's chunks; throws CodecError for anything else. */
export function restoreSnapshot(chunks: readonly Uint8Array[], options: TreeOptions): DataTree {
  const tree = new DataTree(options)
  tree.clearForRestore()
  if (chunks.length === 0) throw new CodecError('a snapshot has at least one chunk')
  let header: Header | null = null
  const acls: Acl[] = []
  let sessions = 0
  let znodes = 0
  let keys = 0
  let endDigest: string | null = null

  for (let index = 0; index < chunks.length; index++) {
    if (endDigest !== null) throw new CodecError('chunks after the end record')
    const r = new ByteReader(chunks[index] as Uint8Array)
    if (r.u8() !== magic || r.u8() !== formatVersion) throw new CodecError('not a herd snapshot chunk of a known version')
    if (r.varuint() !== index) throw new CodecError(`chunk ${index} is out of order`)
    while (!r.isAtEnd) {
      if (endDigest !== null) throw new CodecError('records after the end record')
      const tag = r.u8()
      if (header === null && tag !== tags.header) throw new CodecError('a snapshot starts with its header')
      switch (tag) {
        case tags.header:
          if (header !== null) throw new CodecError('a second header')
          header = { zxid: r.varuint(), aclCount: r.varuint(), sessionCount: r.varuint(), znodeCount: r.varuint(), keyCount: r.varuint() }
          break
        case tags.acl:
          if (sessions + znodes + keys > 0 || acls.length >= (header as Header).aclCount) throw new CodecError('an ACL record out of place')
          acls.push(readAcl(r))
          break
        case tags.session: {
          if (znodes + keys > 0 || sessions >= (header as Header).sessionCount) throw new CodecError('a session record out of place')
          const reason = tree.restoreSession(r.varuint(), r.varint(), r.string())
          if (reason !== null) throw new CodecError(reason)
          sessions++
          break
        }
        case tags.znode: {
          if (keys > 0 || znodes >= (header as Header).znodeCount) throw new CodecError('a znode record out of place')
          const reason = tree.restoreZnode(readZnode(r, acls))
          if (reason !== null) throw new CodecError(reason)
          znodes++
          break
        }
        case tags.key: {
          if (keys >= (header as Header).keyCount) throw new CodecError('a key record out of place')
          const key = r.string()
          const fingerprint = r.string()
          const zxid = r.varuint()
          const expiresAtMs = r.varint()
          tree.restoreIdempotency({ key, fingerprint, zxid, expiresAtMs, outcome: readOutcome(r) })
          keys++
          break
        }
        case tags.end: {
          const digest = r.string()
          if (r.varuint() !== chunks.length) throw new CodecError('the snapshot has missing or extra chunks')
          endDigest = digest
          break
        }
        default:
          throw new CodecError(`unknown snapshot record tag ${tag}`)
      }
    }
  }
  if (header === null || endDigest === null) throw new CodecError('the snapshot is truncated')
  if (acls.length !== header.aclCount || sessions !== header.sessionCount || znodes !== header.znodeCount || keys !== header.keyCount) {
    throw new CodecError('the snapshot has fewer records than its header says')
  }
  if (znodes === 0) throw new CodecError('the snapshot has no root')
  if (tree.digest() !== endDigest) throw new CodecError(`digest mismatch: restored ${tree.digest()}, snapshot says ${endDigest}`)
  tree.restoreZxid(header.zxid)
  return tree
}

function readAcl(r: ByteReader): Acl {
  const count = r.count(3)
  const acl: AclEntry[] = []
  for (let i = 0; i < count; i++) acl.push({ scheme: r.string(), id: r.string(), perms: r.varuint() })
  return acl
}

function readZnode(r: ByteReader, acls: readonly Acl[]): ZnodeRecord {
  const path = r.string()
  const data = r.bytes()
  const acl = acls[r.varuint()]
  if (acl === undefined) throw new CodecError(`${path} names an unknown ACL`)
  const kind = kinds[r.u8()]
  if (kind === undefined) throw new CodecError(`${path} has an unknown kind`)
  return {
    path,
    data,
    acl,
    kind,
    ephemeralOwner: r.varint(),
    ttlMs: r.varint(),
    czxid: r.varint(),
    ctime: r.varint(),
    mzxid: r.varint(),
    mtime: r.varint(),
    pzxid: r.varint(),
    version: r.varint(),
    aversion: r.varint(),
    creations: r.varint(),
  }
}
