// multi (ZooKeeper 3.4): atomic, one zxid, later ops see earlier ones, and
// the failure pattern of DataTree.processTxn's multi branch.
import { describe, expect, it } from 'vitest'
import { Perms, type MultiOp } from '../../../src/tree/index.ts'
import { Harness, bytes, createOp } from './harness.ts'

describe('multi success', () => {
  it('applies every op under one zxid and returns one result per op', () => {
    const h = new Harness()
    h.create('/x', { data: bytes('old') })
    const ops: MultiOp[] = [
      createOp('/a'),
      { type: 'setData', path: '/x', data: bytes('new'), version: 0 },
      { type: 'check', path: '/x', version: 1 },
      { type: 'delete', path: '/x', version: 1 },
    ]
    const result = h.ok({ type: 'multi', ops }, {}, 'multi')
    const zxid = h.zxid
    expect(result.results.map((r) => [r.type, r.path])).toEqual([
      ['create', '/a'],
      ['setData', '/x'],
      ['check', '/x'],
      ['delete', '/x'],
    ])
    expect(h.stat('/a')).toMatchObject({ czxid: zxid, mzxid: zxid })
    expect(h.stat('/').pzxid).toBe(zxid)
    expect(h.tree.zxid).toBe(zxid)
  })

  it('later ops see earlier ones: create /a then /a/b', () => {
    const h = new Harness()
    h.ok({ type: 'multi', ops: [createOp('/a'), createOp('/a/b'), createOp('/a/', { isSequential: true })] })
    expect(h.children('/a')).toEqual(['0000000001', 'b'])
  })

  it('later ops see earlier ones: create then delete the same path', () => {
    const h = new Harness()
    const result = h.ok({ type: 'multi', ops: [createOp('/t'), { type: 'delete', path: '/t', version: 0 }] }, {}, 'multi')
    expect(result.results).toHaveLength(2)
    expect(h.tree.exists('/t')).toBeUndefined()
    // the create still counted: root cversion went -1 -> 0 (create) -> 1 (delete)
    expect(h.stat('/').cversion).toBe(1)
  })

  it('setData twice in one multi bumps the version twice', () => {
    const h = new Harness()
    h.create('/a')
    h.ok({
      type: 'multi',
      ops: [
        { type: 'setData', path: '/a', data: bytes('1'), version: 0 },
        { type: 'setData', path: '/a', data: bytes('2'), version: 1 },
      ],
    })
    expect(h.stat('/a').version).toBe(2)
  })

  it('an empty multi succeeds with no results', () => {
    const h = new Harness()
    const applied = h.apply({ type: 'multi', ops: [] })
    expect(applied.outcome).toEqual({ ok: true, result: { type: 'multi', results: [] } })
    expect(applied.events).toEqual([])
  })

  it('check(-1) means the znode exists; a missing one is NoNode', () => {
    const h = new Harness()
    h.create('/a')
    h.ok({ type: 'multi', ops: [{ type: 'check', path: '/a', version: -1 }] })
    expect(h.fail({ type: 'multi', ops: [{ type: 'check', path: '/b', version: -1 }] }).code).toBe('NoNode')
    expect(h.fail({ type: 'multi', ops: [{ type: 'check', path: '/a', version: 3 }] }).code).toBe('BadVersion')
  })

  it('emits the events of every op in op order', () => {
    const h = new Harness()
    h.create('/x')
    const applied = h.apply({
      type: 'multi',
      ops: [createOp('/a'), { type: 'setData', path: '/x', data: bytes('d'), version: -1 }, { type: 'delete', path: '/a', version: -1 }],
    })
    expect(applied.events.map((e) => [e.type, e.path, e.zxid])).toEqual([
      ['NodeCreated', '/a', 2],
      ['NodeChildrenChanged', '/', 2],
      ['NodeDataChanged', '/x', 2],
      ['NodeDeleted', '/a', 2],
      ['NodeChildrenChanged', '/', 2],
    ])
  })

  it('accepts every create mode inside a multi: ephemeral, container, TTL, sequential', () => {
    const h = new Harness()
    const session = h.openSession()
    const result = h.ok(
      {
        type: 'multi',
        ops: [
          createOp('/e', { kind: 'ephemeral' }),
          createOp('/c', { kind: 'container' }),
          createOp('/t', { kind: 'ttl', ttlMs: 5 }),
          createOp('/s-', { isSequential: true }),
        ],
      },
      { sessionId: session },
      'multi',
    )
    expect(result.results.map((r) => r.path)).toEqual(['/e', '/c', '/t', '/s-0000000003'])
    expect(h.stat('/e').ephemeralOwner).toBe(session)
  })
})

