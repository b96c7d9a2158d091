// create, put and their failures, in PrepRequestProcessor.pRequest2TxnCreate's order.
import { describe, expect, it } from 'vitest'
import type { ZnodeRecord } from '../../../src/tree/data-tree.ts'
import { DataTree, Perms, openAcl, ttlMsMax, type Acl } from '../../../src/tree/index.ts'
import { Harness, bytes, createOp, testOptions } from './harness.ts'

describe('sequential names (pRequest2TxnCreate: path + %010d of the parent cversion)', () => {
  it('appends the 10-digit counter with no separator, to an empty or non-empty prefix', () => {
    const h = new Harness()
    h.create('/tasks')
    expect(h.create('/tasks/', { isSequential: true })).toBe('/tasks/0000000000')
    expect(h.create('/tasks/job-', { isSequential: true })).toBe('/tasks/job-0000000001')
    expect(h.create('/tasks/job', { isSequential: true })).toBe('/tasks/job0000000002')
  })

  it('any child create advances the counter, sequential or not', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/plain')
    h.create('/p/other')
    expect(h.create('/p/s-', { isSequential: true })).toBe('/p/s-0000000002')
  })

  it('never reuses a number after a delete', () => {
    const h = new Harness()
    h.create('/p')
    const first = h.create('/p/n-', { isSequential: true })
    h.ok({ type: 'delete', path: first, version: -1 })
    expect(h.create('/p/n-', { isSequential: true })).toBe('/p/n-0000000001')
  })

  it('counts per parent', () => {
    const h = new Harness()
    h.create('/a')
    h.create('/b')
    h.create('/a/', { isSequential: true })
    h.create('/a/', { isSequential: true })
    expect(h.create('/b/', { isSequential: true })).toBe('/b/0000000000')
  })

  it('checks NodeExists after the suffix is appended', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/x0000000001') // counter is now 1: the next sequential name collides
    const failure = h.fail(createOp('/p/x', { isSequential: true }))
    expect(failure.code).toBe('NodeExists')
    // the failed create did not consume the number
    h.ok({ type: 'delete', path: '/p/x0000000001', version: -1 })
    expect(h.create('/p/x', { isSequential: true })).toBe('/p/x0000000001')
  })

  it('wraps the counter like a Java int: 2147483647, then -2147483648', () => {
    const h = new Harness()
    h.tree.restoreZnode(record('/p', 2147483647))
    expect(h.create('/p/', { isSequential: true })).toBe('/p/2147483647')
    expect(h.create('/p/', { isSequential: true })).toBe('/p/-2147483648')
  })

  it('formats a wrapped negative counter sign-first, zero padded to width 10', () => {
    const h = new Harness()
    h.tree.restoreZnode(record('/p', 2 ** 32 - 1))
    expect(h.create('/p/', { isSequential: true })).toBe('/p/-000000001')
    expect(h.create('/p/', { isSequential: true })).toBe('/p/0000000000')
  })

  it('sequential ephemerals and TTL znodes are numbered too', () => {
    const h = new Harness()
    const session = h.openSession()
    h.create('/q')
    expect(h.create('/q/e-', { isSequential: true, kind: 'ephemeral', sessionId: session })).toBe('/q/e-0000000000')
    expect(h.create('/q/t-', { isSequential: true, kind: 'ttl', ttlMs: 100 })).toBe('/q/t-0000000001')
  })
})

function record(path: string, creations: number): ZnodeRecord {
  return {
    path,
    data: new Uint8Array(0),
    acl: openAcl,
    kind: 'persistent',
    ephemeralOwner: 0,
    ttlMs: 0,
    czxid: 0,
    ctime: 0,
    mzxid: 0,
    mtime: 0,
    pzxid: 0,
    version: 0,
    aversion: 0,
    creations,
  }
}

