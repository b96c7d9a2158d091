// The Stat structure and its counters, as ZooKeeper's DataTree keeps them.
import { describe, expect, it } from 'vitest'
import { Perms, openAcl } from '../../../src/tree/index.ts'
import { Harness, bytes, createOp } from './harness.ts'

describe('initial tree (DataTree constructor)', () => {
  it('holds /, /zookeeper, /zookeeper/quota and /zookeeper/config with zero stats', () => {
    const { tree } = new Harness()
    expect(tree.znodeCount).toBe(4)
    expect(tree.zxid).toBe(0)
    for (const path of ['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config']) {
      const stat = tree.exists(path)
      expect(stat).toMatchObject({ czxid: 0, mzxid: 0, pzxid: 0, ctime: 0, mtime: 0, version: 0, aversion: 0, ephemeralOwner: 0, dataLength: 0 })
    }
  })

  it('adds the system znodes without counting child creations: root cversion -1, /zookeeper cversion -2', () => {
    const h = new Harness()
    expect(h.stat('/')).toMatchObject({ numChildren: 1, cversion: -1 })
    expect(h.stat('/zookeeper')).toMatchObject({ numChildren: 2, cversion: -2 })
    expect(h.stat('/zookeeper/quota')).toMatchObject({ numChildren: 0, cversion: 0 })
    expect(h.children('/zookeeper')).toEqual(['config', 'quota'])
  })

  it('gives /zookeeper/config READ_ACL_UNSAFE and the others OPEN_ACL_UNSAFE (ZOOKEEPER-2014)', () => {
    const { tree } = new Harness()
    expect(tree.getAcl('/zookeeper/config')?.acl).toEqual([{ scheme: 'world', id: 'anyone', perms: Perms.read }])
    expect(tree.getAcl('/zookeeper/quota')?.acl).toEqual(openAcl)
    expect(tree.getAcl('/zookeeper')?.acl).toEqual(openAcl)
    expect(tree.getAcl('/')?.acl).toEqual(openAcl)
  })

  it('the first child of a fresh root is sequence 0000000000 (creations start at 0)', () => {
    const h = new Harness()
    expect(h.create('/', { isSequential: true })).toBe('/0000000000')
    expect(h.stat('/')).toMatchObject({ numChildren: 2, cversion: 0 })
  })
})

describe('czxid, mzxid, pzxid, ctime, mtime', () => {
  it('a create sets czxid = mzxid = pzxid = the zxid and ctime = mtime = entry.timeMs', () => {
    const h = new Harness()
    const result = h.ok(createOp('/a', { data: bytes('x') }), { timeMs: 5000 }, 'create')
    expect(result.stat).toEqual({
      czxid: 1,
      mzxid: 1,
      pzxid: 1,
      ctime: 5000,
      mtime: 5000,
      version: 0,
      cversion: 0,
      aversion: 0,
      ephemeralOwner: 0,
      dataLength: 1,
      numChildren: 0,
    })
  })

  it('setData moves mzxid and mtime, never czxid, ctime or pzxid', () => {
    const h = new Harness()
    h.create('/a', { timeMs: 1000 })
    h.ok({ type: 'setData', path: '/a', data: bytes('yy'), version: -1 }, { timeMs: 2000 })
    expect(h.stat('/a')).toMatchObject({ czxid: 1, ctime: 1000, mzxid: 2, mtime: 2000, pzxid: 1, dataLength: 2 })
  })

  it('a child create or delete moves the parent pzxid, not its mzxid or mtime', () => {
    const h = new Harness()
    h.create('/p', { timeMs: 1000 })
    h.create('/p/c', { timeMs: 2000 })
    expect(h.stat('/p')).toMatchObject({ mzxid: 1, mtime: 1000, pzxid: 2 })
    h.ok({ type: 'delete', path: '/p/c', version: -1 })
    expect(h.stat('/p')).toMatchObject({ mzxid: 1, mtime: 1000, pzxid: 3 })
  })

  it('a grandchild change does not move the grandparent pzxid', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/c')
    h.create('/p/c/g')
    expect(h.stat('/p').pzxid).toBe(2)
  })
})

