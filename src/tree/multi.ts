// multi's two halves that are not the ops themselves: the undo log that
// takes a failed batch back (ZooKeeper rolls back its pending change
// records; herd applies ops to the live tree, so it records what each change
// replaced), and ZooKeeper's per-op failure pattern.
import type { AclTable, InternedAcl } from './acl.ts'
import type { Failure, MultiOp, MultiOpFailure } from './types.ts'
import type { Znode } from './znode.ts'

/**
 * How a multi is undone: each change records what it replaced, and a
 * failing op replays the log backwards through the same primitives (see
 * DataTree.rollback), so the digest, counters and indexes come back exactly.
 */
export type Undo =
  | { readonly type: 'attached'; readonly znode: Znode }
  | { readonly type: 'detached'; readonly znode: Znode }
  | { readonly type: 'fields'; readonly znode: Znode; readonly saved: SavedFields }

export interface SavedFields {
  readonly data: Uint8Array
  readonly dataHashA: number
  readonly dataHashB: number
  readonly acl: InternedAcl
  readonly mzxid: number
  readonly mtime: number
  readonly pzxid: number
  readonly version: number
  readonly aversion: number
  readonly creations: number
}


/** The undo step for a change of a znode's fields (data, ACL, stat counters). */
export function saveFields(znode: Znode): Undo {
  const saved: SavedFields = {
    data: znode.data,
    dataHashA: znode.dataHashA,
    dataHashB: znode.dataHashB,
    acl: znode.acl,
    mzxid: znode.mzxid,
    mtime: znode.mtime,
    pzxid: znode.pzxid,
    version: znode.version,
    aversion: znode.aversion,
    creations: znode.creations,
  }
  return { type: 'fields', znode, saved }
}

/** Puts saved fields back; the caller rehashes the znode. */
export function restoreFields(znode: Znode, saved: SavedFields, acls: AclTable): void {
  znode.data = saved.data
  znode.dataHashA = saved.dataHashA
  znode.dataHashB = saved.dataHashB
  if (znode.acl !== saved.acl) {
    acls.release(znode.acl)
    znode.acl = acls.retain(saved.acl)
  }
  znode.mzxid = saved.mzxid
  znode.mtime = saved.mtime
  znode.pzxid = saved.pzxid
  znode.version = saved.version
  znode.aversion = saved.aversion
  znode.creations = saved.creations
}

/** ZooKeeper's multi failure: ops before the failing one Ok, it its code, later ones RuntimeInconsistency. */
export function multiFailure(ops: readonly MultiOp[], failedOp: number, cause: Failure): Failure {
  const results: MultiOpFailure[] = ops.map((op, index) => ({
    code: index < failedOp ? 'Ok' : index === failedOp ? cause.code : 'RuntimeInconsistency',
    path: op.path,
  }))
  const op = ops[failedOp] as MultiOp
  return { code: cause.code, path: op.path, detail: `op ${failedOp} (${op.type} ${op.path}): ${cause.detail}`, results, failedOp }
}