describe('multi failure (all or nothing)', () => {
  function failingMulti(h: Harness) {
    h.create('/x', { data: bytes('x') })
    h.create('/p')
    h.create('/p/q')
    const session = h.openSession()
    h.create('/e', { kind: 'ephemeral', sessionId: session })
    const ops: MultiOp[] = [
      createOp('/new'),
      createOp('/new/child', { kind: 'container' }),
      createOp('/p/', { isSequential: true }),
      { type: 'setData', path: '/x', data: bytes('y'), version: -1 },
      { type: 'delete', path: '/p/q', version: -1 },
      { type: 'delete', path: '/e', version: -1 },
      createOp('/e2', { kind: 'ephemeral' }),
      { type: 'delete', path: '/missing', version: -1 }, // fails: NoNode
      createOp('/after'),
      { type: 'check', path: '/x', version: 0 },
    ]
    return { ops, session }
  }

  it('reports earlier ops Ok, the failing op its code, later ops RuntimeInconsistency', () => {
    const h = new Harness()
    const { ops, session } = failingMulti(h)
    const failure = h.fail({ type: 'multi', ops }, { sessionId: session })
    expect(failure.code).toBe('NoNode')
    expect(failure.path).toBe('/missing')
    expect(failure.failedOp).toBe(7)
    expect(failure.results).toEqual([
      { code: 'Ok', path: '/new' },
      { code: 'Ok', path: '/new/child' },
      { code: 'Ok', path: '/p/' },
      { code: 'Ok', path: '/x' },
      { code: 'Ok', path: '/p/q' },
      { code: 'Ok', path: '/e' },
      { code: 'Ok', path: '/e2' },
      { code: 'NoNode', path: '/missing' },
      { code: 'RuntimeInconsistency', path: '/after' },
      { code: 'RuntimeInconsistency', path: '/x' },
    ])
  })

  it('rolls back: the digest and every stat, ACL, datum, session and counter are unchanged', () => {
    const h = new Harness()
    const { ops, session } = failingMulti(h)
    const before = h.state()
    const sessionBefore = h.tree.getSession(session)
    const descendantsBefore = h.tree.countDescendants('/')
    h.fail({ type: 'multi', ops }, { sessionId: session })
    expect(h.state()).toEqual(before)
    expect(h.tree.digest()).toBe(h.tree.computeDigestFromScratch())
    expect(h.tree.getSession(session)).toEqual(sessionBefore)
    expect(h.tree.getEphemerals(session, '/')).toEqual(['/e'])
    expect(h.tree.countDescendants('/')).toBe(descendantsBefore)
    expect(h.tree.reapCandidates(h.timeMs, 10)).toEqual([])
    // the sequence counter of /p was restored: the next name is the one the multi would have used
    expect(h.create('/p/', { isSequential: true })).toBe('/p/0000000001')
  })

  it('rolls back a setACL-free multi that replaced ACL-bearing znodes (delete then re-create)', () => {
    const h = new Harness()
    const acl = [{ scheme: 'digest', id: 'u:h', perms: Perms.all }]
    h.create('/a', { acl })
    const before = h.state()
    h.fail({
      type: 'multi',
      ops: [{ type: 'delete', path: '/a', version: -1 }, createOp('/a', { acl }), createOp('/a')],
    })
    expect(h.state()).toEqual(before)
    expect(h.tree.getAcl('/a')?.acl).toEqual(acl)
  })

  it('fails at the first failing op even if a later one would fail differently', () => {
    const h = new Harness()
    const failure = h.fail({
      type: 'multi',
      ops: [
        { type: 'check', path: '/', version: 5 },
        { type: 'delete', path: '/nope', version: -1 },
      ],
    })
    expect(failure).toMatchObject({ code: 'BadVersion', failedOp: 0, path: '/' })
  })

  it('still takes the zxid: tree.zxid advances on a failed multi', () => {
    const h = new Harness()
    h.fail({ type: 'multi', ops: [{ type: 'delete', path: '/nope', version: -1 }] })
    expect(h.tree.zxid).toBe(1)
  })
})
