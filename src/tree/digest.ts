// The incremental tree digest. Each znode hashes to two independent 32-bit
// lanes over its path, data, ACL, every stat field and its hidden state
// (creations counter, kind, TTL); the tree digest is the sum of those hashes
// per lane, modulo 2^32. Addition commutes and can be undone, so a change
// subtracts the znode's old hash and adds its new one: O(changed znodes) per
// entry, and equal trees give equal digests whatever their history.
import { hashAcl } from './acl.ts'
import { finish32, hashBytes, hashString, laneSeedA, laneSeedB, mix32, mixNumber } from './hash.ts'
import type { ZnodeKind } from './types.ts'
import type { Znode } from './znode.ts'

const kindCodes: Readonly<Record<ZnodeKind, number>> = { persistent: 0, ephemeral: 1, container: 2, ttl: 3 }

/** Blocks folded per znode, the "length" given to the finalizer. */
const blocksPerZnode = 3 + 14 * 2

function hashLane(seed: number, pathHash: number, dataHash: number, aclHash: number, znode: Znode): number {
  let h = seed
  h = mix32(h, pathHash)
  h = mix32(h, dataHash)
  h = mix32(h, aclHash)
  h = mixNumber(h, znode.czxid)
  h = mixNumber(h, znode.mzxid)
  h = mixNumber(h, znode.pzxid)
  h = mixNumber(h, znode.ctime)
  h = mixNumber(h, znode.mtime)
  h = mixNumber(h, znode.version)
  h = mixNumber(h, znode.cversion)
  h = mixNumber(h, znode.aversion)
  h = mixNumber(h, znode.ephemeralOwner)
  h = mixNumber(h, znode.data.length)
  h = mixNumber(h, znode.numChildren)
  h = mixNumber(h, znode.creations)
  h = mixNumber(h, kindCodes[znode.kind])
  h = mixNumber(h, znode.ttlMs)
  return finish32(h, blocksPerZnode)
}

/** Recomputes a znode's lane hashes from its cached path, data and ACL hashes. */
export function rehashZnode(znode: Znode): void {
  znode.hashA = hashLane(laneSeedA, znode.pathHashA, znode.dataHashA, znode.acl.hashA, znode)
  znode.hashB = hashLane(laneSeedB, znode.pathHashB, znode.dataHashB, znode.acl.hashB, znode)
}

/** The running sums. */
export class TreeDigest {
  private laneA = 0
  private laneB = 0

  add(znode: Znode): void {
    this.laneA = (this.laneA + znode.hashA) >>> 0
    this.laneB = (this.laneB + znode.hashB) >>> 0
  }

  subtract(znode: Znode): void {
    this.laneA = (this.laneA - znode.hashA) >>> 0
    this.laneB = (this.laneB - znode.hashB) >>> 0
  }

  reset(): void {
    this.laneA = 0
    this.laneB = 0
  }

  toHex(): string {
    return formatDigest(this.laneA, this.laneB)
  }
}

function formatDigest(laneA: number, laneB: number): string {
  return laneA.toString(16).padStart(8, '0') + laneB.toString(16).padStart(8, '0')
}

/**
 * The digest recomputed from nothing but the znodes' raw fields (no cached
 * hash is trusted): what tests compare the incremental digest against.
 */
export function digestFromScratch(znodes: Iterable<Znode>): string {
  let laneA = 0
  let laneB = 0
  for (const znode of znodes) {
    const acl = hashAcl(znode.acl.acl)
    laneA = (laneA + hashLane(laneSeedA, hashString(znode.path, laneSeedA), hashBytes(znode.data, laneSeedA), acl.hashA, znode)) >>> 0
    laneB = (laneB + hashLane(laneSeedB, hashString(znode.path, laneSeedB), hashBytes(znode.data, laneSeedB), acl.hashB, znode)) >>> 0
  }
  return formatDigest(laneA, laneB)
}