describe('version and -1 (checkAndIncVersion)', () => {
  it('setData bumps version even when the bytes are identical', () => {
    const h = new Harness()
    h.create('/a', { data: bytes('same') })
    h.ok({ type: 'setData', path: '/a', data: bytes('same'), version: 0 })
    h.ok({ type: 'setData', path: '/a', data: bytes('same'), version: 1 })
    expect(h.stat('/a').version).toBe(2)
  })

  it('-1 matches any version; any other mismatch is BadVersion', () => {
    const h = new Harness()
    h.create('/a')
    h.ok({ type: 'setData', path: '/a', data: bytes('1'), version: -1 })
    h.ok({ type: 'setData', path: '/a', data: bytes('2'), version: -1 })
    expect(h.fail({ type: 'setData', path: '/a', data: bytes('3'), version: 0 }).code).toBe('BadVersion')
    expect(h.fail({ type: 'setData', path: '/a', data: bytes('3'), version: -2 }).code).toBe('BadVersion')
    expect(h.fail({ type: 'delete', path: '/a', version: 7 }).code).toBe('BadVersion')
    h.ok({ type: 'delete', path: '/a', version: 2 })
  })

  it('versions wrap like a Java int and skip -1, which would mean "any" (ZOOKEEPER-4743)', () => {
    const h = new Harness()
    const record = { data: new Uint8Array(0), acl: openAcl, kind: 'persistent', ephemeralOwner: 0, ttlMs: 0 } as const
    const times = { czxid: 0, ctime: 0, mzxid: 0, mtime: 0, pzxid: 0, creations: 0 }
    h.tree.restoreZnode({ ...record, ...times, path: '/max', version: 2147483647, aversion: 2147483647 })
    h.tree.restoreZnode({ ...record, ...times, path: '/neg', version: -2, aversion: 0 })
    h.ok({ type: 'setData', path: '/max', data: bytes('x'), version: 2147483647 })
    expect(h.stat('/max').version).toBe(-2147483648)
    h.ok({ type: 'setACL', path: '/max', acl: openAcl, version: 2147483647 })
    expect(h.stat('/max').aversion).toBe(-2147483648)
    h.ok({ type: 'setData', path: '/neg', data: bytes('x'), version: -2 })
    expect(h.stat('/neg').version).toBe(0)
  })

  it('setACL checks and bumps aversion, not version', () => {
    const h = new Harness()
    h.create('/a')
    const readAcl = [{ scheme: 'world', id: 'anyone', perms: Perms.read }]
    expect(h.fail({ type: 'setACL', path: '/a', acl: readAcl, version: 1 }).code).toBe('BadVersion')
    const result = h.ok({ type: 'setACL', path: '/a', acl: readAcl, version: 0 }, {}, 'setACL')
    expect(result.stat).toMatchObject({ aversion: 1, version: 0, mzxid: 1 })
    h.ok({ type: 'setACL', path: '/a', acl: openAcl, version: -1 })
    expect(h.stat('/a').aversion).toBe(2)
    expect(h.tree.getAcl('/a')?.acl).toEqual(openAcl)
  })
})

describe('cversion: visible count vs sequence counter (DataNode.copyStat)', () => {
  it('visible cversion counts creations plus deletions, as creations*2 - numChildren', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/a')
    h.create('/p/b')
    expect(h.stat('/p').cversion).toBe(2)
    h.ok({ type: 'delete', path: '/p/a', version: -1 })
    expect(h.stat('/p')).toMatchObject({ cversion: 3, numChildren: 1 })
    h.ok({ type: 'delete', path: '/p/b', version: -1 })
    expect(h.stat('/p')).toMatchObject({ cversion: 4, numChildren: 0 })
  })

  it('deletions do not advance the sequence counter, which counts creations only', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/a')
    h.create('/p/b')
    h.ok({ type: 'delete', path: '/p/a', version: -1 })
    h.ok({ type: 'delete', path: '/p/b', version: -1 })
    // visible cversion is 4, but two children were ever created
    expect(h.create('/p/', { isSequential: true })).toBe('/p/0000000002')
  })

  it('setData on a child changes no cversion of the parent', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/a')
    h.ok({ type: 'setData', path: '/p/a', data: bytes('x'), version: -1 })
    expect(h.stat('/p')).toMatchObject({ cversion: 1, pzxid: 2 })
  })
})

describe('stat snapshots', () => {
  it('a stat handed to a reader does not change when the znode does', () => {
    const h = new Harness()
    h.create('/a')
    const before = h.tree.exists('/a')
    const data = h.tree.getData('/a')
    h.ok({ type: 'setData', path: '/a', data: bytes('new'), version: -1 })
    h.create('/a/b')
    expect(before).toMatchObject({ version: 0, numChildren: 0, dataLength: 0 })
    expect(data?.stat).toMatchObject({ version: 0, numChildren: 0 })
    expect(data?.data).toEqual(new Uint8Array(0))
  })
})