describe('create failures, first that applies', () => {
  it('NoNode when the parent is missing', () => {
    const h = new Harness()
    expect(h.fail(createOp('/a/b'))).toMatchObject({ code: 'NoNode', path: '/a/b' })
    expect(h.fail(createOp('/a/', { isSequential: true })).code).toBe('NoNode')
  })

  it('NodeExists when the path exists, the root included', () => {
    const h = new Harness()
    h.create('/a')
    expect(h.fail(createOp('/a'))).toMatchObject({ code: 'NodeExists', path: '/a' })
    expect(h.fail(createOp('/')).code).toBe('NodeExists')
  })

  it('NoChildrenForEphemerals under an ephemeral parent, sequential or not', () => {
    const h = new Harness()
    const session = h.openSession()
    h.create('/e', { kind: 'ephemeral', sessionId: session })
    expect(h.fail(createOp('/e/c')).code).toBe('NoChildrenForEphemerals')
    expect(h.fail(createOp('/e/', { isSequential: true })).code).toBe('NoChildrenForEphemerals')
    expect(h.fail(createOp('/e/c', { kind: 'ephemeral' }), { sessionId: session }).code).toBe('NoChildrenForEphemerals')
  })

  it('BadArguments for an invalid path, checked by apply itself', () => {
    const h = new Harness()
    for (const path of ['', 'a', '/a/', '//a', '/.', '/a/..', '/a\u0000', '/\ud800', '/\ufffe']) {
      expect(h.fail(createOp(path)).code).toBe('BadArguments')
    }
    expect(h.fail(createOp('/a//', { isSequential: true })).code).toBe('BadArguments')
  })

  it('BadArguments for a container that is sequential (CreateMode has no such mode)', () => {
    const h = new Harness()
    expect(h.fail(createOp('/c', { kind: 'container', isSequential: true })).code).toBe('BadArguments')
  })

  it('BadArguments for a TTL outside 0 < ttl <= 0xFFFFFFFFFF (EphemeralType.validateTTL)', () => {
    const h = new Harness()
    for (const ttlMs of [0, -1, ttlMsMax + 1, 1.5]) {
      expect(h.fail(createOp('/t', { kind: 'ttl', ttlMs })).code).toBe('BadArguments')
    }
    h.create('/max', { kind: 'ttl', ttlMs: ttlMsMax })
    h.create('/min', { kind: 'ttl', ttlMs: 1 })
  })

  it('BadArguments for a TTL given with a kind other than ttl', () => {
    const h = new Harness()
    for (const kind of ['persistent', 'ephemeral', 'container'] as const) {
      expect(h.fail(createOp('/x', { kind, ttlMs: 100 })).code).toBe('BadArguments')
    }
  })

  it('BadArguments comes before InvalidACL, which comes before NodeExists and NoNode', () => {
    const h = new Harness()
    h.create('/a')
    expect(h.fail(createOp('/a/', { acl: [] })).code).toBe('BadArguments')
    expect(h.fail(createOp('/a', { acl: [] })).code).toBe('InvalidACL')
    expect(h.fail(createOp('/missing/x', { acl: [] })).code).toBe('InvalidACL')
    expect(h.fail(createOp('/missing/x', { kind: 'container', isSequential: true, acl: [] })).code).toBe('BadArguments')
  })

  it('SessionExpired for an ephemeral without a live session, after the tree checks', () => {
    const h = new Harness()
    expect(h.fail(createOp('/e', { kind: 'ephemeral' })).code).toBe('SessionExpired')
    // NodeExists and NoNode are reported first
    h.create('/a')
    expect(h.fail(createOp('/a', { kind: 'ephemeral' })).code).toBe('NodeExists')
    expect(h.fail(createOp('/x/y', { kind: 'ephemeral' })).code).toBe('NoNode')
  })

  it('does not change the tree when it fails', () => {
    const h = new Harness()
    h.create('/a')
    const before = h.state()
    h.fail(createOp('/a'))
    h.fail(createOp('/b/c'))
    h.fail(createOp('/a', { acl: [] }))
    expect(h.state()).toEqual(before)
  })
})

describe('reserved /zookeeper', () => {
  it('refuses every write under /zookeeper with BadArguments', () => {
    const h = new Harness()
    const before = h.state()
    const writes = [
      createOp('/zookeeper/x'),
      createOp('/zookeeper/quota/x'),
      createOp('/zookeeper/', { isSequential: true }),
      createOp('/zookeeper'),
      { type: 'delete', path: '/zookeeper', version: -1 },
      { type: 'delete', path: '/zookeeper/quota', version: -1 },
      { type: 'delete', path: '/zookeeper/config', version: -1 },
      { type: 'setData', path: '/zookeeper/config', data: bytes('x'), version: -1 },
      { type: 'setData', path: '/zookeeper', data: bytes('x'), version: -1 },
      { type: 'put', path: '/zookeeper/quota', data: bytes('x'), acl: openAcl },
      { type: 'put', path: '/zookeeper/new', data: bytes('x'), acl: openAcl },
      { type: 'setACL', path: '/zookeeper', acl: openAcl, version: -1 },
      { type: 'multi', ops: [createOp('/zookeeper/m')] },
      { type: 'multi', ops: [{ type: 'setData', path: '/zookeeper/quota', data: bytes('x'), version: -1 }] },
    ] as const
    for (const command of writes) expect(h.fail(command).code).toBe('BadArguments')
    expect(h.state()).toEqual(before)
  })

  it('allows reads, and a sequential prefix /zookeeper (its name is /zookeeper0000000000)', () => {
    const h = new Harness()
    expect(h.tree.getData('/zookeeper/config')).toBeDefined()
    h.ok({ type: 'multi', ops: [{ type: 'check', path: '/zookeeper/config', version: 0 }] })
    expect(h.create('/zookeeper', { isSequential: true })).toBe('/zookeeper0000000000')
  })

  it('refuses to delete the root with BadArguments', () => {
    const h = new Harness()
    expect(h.fail({ type: 'delete', path: '/', version: -1 })).toMatchObject({ code: 'BadArguments', path: '/' })
  })
})

