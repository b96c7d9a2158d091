// The vocabulary of the znode tree: what a log entry asks for (Command), what
// applying it produced (Outcome, TreeEvent), and what readers see (Stat,
// TreeReader). Every other layer speaks these types; this file imports only
// errors.ts.
import type { ErrorCode } from '../errors.ts'

/** ZooKeeper's permission bits (ZooDefs.Perms). */
export const Perms = {
  read: 1,
  write: 2,
  create: 4,
  delete: 8,
  admin: 16,
  all: 31,
} as const

export interface AclEntry {
  readonly scheme: string
  readonly id: string
  /** A bitmask of Perms. */
  readonly perms: number
}

export type Acl = readonly AclEntry[]

/** world:anyone with every permission: ZooKeeper's OPEN_ACL_UNSAFE. */
export const openAcl: Acl = Object.freeze([Object.freeze({ scheme: 'world', id: 'anyone', perms: Perms.all })])

/** A znode's stat exactly as ZooKeeper's Stat structure shows it to clients. */
export interface Stat {
  readonly czxid: number
  readonly mzxid: number
  readonly pzxid: number
  readonly ctime: number
  readonly mtime: number
  readonly version: number
  /** The visible cversion: child creations plus child deletions. */
  readonly cversion: number
  readonly aversion: number
  /** The owning session for ephemerals; 0 for every other kind (containers and TTL znodes included). */
  readonly ephemeralOwner: number
  readonly dataLength: number
  readonly numChildren: number
}

/**
 * ZooKeeper's CreateMode split in two: the kind of znode, and whether a
 * sequence suffix is appended. Containers cannot be sequential.
 */
export type ZnodeKind = 'persistent' | 'ephemeral' | 'container' | 'ttl'

/** The largest TTL ZooKeeper accepts: 0x00FFFFFFFFFF ms (EphemeralType.MAX_TTL). */
export const ttlMsMax = 0xff_ffff_ffff

// ---------------------------------------------------------------- operations

export interface CreateOp {
  readonly type: 'create'
  /** For a sequential create, the prefix: the parent path plus a name prefix that may be empty ("/tasks/"). */
  readonly path: string
  readonly data: Uint8Array
  readonly acl: Acl
  readonly kind: ZnodeKind
  readonly isSequential: boolean
  /** Milliseconds for kind 'ttl'; 0 for every other kind. */
  readonly ttlMs: number
}

export interface DeleteOp {
  readonly type: 'delete'
  readonly path: string
  /** -1 matches any version. */
  readonly version: number
}

export interface SetDataOp {
  readonly type: 'setData'
  readonly path: string
  readonly data: Uint8Array
  /** -1 matches any version. */
  readonly version: number
}

/** Only inside multi: the znode exists and (unless -1) has this data version. */
export interface CheckOp {
  readonly type: 'check'
  readonly path: string
  readonly version: number
}

export type MultiOp = CreateOp | DeleteOp | SetDataOp | CheckOp

/**
 * herd's HTTP upsert (PUT without preconditions): setData(-1) when the
 * znode exists, otherwise create a persistent znode. Decided at apply time,
 * so it is atomic.
 */
export interface PutOp {
  readonly type: 'put'
  readonly path: string
  readonly data: Uint8Array
  /** Used only when the znode is created. */
  readonly acl: Acl
}

export interface SetAclOp {
  readonly type: 'setACL'
  readonly path: string
  readonly acl: Acl
  /** Checked against aversion; -1 matches any. */
  readonly version: number
}

export interface MultiCommand {
  readonly type: 'multi'
  readonly ops: readonly MultiOp[]
}

export interface CreateSessionCommand {
  readonly type: 'createSession'
  /** Already negotiated (clamped) by the gateway. */
  readonly timeoutMs: number
  /** Hex SHA-256 of the session secret; the secret itself never enters the log. */
  readonly secretHash: string
}

export interface CloseSessionCommand {
  readonly type: 'closeSession'
  readonly sessionId: number
  /** True when the leader expired the session; false for a client's close. */
  readonly isExpiry: boolean
}

/**
 * Proposed by the leader for an empty container or an expired TTL znode.
 * Apply deletes the znode only if it is still the same znode (czxid) and
 * still eligible, judged with the entry's own timeMs.
 */
export interface ReapCommand {
  readonly type: 'reap'
  readonly path: string
  readonly czxid: number
}

/** A leader's first entry of its term, and the carrier of nothing. */
export interface NoopCommand {
  readonly type: 'noop'
}

/** A voter of the cluster and where its peer port is. */
export interface Member {
  readonly id: number
  readonly host: string
  readonly port: number
}

/**
 * The cluster's voters from this entry on (replication's business: the tree
 * applies it as it applies a noop, so that every log index is a zxid).
 */
export interface MembershipCommand {
  readonly type: 'membership'
  readonly members: readonly Member[]
}

export type Command =
  | CreateOp
  | DeleteOp
  | SetDataOp
  | PutOp
  | SetAclOp
  | MultiCommand
  | CreateSessionCommand
  | CloseSessionCommand
  | ReapCommand
  | NoopCommand
  | MembershipCommand

export type CommandType = Command['type']

// ---------------------------------------------------------------- entries

export interface AuthId {
  readonly scheme: string
  readonly id: string
}

/** Who asked. Carried in every entry so that ACLs can be enforced at apply. */
export interface Caller {
  /** The session the request was made in; 0 for none. */
  readonly sessionId: number
  readonly ids: readonly AuthId[]
}

export const anonymous: Caller = Object.freeze({ sessionId: 0, ids: Object.freeze([]) })

