// Containers and TTL znodes, deleted by reap entries the leader proposes
// (ZooKeeper's ContainerManager and EphemeralType.TTL).
import { describe, expect, it } from 'vitest'
import { Harness, bytes } from './harness.ts'

describe('containers', () => {
  it('a container that once had children is reaped when empty', () => {
    const h = new Harness()
    h.create('/c', { kind: 'container' })
    h.create('/c/child')
    h.ok({ type: 'delete', path: '/c/child', version: -1 })
    expect(h.tree.reapCandidates(h.timeMs, 10)).toEqual([{ path: '/c', czxid: 1 }])
    const applied = h.apply({ type: 'reap', path: '/c', czxid: 1 })
    expect(applied.outcome).toEqual({ ok: true, result: { type: 'reap', path: '/c', isDeleted: true } })
    expect(applied.events.map((e) => [e.type, e.path])).toEqual([
      ['NodeDeleted', '/c'],
      ['NodeChildrenChanged', '/'],
    ])
    expect(h.tree.exists('/c')).toBeUndefined()
    expect(h.tree.reapCandidates(h.timeMs, 10)).toEqual([])
  })

  it('a container that never had children is kept (maxNeverUsedIntervalMs defaults to 0)', () => {
    const h = new Harness()
    h.create('/c', { kind: 'container' })
    expect(h.tree.reapCandidates(h.timeMs + 10 ** 9, 10)).toEqual([])
    expect(h.ok({ type: 'reap', path: '/c', czxid: 1 }, {}, 'reap').isDeleted).toBe(false)
    expect(h.tree.exists('/c')).toBeDefined()
  })

  it('is not deleted while it has children', () => {
    const h = new Harness()
    h.create('/c', { kind: 'container' })
    h.create('/c/a')
    h.create('/c/b')
    h.ok({ type: 'delete', path: '/c/a', version: -1 })
    expect(h.tree.reapCandidates(h.timeMs, 10)).toEqual([])
    const before = h.state()
    const applied = h.apply({ type: 'reap', path: '/c', czxid: 1 })
    expect(applied.outcome).toEqual({ ok: true, result: { type: 'reap', path: '/c', isDeleted: false } })
    expect(applied.events).toEqual([])
    expect(h.state()).toEqual(before)
  })

  it('a recreated znode (another czxid) is left alone', () => {
    const h = new Harness()
    h.create('/c', { kind: 'container' })
    h.create('/c/x')
    h.ok({ type: 'delete', path: '/c/x', version: -1 })
    const stale = h.tree.reapCandidates(h.timeMs, 10)[0]
    h.ok({ type: 'reap', path: '/c', czxid: 1 })
    h.create('/c', { kind: 'container' })
    h.create('/c/y')
    h.ok({ type: 'delete', path: '/c/y', version: -1 })
    // the stale candidate names the first /c; the new one is eligible but not that znode
    expect(h.ok({ type: 'reap', path: stale?.path ?? '', czxid: stale?.czxid ?? -1 }, {}, 'reap').isDeleted).toBe(false)
    expect(h.tree.exists('/c')).toBeDefined()
  })

  it('reaping a missing path changes nothing', () => {
    const h = new Harness()
    expect(h.ok({ type: 'reap', path: '/nothing', czxid: 1 }, {}, 'reap').isDeleted).toBe(false)
    expect(h.ok({ type: 'reap', path: 'not a path', czxid: 1 }, {}, 'reap').isDeleted).toBe(false)
  })

  it('plain persistent znodes are never reaped, even empty after having children', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/x')
    h.ok({ type: 'delete', path: '/p/x', version: -1 })
    expect(h.tree.reapCandidates(h.timeMs + 10 ** 9, 10)).toEqual([])
    expect(h.ok({ type: 'reap', path: '/p', czxid: 1 }, {}, 'reap').isDeleted).toBe(false)
  })
})

describe('TTL znodes', () => {
  it('are reaped when not modified within the TTL and childless: elapsed > ttl, strictly', () => {
    const h = new Harness()
    h.create('/t', { kind: 'ttl', ttlMs: 1000, timeMs: 10_000 })
    expect(h.tree.reapCandidates(11_000, 10)).toEqual([])
    expect(h.tree.reapCandidates(11_001, 10)).toEqual([{ path: '/t', czxid: 1 }])
    // judged with the reap entry's own time
    expect(h.ok({ type: 'reap', path: '/t', czxid: 1 }, { timeMs: 11_000 }, 'reap').isDeleted).toBe(false)
    expect(h.ok({ type: 'reap', path: '/t', czxid: 1 }, { timeMs: 11_001 }, 'reap').isDeleted).toBe(true)
  })

  it('a setData restarts the TTL (mtime moves)', () => {
    const h = new Harness()
    h.create('/t', { kind: 'ttl', ttlMs: 1000, timeMs: 10_000 })
    h.ok({ type: 'setData', path: '/t', data: bytes('x'), version: -1 }, { timeMs: 10_900 })
    expect(h.tree.reapCandidates(11_500, 10)).toEqual([])
    expect(h.ok({ type: 'reap', path: '/t', czxid: 1 }, { timeMs: 11_500 }, 'reap').isDeleted).toBe(false)
    expect(h.ok({ type: 'reap', path: '/t', czxid: 1 }, { timeMs: 11_901 }, 'reap').isDeleted).toBe(true)
  })

  it('a child create does not restart the TTL, but a TTL znode with children is kept', () => {
    const h = new Harness()
    h.create('/t', { kind: 'ttl', ttlMs: 1000, timeMs: 10_000 })
    h.create('/t/c', { timeMs: 10_500 })
    expect(h.tree.reapCandidates(20_000, 10)).toEqual([])
    expect(h.ok({ type: 'reap', path: '/t', czxid: 1 }, { timeMs: 20_000 }, 'reap').isDeleted).toBe(false)
    h.ok({ type: 'delete', path: '/t/c', version: -1 }, { timeMs: 20_001 })
    expect(h.ok({ type: 'reap', path: '/t', czxid: 1 }, { timeMs: 20_002 }, 'reap').isDeleted).toBe(true)
  })

  it('reapCandidates stops at max', () => {
    const h = new Harness()
    for (const name of ['a', 'b', 'c']) h.create(`/${name}`, { kind: 'ttl', ttlMs: 1, timeMs: 1000 })
    expect(h.tree.reapCandidates(5000, 2)).toHaveLength(2)
    expect(h.tree.reapCandidates(5000, 0)).toEqual([])
  })
})
