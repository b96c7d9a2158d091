// Watch events per write (zookeeperProgrammers.md, "ZooKeeper Watches":
// which writes fire which events).
import { describe, expect, it } from 'vitest'
import { Perms, openAcl } from '../../../src/tree/index.ts'
import { Harness, bytes, createOp } from './harness.ts'

describe('events', () => {
  it('create fires NodeCreated on the znode with its new stat, then NodeChildrenChanged on the parent with the parent stat', () => {
    const h = new Harness()
    h.create('/p')
    const applied = h.apply(createOp('/p/c', { data: bytes('hi') }))
    expect(applied.events).toEqual([
      { type: 'NodeCreated', path: '/p/c', zxid: 2, stat: h.stat('/p/c') },
      { type: 'NodeChildrenChanged', path: '/p', zxid: 2, stat: h.stat('/p') },
    ])
    expect(applied.events[1]?.stat).toMatchObject({ numChildren: 1, cversion: 1, pzxid: 2 })
  })

  it('a sequential create names the final path in its events', () => {
    const h = new Harness()
    const applied = h.apply(createOp('/s-', { isSequential: true }))
    expect(applied.events[0]).toMatchObject({ type: 'NodeCreated', path: '/s-0000000000' })
  })

  it('delete fires NodeDeleted with a null stat, then NodeChildrenChanged on the parent', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/c')
    const applied = h.apply({ type: 'delete', path: '/p/c', version: -1 })
    expect(applied.events).toEqual([
      { type: 'NodeDeleted', path: '/p/c', zxid: 3, stat: null },
      { type: 'NodeChildrenChanged', path: '/p', zxid: 3, stat: h.stat('/p') },
    ])
  })

  it('setData fires NodeDataChanged with the new stat, and no child event on the parent', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/c')
    const applied = h.apply({ type: 'setData', path: '/p/c', data: bytes('x'), version: -1 })
    expect(applied.events).toEqual([{ type: 'NodeDataChanged', path: '/p/c', zxid: 3, stat: h.stat('/p/c') }])
    expect(applied.outcome).toMatchObject({ ok: true, result: { type: 'setData', stat: h.stat('/p/c') } })
  })

  it('setACL fires no event', () => {
    const h = new Harness()
    h.create('/a')
    const applied = h.apply({ type: 'setACL', path: '/a', acl: [{ scheme: 'world', id: 'anyone', perms: Perms.read }], version: -1 })
    expect(applied.outcome.ok).toBe(true)
    expect(applied.events).toEqual([])
  })

  it('put fires the events of what it did', () => {
    const h = new Harness()
    expect(h.apply({ type: 'put', path: '/a', data: bytes('1'), acl: openAcl }).events.map((e) => e.type)).toEqual([
      'NodeCreated',
      'NodeChildrenChanged',
    ])
    expect(h.apply({ type: 'put', path: '/a', data: bytes('2'), acl: openAcl }).events.map((e) => e.type)).toEqual(['NodeDataChanged'])
  })

  it('failed, session and noop entries fire nothing', () => {
    const h = new Harness()
    expect(h.apply({ type: 'noop' }).events).toEqual([])
    expect(h.apply({ type: 'createSession', timeoutMs: 1000, secretHash: 'h' }).events).toEqual([])
    expect(h.apply(createOp('/a/b')).events).toEqual([])
    expect(h.apply({ type: 'multi', ops: [createOp('/a'), createOp('/a')] }).events).toEqual([])
  })

  it('event stats are snapshots: a later change does not rewrite an earlier event', () => {
    const h = new Harness()
    const created = h.apply(createOp('/a'))
    h.ok({ type: 'setData', path: '/a', data: bytes('x'), version: -1 })
    expect(created.events[0]?.stat).toMatchObject({ version: 0, dataLength: 0 })
    expect(created.events[1]?.stat).toMatchObject({ numChildren: 2 })
  })

  it('a multi reports each event with the stat as of its op', () => {
    const h = new Harness()
    const applied = h.apply({
      type: 'multi',
      ops: [createOp('/a'), { type: 'setData', path: '/a', data: bytes('x'), version: -1 }],
    })
    expect(applied.events[0]?.stat).toMatchObject({ version: 0, dataLength: 0 })
    expect(applied.events[2]?.stat).toMatchObject({ version: 1, dataLength: 1 })
  })
})