/**
 * A write's Idempotency-Key. A second entry with the same key (within the
 * window) gets the first entry's outcome and changes nothing; with the same
 * key but another fingerprint it fails with IdempotencyKeyReused.
 */
export interface IdempotencyClaim {
  readonly key: string
  /** A digest of the request (method, path, query, body) made by the gateway. */
  readonly fingerprint: string
  /**
   * How long the key is remembered, from the entry's own time (the leader's
   * stamp): never from the clock of the replica that took the request, so
   * that a replica with a wrong clock cannot make claims expire at once.
   */
  readonly windowMs: number
}

/** A committed log entry as the tree applies it. */
export interface Entry {
  /** The log index; every change this entry makes is stamped with it. */
  readonly zxid: number
  /** The leader's wall clock when it proposed the entry: ctime, mtime and TTLs use it, never the local clock. */
  readonly timeMs: number
  readonly caller: Caller
  readonly idempotency: IdempotencyClaim | null
  readonly command: Command
}

/** An entry before replication gave it a zxid. */
export type Proposal = Omit<Entry, 'zxid'>

// ---------------------------------------------------------------- outcomes

export type OpResult =
  | { readonly type: 'create'; readonly path: string; readonly stat: Stat }
  | { readonly type: 'delete'; readonly path: string }
  | { readonly type: 'setData'; readonly path: string; readonly stat: Stat }
  | { readonly type: 'check'; readonly path: string }

export type Result =
  | OpResult
  | { readonly type: 'put'; readonly path: string; readonly isCreated: boolean; readonly stat: Stat }
  | { readonly type: 'setACL'; readonly path: string; readonly stat: Stat }
  | { readonly type: 'multi'; readonly results: readonly OpResult[] }
  | { readonly type: 'createSession'; readonly sessionId: number; readonly timeoutMs: number }
  | { readonly type: 'closeSession'; readonly sessionId: number; readonly deletedPaths: readonly string[] }
  | { readonly type: 'reap'; readonly path: string; readonly isDeleted: boolean }
  | { readonly type: 'noop' }

/**
 * One op of a failed multi, in ZooKeeper's pattern: ops before the failing
 * one 'Ok' (but rolled back), the failing one its error, later ones
 * 'RuntimeInconsistency'.
 */
export interface MultiOpFailure {
  readonly code: ErrorCode | 'Ok'
  readonly path: string
}

export interface Failure {
  readonly code: ErrorCode
  /** The znode the failure is about (the failing op's, for a multi). */
  readonly path: string | null
  readonly detail: string
  /** For a failed multi: one entry per op. */
  readonly results?: readonly MultiOpFailure[]
  /** For a failed multi: the index of the failing op. */
  readonly failedOp?: number
}

export type Outcome = { readonly ok: true; readonly result: Result } | { readonly ok: false; readonly failure: Failure }

export type TreeEventType = 'NodeCreated' | 'NodeDeleted' | 'NodeDataChanged' | 'NodeChildrenChanged'

/** What a committed change means for watches (ZooKeeper's trigger rules). */
export interface TreeEvent {
  readonly type: TreeEventType
  readonly path: string
  readonly zxid: number
  /** The znode's stat after the change (the parent's, for NodeChildrenChanged); null for NodeDeleted. */
  readonly stat: Stat | null
  /**
   * Set when a replica found the change by comparing its tree before and
   * after a jump (a leader's snapshot): the change happened somewhere in the
   * jump, and `zxid` is the znode's newest, not necessarily the first after
   * the watch's zxid.
   */
  readonly isResync?: true
}

export interface Applied {
  readonly outcome: Outcome
  /** In the order the changes were made; empty for a failed or replayed entry. */
  readonly events: readonly TreeEvent[]
  /**
   * When an Idempotency-Key matched and the stored outcome was returned: the
   * zxid of the first attempt, whose outcome this is. Null otherwise.
   */
  readonly replayOf: number | null
}

// ---------------------------------------------------------------- reading

export interface ZnodeData {
  readonly data: Uint8Array
  readonly stat: Stat
}

export interface ChildrenPage {
  /** Sorted by UTF-16 code unit (code point order for valid znode names). */
  readonly children: readonly string[]
  /** The parent's stat. */
  readonly stat: Stat
  /** The name to pass as `after` for the next page; null on the last page. */
  readonly next: string | null
}

export interface SessionInfo {
  readonly sessionId: number
  readonly timeoutMs: number
  readonly secretHash: string
  readonly ephemeralCount: number
}

export interface ReapCandidate {
  readonly path: string
  readonly czxid: number
}

/** What readers (HTTP reads, watches, sessions) may ask of the tree. */
export interface TreeReader {
  /** The zxid of the last applied entry (0 before any). */
  readonly zxid: number
  readonly znodeCount: number
  readonly sessionCount: number
  getData(path: string): ZnodeData | undefined
  exists(path: string): Stat | undefined
  /** Children after `after` (exclusive; null = from the start), at most `limit`. */
  getChildren(path: string, after: string | null, limit: number): ChildrenPage | undefined
  /** ZooKeeper's getAllChildrenNumber: every descendant, recursively. */
  countDescendants(path: string): number | undefined
  getAcl(path: string): { readonly acl: Acl; readonly stat: Stat } | undefined
  /** Paths of the session's ephemerals that start with `prefix`, sorted. */
  getEphemerals(sessionId: number, prefix: string): readonly string[]
  getSession(sessionId: number): SessionInfo | undefined
  sessionIds(): readonly number[]
  /** Empty containers that once had children, and TTL znodes idle past their TTL at `nowMs`. */
  reapCandidates(nowMs: number, max: number): readonly ReapCandidate[]
  /** A hash over every znode, maintained per entry; equal trees have equal digests. */
  digest(): string
}