describe('ACLs (fixupACL)', () => {
  const world = (perms: number): Acl => [{ scheme: 'world', id: 'anyone', perms }]

  it.each<[string, Acl]>([
    ['an empty ACL', []],
    ['world with an id other than anyone', [{ scheme: 'world', id: 'bob', perms: Perms.all }]],
    ['the auth scheme without an authenticated caller', [{ scheme: 'auth', id: '', perms: Perms.all }]],
    ['super, which is not settable', [{ scheme: 'super', id: 'x', perms: Perms.all }]],
    ['an unknown scheme', [{ scheme: 'kerberos', id: 'x', perms: Perms.all }]],
    ['perms above 31', world(32)],
    ['negative perms', world(-1)],
    ['a digest id without one user:hash split', [{ scheme: 'digest', id: 'user', perms: Perms.all }]],
    ['a digest id with two colons', [{ scheme: 'digest', id: 'a:b:c', perms: Perms.all }]],
    ['an ip id that is not an address', [{ scheme: 'ip', id: 'localhost', perms: Perms.all }]],
    ['an ip id with too many mask bits', [{ scheme: 'ip', id: '10.0.0.0/33', perms: Perms.all }]],
    ['an ip octet above 255', [{ scheme: 'ip', id: '10.0.0.256', perms: Perms.all }]],
    ['one bad entry among good ones', [...openAcl, { scheme: 'nope', id: 'x', perms: 1 }]],
  ])('InvalidACL for %s', (_, acl) => {
    const h = new Harness()
    h.create('/a')
    expect(h.fail(createOp('/b', { acl })).code).toBe('InvalidACL')
    expect(h.fail({ type: 'setACL', path: '/a', acl, version: -1 }).code).toBe('InvalidACL')
  })

  it.each<[string, Acl]>([
    ['world:anyone with any perms', world(0)],
    ['digest user:hash', [{ scheme: 'digest', id: 'user:c2VjcmV0', perms: Perms.read }]],
    ['digest with a trailing colon (Java split drops it)', [{ scheme: 'digest', id: 'user:hash:', perms: Perms.read }]],
    ['an ip address', [{ scheme: 'ip', id: '10.0.0.1', perms: Perms.all }]],
    ['an ip network', [{ scheme: 'ip', id: '10.0.0.0/8', perms: Perms.all }]],
    ['an IPv6 network', [{ scheme: 'ip', id: 'fe80::1/64', perms: Perms.all }]],
    ['x509', [{ scheme: 'x509', id: 'CN=client', perms: Perms.all }]],
    ['sasl', [{ scheme: 'sasl', id: 'user@REALM', perms: Perms.all }]],
  ])('accepts %s', (_, acl) => {
    const h = new Harness()
    h.create('/a', { acl })
    expect(h.tree.getAcl('/a')?.acl).toEqual(acl)
  })

  it('removes duplicate entries, keeping the first of each (removeDuplicates)', () => {
    const h = new Harness()
    const reader = { scheme: 'digest', id: 'u:h', perms: Perms.read }
    h.create('/a', { acl: [reader, ...openAcl, reader, ...openAcl] })
    expect(h.tree.getAcl('/a')?.acl).toEqual([reader, ...openAcl])
  })

  it('stores ACLs per znode: a child does not inherit its parent ACL', () => {
    const h = new Harness()
    h.create('/a', { acl: world(Perms.read | Perms.create) })
    h.create('/a/b')
    expect(h.tree.getAcl('/a/b')?.acl).toEqual(openAcl)
  })

  it('hands out ACLs that later changes do not touch', () => {
    const h = new Harness()
    h.create('/a')
    const held = h.tree.getAcl('/a')?.acl
    h.ok({ type: 'setACL', path: '/a', acl: world(Perms.read), version: -1 })
    expect(held).toEqual(openAcl)
    expect(Object.isFrozen(h.tree.getAcl('/a')?.acl)).toBe(true)
  })
})

