// Sessions and ephemerals (zookeeperProgrammers.md, "ZooKeeper Sessions"; CreateMode.EPHEMERAL).
import { describe, expect, it } from 'vitest'
import { openAcl, type Command } from '../../../src/tree/index.ts'
import { Harness, bytes, createOp } from './harness.ts'

describe('createSession', () => {
  it('uses the zxid of its entry as the session id', () => {
    const h = new Harness()
    h.create('/a')
    const result = h.ok({ type: 'createSession', timeoutMs: 6000, secretHash: 'abc' }, {}, 'createSession')
    expect(result).toEqual({ type: 'createSession', sessionId: 2, timeoutMs: 6000 })
    expect(h.tree.getSession(2)).toEqual({ sessionId: 2, timeoutMs: 6000, secretHash: 'abc', ephemeralCount: 0 })
    expect(h.tree.sessionIds()).toEqual([2])
  })

  it('is allowed from a caller whose session does not exist (it makes the session)', () => {
    const h = new Harness()
    h.ok({ type: 'createSession', timeoutMs: 6000, secretHash: 'abc' }, { sessionId: 999 })
  })
})

describe('ephemerals', () => {
  it('are owned by the creating session: ephemeralOwner is its id', () => {
    const h = new Harness()
    const session = h.openSession()
    h.create('/e', { kind: 'ephemeral', sessionId: session })
    expect(h.stat('/e').ephemeralOwner).toBe(session)
    expect(h.tree.getSession(session)?.ephemeralCount).toBe(1)
  })

  it('persistent, container and TTL znodes show ephemeralOwner 0 (getClientEphemeralOwner)', () => {
    const h = new Harness()
    const session = h.openSession()
    h.create('/p', { sessionId: session })
    h.create('/c', { kind: 'container', sessionId: session })
    h.create('/t', { kind: 'ttl', ttlMs: 1000, sessionId: session })
    for (const path of ['/p', '/c', '/t']) expect(h.stat(path).ephemeralOwner).toBe(0)
  })

  it('need a live session: none, or a closed one, is SessionExpired', () => {
    const h = new Harness()
    expect(h.fail(createOp('/e', { kind: 'ephemeral' })).code).toBe('SessionExpired')
    const session = h.openSession()
    h.ok({ type: 'closeSession', sessionId: session, isExpiry: true })
    expect(h.fail(createOp('/e', { kind: 'ephemeral' }), { sessionId: session }).code).toBe('SessionExpired')
  })

  it('cannot have children (NoChildrenForEphemerals)', () => {
    const h = new Harness()
    const session = h.openSession()
    h.create('/e', { kind: 'ephemeral', sessionId: session })
    expect(h.fail(createOp('/e/child'), { sessionId: session }).code).toBe('NoChildrenForEphemerals')
  })

  it('can be deleted by anyone before the session ends', () => {
    const h = new Harness()
    const session = h.openSession()
    h.create('/e', { kind: 'ephemeral', sessionId: session })
    h.ok({ type: 'delete', path: '/e', version: -1 })
    expect(h.tree.getSession(session)?.ephemeralCount).toBe(0)
    expect(h.ok({ type: 'closeSession', sessionId: session, isExpiry: false }, {}, 'closeSession').deletedPaths).toEqual([])
  })
})

