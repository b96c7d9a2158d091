// ACLs at the HTTP edge: ZooKeeper's CLI notation `scheme:id:perms` with the
// permission letters c(reate) d(elete) r(ead) w(rite) a(dmin) in query
// strings, and {scheme, id, perms: "cdrwa"} in JSON. The tree checks the
// meaning (known schemes, world:anyone, ...) when it applies the entry; this
// only checks the form.
import { HerdError } from '../errors.ts'
import { Perms, type Acl, type AclEntry } from '../tree/index.ts'

const letterPerms: ReadonlyArray<readonly [string, number]> = [
  ['c', Perms.create],
  ['d', Perms.delete],
  ['r', Perms.read],
  ['w', Perms.write],
  ['a', Perms.admin],
]

export function permsFromLetters(letters: string): number {
  let perms = 0
  for (const letter of letters) {
    const bit = letterPerms.find(([l]) => l === letter)?.[1]
    if (bit === undefined) throw new HerdError('InvalidACL', `unknown permission letter "${letter}" (use c, d, r, w, a)`)
    perms |= bit
  }
  return perms
}

export function lettersFromPerms(perms: number): string {
  return letterPerms
    .filter(([, bit]) => (perms & bit) !== 0)
    .map(([letter]) => letter)
    .join('')
}

/** `world:anyone:cdrwa`, `digest:user:hash:r`: the id is everything between the first and the last colon. */
export function parseAclText(text: string): AclEntry {
  if (!text.isWellFormed()) throw new HerdError('InvalidACL', 'an ACL entry must be well-formed Unicode')
  const first = text.indexOf(':')
  const last = text.lastIndexOf(':')
  if (first <= 0 || last === first) throw new HerdError('InvalidACL', `an ACL entry is scheme:id:perms, got ${JSON.stringify(text.slice(0, 80))}`)
  return { scheme: text.slice(0, first), id: text.slice(first + 1, last), perms: permsFromLetters(text.slice(last + 1)) }
}

export function parseAclJson(value: unknown, aclEntriesMax: number, what: string): Acl {
  if (!Array.isArray(value)) throw new HerdError('BadArguments', `${what} must be an array of {scheme, id, perms}`)
  if (value.length === 0) throw new HerdError('InvalidACL', `${what} must not be empty`)
  if (value.length > aclEntriesMax) throw new HerdError('BadArguments', `${what} has more than ${aclEntriesMax} entries`)
  return value.map((item, i): AclEntry => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new HerdError('BadArguments', `${what}[${i}] must be an object`)
    const entry = item as Record<string, unknown>
    for (const key of Object.keys(entry)) {
      if (key !== 'scheme' && key !== 'id' && key !== 'perms') throw new HerdError('BadArguments', `${what}[${i}] has an unknown field "${key}"`)
    }
    const { scheme, id, perms } = entry
    if (typeof scheme !== 'string' || typeof id !== 'string' || typeof perms !== 'string') {
      throw new HerdError('BadArguments', `${what}[${i}] needs string fields scheme, id and perms`)
    }
    if (!scheme.isWellFormed() || !id.isWellFormed()) throw new HerdError('InvalidACL', `${what}[${i}] must be well-formed Unicode`)
    return { scheme, id, perms: permsFromLetters(perms) }
  })
}

export function aclJson(acl: Acl): Array<{ scheme: string; id: string; perms: string }> {
  return acl.map((entry) => ({ scheme: entry.scheme, id: entry.id, perms: lettersFromPerms(entry.perms) }))
}