describe('QuotaExceeded limits', () => {
  it('refuses a create once the tree holds znodesMax znodes (system znodes count)', () => {
    const h = new Harness({ ...testOptions, znodesMax: 6 })
    h.create('/a')
    h.create('/b')
    expect(h.tree.znodeCount).toBe(6)
    expect(h.fail(createOp('/c')).code).toBe('QuotaExceeded')
    expect(h.fail({ type: 'put', path: '/c', data: bytes(''), acl: openAcl }).code).toBe('QuotaExceeded')
    h.ok({ type: 'put', path: '/a', data: bytes('update is fine'), acl: openAcl })
    h.ok({ type: 'delete', path: '/b', version: -1 })
    h.create('/c')
  })

  it('refuses an ephemeral once its session owns ephemeralsPerSessionMax', () => {
    const h = new Harness({ ...testOptions, ephemeralsPerSessionMax: 2 })
    const one = h.openSession()
    const two = h.openSession()
    h.create('/e1', { kind: 'ephemeral', sessionId: one })
    h.create('/e2', { kind: 'ephemeral', sessionId: one })
    expect(h.fail(createOp('/e3', { kind: 'ephemeral' }), { sessionId: one }).code).toBe('QuotaExceeded')
    h.create('/e3', { kind: 'ephemeral', sessionId: two })
    h.create('/p3', { sessionId: one }) // persistent znodes are not counted
  })

  it('refuses a session past sessionsMax, and makes room when one closes', () => {
    const h = new Harness({ ...testOptions, sessionsMax: 2 })
    const one = h.openSession()
    h.openSession()
    expect(h.fail({ type: 'createSession', timeoutMs: 1000, secretHash: 'h' }).code).toBe('QuotaExceeded')
    h.ok({ type: 'closeSession', sessionId: one, isExpiry: false })
    h.openSession()
    expect(h.tree.sessionCount).toBe(2)
  })
})

describe('put (herd upsert)', () => {
  it('creates a persistent znode when missing: isCreated true, create events', () => {
    const h = new Harness()
    const applied = h.apply({ type: 'put', path: '/a', data: bytes('v1'), acl: openAcl })
    expect(applied.outcome).toMatchObject({ ok: true, result: { type: 'put', path: '/a', isCreated: true, stat: { version: 0, czxid: 1 } } })
    expect(applied.events.map((e) => [e.type, e.path])).toEqual([
      ['NodeCreated', '/a'],
      ['NodeChildrenChanged', '/'],
    ])
    expect(h.stat('/a').ephemeralOwner).toBe(0)
  })

  it('sets data when present, like setData(-1): isCreated false, version bumped', () => {
    const h = new Harness()
    h.create('/a', { data: bytes('v1') })
    const applied = h.apply({ type: 'put', path: '/a', data: bytes('v2'), acl: [] })
    expect(applied.outcome).toMatchObject({ ok: true, result: { type: 'put', isCreated: false, stat: { version: 1, mzxid: 2 } } })
    expect(applied.events.map((e) => e.type)).toEqual(['NodeDataChanged'])
    expect(h.tree.getData('/a')?.data).toEqual(bytes('v2'))
  })

  it('fails like a create when it must create: NoNode, NoChildrenForEphemerals, InvalidACL', () => {
    const h = new Harness()
    const session = h.openSession()
    h.create('/e', { kind: 'ephemeral', sessionId: session })
    expect(h.fail({ type: 'put', path: '/x/y', data: bytes(''), acl: openAcl }).code).toBe('NoNode')
    expect(h.fail({ type: 'put', path: '/e/y', data: bytes(''), acl: openAcl }).code).toBe('NoChildrenForEphemerals')
    expect(h.fail({ type: 'put', path: '/y', data: bytes(''), acl: [] }).code).toBe('InvalidACL')
    expect(h.fail({ type: 'put', path: '/y/', data: bytes(''), acl: openAcl }).code).toBe('BadArguments')
  })
})

describe('options', () => {
  it('refuses limits that are not positive integers (a programmer error)', () => {
    expect(() => new DataTree({ ...testOptions, znodesMax: 0 })).toThrow(/znodesMax/)
    expect(() => new DataTree({ ...testOptions, sessionsMax: 1.5 })).toThrow(/sessionsMax/)
  })
})