describe('closeSession', () => {
  it('deletes every ephemeral of the session, in sorted path order, with delete events, under one zxid', () => {
    const h = new Harness()
    const session = h.openSession()
    const other = h.openSession()
    h.create('/b')
    h.create('/b/e2', { kind: 'ephemeral', sessionId: session })
    h.create('/a', { kind: 'ephemeral', sessionId: session })
    h.create('/b/e1', { kind: 'ephemeral', sessionId: session })
    h.create('/keep', { kind: 'ephemeral', sessionId: other })
    const applied = h.apply({ type: 'closeSession', sessionId: session, isExpiry: true })
    expect(applied.outcome).toEqual({ ok: true, result: { type: 'closeSession', sessionId: session, deletedPaths: ['/a', '/b/e1', '/b/e2'] } })
    expect(applied.events.map((e) => [e.type, e.path, e.zxid])).toEqual([
      ['NodeDeleted', '/a', h.zxid],
      ['NodeChildrenChanged', '/', h.zxid],
      ['NodeDeleted', '/b/e1', h.zxid],
      ['NodeChildrenChanged', '/b', h.zxid],
      ['NodeDeleted', '/b/e2', h.zxid],
      ['NodeChildrenChanged', '/b', h.zxid],
    ])
    expect(applied.events[5]?.stat).toMatchObject({ numChildren: 0, pzxid: h.zxid })
    expect(h.tree.exists('/a')).toBeUndefined()
    expect(h.tree.exists('/keep')).toBeDefined()
    expect(h.tree.getSession(session)).toBeUndefined()
    expect(h.tree.sessionIds()).toEqual([other])
  })

  it('fails with SessionExpired for a session that does not exist, changing nothing', () => {
    const h = new Harness()
    const before = h.state()
    expect(h.fail({ type: 'closeSession', sessionId: 42, isExpiry: true })).toMatchObject({ code: 'SessionExpired', path: null })
    expect(h.state()).toEqual(before)
  })

  it('cannot be resumed: once closed, the session is gone for good', () => {
    const h = new Harness()
    const session = h.openSession()
    h.ok({ type: 'closeSession', sessionId: session, isExpiry: false })
    expect(h.fail({ type: 'closeSession', sessionId: session, isExpiry: false }).code).toBe('SessionExpired')
    expect(h.fail(createOp('/x'), { sessionId: session }).code).toBe('SessionExpired')
  })
})

describe('a caller whose session does not exist', () => {
  const commands: Command[] = [
    createOp('/new'),
    { type: 'delete', path: '/a', version: -1 },
    { type: 'setData', path: '/a', data: bytes('x'), version: -1 },
    { type: 'put', path: '/a', data: bytes('x'), acl: openAcl },
    { type: 'setACL', path: '/a', acl: openAcl, version: -1 },
    { type: 'multi', ops: [createOp('/m')] },
    { type: 'multi', ops: [] },
    { type: 'closeSession', sessionId: 1, isExpiry: false },
    { type: 'reap', path: '/a', czxid: 2 },
    { type: 'noop' },
  ]

  it.each(commands.map((command) => [command.type, command] as const))('fails %s with SessionExpired and changes nothing', (_, command) => {
    const h = new Harness()
    h.openSession()
    h.create('/a')
    const before = h.state()
    const failure = h.fail(command, { sessionId: 777 })
    expect(failure.code).toBe('SessionExpired')
    expect(failure.path).toBe('path' in command ? command.path : null)
    expect(h.state()).toEqual(before)
    expect(h.tree.zxid).toBe(h.zxid) // the zxid still advances
  })

  it('session 0 means no session: plain writes are fine', () => {
    const h = new Harness()
    h.create('/a', { sessionId: 0 })
  })
})

describe('getEphemerals (3.6)', () => {
  it('lists the session ephemerals whose path starts with the prefix, sorted', () => {
    const h = new Harness()
    const session = h.openSession()
    h.create('/app')
    h.create('/app/z', { kind: 'ephemeral', sessionId: session })
    h.create('/app/a', { kind: 'ephemeral', sessionId: session })
    h.create('/apple', { kind: 'ephemeral', sessionId: session })
    h.create('/other', { kind: 'ephemeral', sessionId: session })
    expect(h.tree.getEphemerals(session, '/')).toEqual(['/app/a', '/app/z', '/apple', '/other'])
    expect(h.tree.getEphemerals(session, '/app/')).toEqual(['/app/a', '/app/z'])
    expect(h.tree.getEphemerals(session, '/app')).toEqual(['/app/a', '/app/z', '/apple'])
    expect(h.tree.getEphemerals(12345, '/')).toEqual([])
  })
})
