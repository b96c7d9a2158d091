// ACLs: ZooKeeper's fixupACL checks at apply, and an intern table so that
// the many znodes sharing one ACL share one frozen object (and one hash,
// and one entry in a snapshot's ACL table).
import { hashString, laneSeedA, laneSeedB } from './hash.ts'
import { Perms, type Acl, type AclEntry } from './types.ts'

/**
 * Schemes an ACL may name (ZooKeeper's built-in providers). 'super' is not
 * a scheme one can set; 'auth' is expanded from the caller's authenticated
 * ids, and herd's callers have none yet, so it is refused like ZooKeeper
 * refuses it for a connection with no authenticated user.
 */
const settableSchemes: ReadonlySet<string> = new Set(['world', 'digest', 'ip', 'x509', 'sasl'])

/**
 * ZooKeeper's `PrepRequestProcessor.fixupACL` as herd can apply it: null
 * when the ACL may be set, else why it is an InvalidACL. Perms outside
 * 0..31 are refused too (ZooKeeper would store the stray bits silently).
 */
export function checkAcl(acl: Acl): string | null {
  if (!Array.isArray(acl) || acl.length === 0) return 'the ACL is empty'
  for (const entry of acl as readonly AclEntry[]) {
    if (typeof entry !== 'object' || entry === null) return 'an ACL entry is not an object'
    const { scheme, id, perms } = entry
    if (typeof scheme !== 'string' || typeof id !== 'string') return 'an ACL entry lacks a scheme or id'
    if (!Number.isInteger(perms) || perms < 0 || perms > Perms.all) return `perms ${String(perms)} are outside 0..31`
    if (scheme === 'auth') return "scheme 'auth' needs an authenticated caller"
    if (!settableSchemes.has(scheme)) return `unknown ACL scheme '${scheme}'`
    if (!isValidId(scheme, id)) return `invalid id '${id}' for scheme '${scheme}'`
  }
  return null
}

function isValidId(scheme: string, id: string): boolean {
  switch (scheme) {
    case 'world':
      return id === 'anyone'
    case 'digest':
      return isValidDigestId(id)
    case 'ip':
      return isValidIpId(id)
    default:
      // x509 and sasl accept any principal name here; their providers parse it on use.
      return true
  }
}

/**
 * DigestAuthenticationProvider.isValid: `id.split(":").length == 2`, with
 * Java's split, which drops trailing empty strings ("user:hash:" is valid,
 * "user:" is not).
 */
function isValidDigestId(id: string): boolean {
  if (!id.includes(':')) return false
  const parts = id.split(':')
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop()
  return parts.length === 2
}

/** IPAuthenticationProvider.isValid: an IPv4 or IPv6 address, optionally "/bits" within its width. */
function isValidIpId(id: string): boolean {
  const slash = id.indexOf('/')
  const address = slash < 0 ? id : id.slice(0, slash)
  const width = address.includes(':') ? (isIpv6(address) ? 128 : 0) : isIpv4(address) ? 32 : 0
  if (width === 0) return false
  if (slash < 0) return true
  const bits = parseJavaInt(id.slice(slash + 1))
  return bits !== null && bits >= 0 && bits <= width
}

function isIpv4(address: string): boolean {
  const parts = address.split('.')
  if (parts.length !== 4) return false
  return parts.every((part) => {
    const value = parseJavaInt(part)
    return value !== null && value >= 0 && value <= 255
  })
}

function isIpv6(address: string): boolean {
  const halves = address.split('::')
  if (halves.length > 2) return false
  const groups = halves.map((half) => (half === '' ? [] : half.split(':')))
  if (!groups.every((list) => list.every((group) => /^[0-9a-fA-F]{1,4}$/.test(group)))) return false
  const count = groups.reduce((sum, list) => sum + list.length, 0)
  return halves.length === 2 ? count < 8 : count === 8
}

/** Java's Integer.parseInt for ASCII input: an optional sign, then decimal digits, within int range. */
function parseJavaInt(text: string): number | null {
  if (!/^[+-]?[0-9]+$/.test(text)) return null
  const value = Number(text)
  return value >= -2147483648 && value <= 2147483647 ? value : null
}

/** One distinct ACL, shared by every znode that has it. */
export interface InternedAcl {
  /** Frozen, duplicates removed (ZooKeeper's removeDuplicates keeps the first of each). */
  readonly acl: Acl
  /** An unambiguous text form, the table's key. */
  readonly key: string
  readonly hashA: number
  readonly hashB: number
  /** How many znodes hold it; at 0 it leaves the table. */
  refs: number
}

function aclKey(acl: Acl): string {
  let key = ''
  for (const entry of acl) key += `${entry.perms}:${entry.scheme.length}:${entry.scheme}${entry.id.length}:${entry.id};`
  return key
}

/** The lane hashes of an ACL as interned (used to check the cached ones). */
export function hashAcl(acl: Acl): { readonly hashA: number; readonly hashB: number } {
  const key = aclKey(acl)
  return { hashA: hashString(key, laneSeedA), hashB: hashString(key, laneSeedB) }
}

function makeInterned(acl: Acl, key: string): InternedAcl {
  return { acl, key, hashA: hashString(key, laneSeedA), hashB: hashString(key, laneSeedB), refs: 0 }
}

function isOpenAcl(acl: Acl): boolean {
  if (acl.length !== 1) return false
  const entry = acl[0] as AclEntry
  return entry.perms === Perms.all && entry.scheme === 'world' && entry.id === 'anyone'
}

function dedupe(acl: Acl): Acl {
  const unique: AclEntry[] = []
  for (const entry of acl) {
    if (!unique.some((seen) => seen.perms === entry.perms && seen.scheme === entry.scheme && seen.id === entry.id)) {
      unique.push(Object.freeze({ scheme: entry.scheme, id: entry.id, perms: entry.perms }))
    }
  }
  return Object.freeze(unique)
}

export class AclTable {
  private readonly byKey = new Map<string, InternedAcl>()
  /** world:anyone ALL is by far the most common ACL: found without building a key. */
  private readonly open: InternedAcl

  constructor() {
    const acl = dedupe([{ scheme: 'world', id: 'anyone', perms: Perms.all }])
    this.open = makeInterned(acl, aclKey(acl))
    this.open.refs = 1 // never leaves the table
    this.byKey.set(this.open.key, this.open)
  }

  get size(): number {
    return this.byKey.size
  }

  /**
   * The shared form of a checked ACL (see checkAcl): the table's record when
   * it has one, else a new record that joins the table on its first retain.
   */
  intern(acl: Acl): InternedAcl {
    if (isOpenAcl(acl)) return this.open
    const interned = this.byKey.get(aclKey(acl))
    if (interned !== undefined) return interned
    const unique = dedupe(acl)
    const uniqueKey = aclKey(unique)
    return this.byKey.get(uniqueKey) ?? makeInterned(unique, uniqueKey)
  }

  /**
   * Takes a reference for a znode. Returns the table's record for that ACL,
   * which is another object with the same content when the given one left
   * the table meanwhile (a znode put back by a multi's rollback).
   */
  retain(interned: InternedAcl): InternedAcl {
    const current = this.byKey.get(interned.key)
    if (current !== undefined) {
      current.refs++
      return current
    }
    interned.refs = 1
    this.byKey.set(interned.key, interned)
    return interned
  }

  release(interned: InternedAcl): void {
    interned.refs--
    if (interned.refs === 0) this.byKey.delete(interned.key)
  }
}
