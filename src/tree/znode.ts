// One znode as the tree holds it: mutable, never handed to readers (they get
// Stat snapshots built by statOf). Besides ZooKeeper's stat it keeps the
// hidden count of child creations that names sequential children, the
// sorted child names, a descendant count, and cached hashes for the digest.
import type { InternedAcl } from './acl.ts'
import type { SortedChildren } from './children.ts'
import { hashBytes, hashString, laneSeedA, laneSeedB } from './hash.ts'
import { ttlMsMax, type Stat, type ZnodeKind } from './types.ts'

export class Znode {
  readonly path: string
  /** The last path segment; the key in the parent's child list. */
  readonly name: string
  parent: Znode | null
  /** Children in name order (JS string order); null while there are none (most znodes are leaves). */
  children: SortedChildren<Znode> | null = null
  /** Every znode below this one, kept as changes happen so countDescendants is O(1). */
  descendants = 0

  data: Uint8Array
  acl: InternedAcl
  readonly kind: ZnodeKind
  /** The owning session for ephemerals, else 0. */
  readonly ephemeralOwner: number
  /** For kind 'ttl'; else 0. */
  readonly ttlMs: number

  readonly czxid: number
  readonly ctime: number
  mzxid: number
  mtime: number
  pzxid: number
  version: number
  aversion: number
  /** ZooKeeper's stored cversion: child creations, never decremented; names sequential children. */
  creations: number

  // Digest caches: the path never changes and data only by setData, so a
  // stat-only change (the parent of every create) rehashes in O(1).
  readonly pathHashA: number
  readonly pathHashB: number
  dataHashA: number
  dataHashB: number
  /** This znode's current contribution to the tree digest. */
  hashA = 0
  hashB = 0

  constructor(
    path: string,
    name: string,
    parent: Znode | null,
    data: Uint8Array,
    acl: InternedAcl,
    kind: ZnodeKind,
    ephemeralOwner: number,
    ttlMs: number,
    zxid: number,
    timeMs: number,
  ) {
    this.path = path
    this.name = name
    this.parent = parent
    this.data = data
    this.acl = acl
    this.kind = kind
    this.ephemeralOwner = ephemeralOwner
    this.ttlMs = ttlMs
    this.czxid = zxid
    this.ctime = timeMs
    this.mzxid = zxid
    this.mtime = timeMs
    this.pzxid = zxid
    this.version = 0
    this.aversion = 0
    this.creations = 0
    this.pathHashA = hashString(path, laneSeedA)
    this.pathHashB = hashString(path, laneSeedB)
    this.dataHashA = hashBytes(data, laneSeedA)
    this.dataHashB = hashBytes(data, laneSeedB)
  }

  get numChildren(): number {
    return this.children === null ? 0 : this.children.size
  }

  /** ZooKeeper's visible cversion (DataNode.copyStat): creations*2 - numChildren in int arithmetic. */
  get cversion(): number {
    return (this.creations * 2 - this.numChildren) | 0
  }

  replaceData(data: Uint8Array): void {
    this.data = data
    this.dataHashA = hashBytes(data, laneSeedA)
    this.dataHashB = hashBytes(data, laneSeedB)
  }
}

/** A snapshot of the znode's stat, safe to hand out: later changes do not touch it. */
export function statOf(znode: Znode): Stat {
  return {
    czxid: znode.czxid,
    mzxid: znode.mzxid,
    pzxid: znode.pzxid,
    ctime: znode.ctime,
    mtime: znode.mtime,
    version: znode.version,
    cversion: znode.cversion,
    aversion: znode.aversion,
    ephemeralOwner: znode.ephemeralOwner,
    dataLength: znode.data.length,
    numChildren: znode.numChildren,
  }
}

/** ZooKeeper's int version bump (checkAndIncVersion): wraps like a Java int, skipping -1 (ZOOKEEPER-4743). */
export function nextVersion(version: number): number {
  const next = (version + 1) | 0
  return next === -1 ? 0 : next
}

/** -1 matches any version. */
export function isVersionMatch(expected: number, current: number): boolean {
  return expected === -1 || expected === current
}

/** CreateMode and EphemeralType.validateTTL: what makes a create BadArguments before the tree is consulted. */
export function checkCreateMode(kind: ZnodeKind, isSequential: boolean, ttlMs: number): string | null {
  if (kind !== 'persistent' && kind !== 'ephemeral' && kind !== 'container' && kind !== 'ttl') return `unknown znode kind '${String(kind)}'`
  if (kind === 'container' && isSequential) return 'a container cannot be sequential'
  if (kind === 'ttl') {
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > ttlMsMax) return `ttlMs must be in 1..${ttlMsMax}`
  } else if (ttlMs !== 0) {
    return `ttlMs is only for kind 'ttl'`
  }
  return null
}


/** An empty container that once had children, or a childless TTL znode idle past its TTL (ContainerManager). */
export function isReapable(znode: Znode, nowMs: number): boolean {
  if (znode.numChildren > 0) return false
  if (znode.kind === 'container') return znode.creations > 0
  if (znode.kind === 'ttl') return nowMs - znode.mtime > znode.ttlMs
  return false
}
