// TreeReader: getChildren paging, getAllChildrenNumber, getData, getAcl, exists.
import { describe, expect, it } from 'vitest'
import { Harness, bytes } from './harness.ts'

describe('getChildren', () => {
  it('returns children in JS string order whatever the creation order', () => {
    const h = new Harness()
    h.create('/p')
    for (const name of ['m', 'b', 'z', 'a', 'B', 'é', '0', 'aa']) h.create(`/p/${name}`)
    expect(h.children('/p')).toEqual(['0', 'B', 'a', 'aa', 'b', 'm', 'z', 'é'])
  })

  it('pages with after (exclusive) and limit, and next names the last child of a non-final page', () => {
    const h = new Harness()
    h.create('/p')
    for (let i = 0; i < 7; i++) h.create('/p/', { isSequential: true })
    const first = h.tree.getChildren('/p', null, 3)
    expect(first).toMatchObject({ children: ['0000000000', '0000000001', '0000000002'], next: '0000000002' })
    const second = h.tree.getChildren('/p', first?.next ?? null, 3)
    expect(second).toMatchObject({ children: ['0000000003', '0000000004', '0000000005'], next: '0000000005' })
    const third = h.tree.getChildren('/p', second?.next ?? null, 3)
    expect(third).toMatchObject({ children: ['0000000006'], next: null })
    expect(h.tree.getChildren('/p', '0000000006', 3)).toMatchObject({ children: [], next: null })
    // an exact fit ends with next null, not an empty extra page
    expect(h.tree.getChildren('/p', null, 7)?.next).toBeNull()
  })

  it('takes an `after` that is not a child name as a position between names', () => {
    const h = new Harness()
    h.create('/p')
    for (const name of ['a', 'c', 'e']) h.create(`/p/${name}`)
    expect(h.tree.getChildren('/p', 'b', 10)?.children).toEqual(['c', 'e'])
    expect(h.tree.getChildren('/p', '', 10)?.children).toEqual(['a', 'c', 'e'])
    expect(h.tree.getChildren('/p', 'zzz', 10)?.children).toEqual([])
  })

  it('carries the parent stat, and is undefined for a missing znode', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/c')
    expect(h.tree.getChildren('/p', null, 10)?.stat).toEqual(h.stat('/p'))
    expect(h.tree.getChildren('/p/c', null, 10)).toEqual({ children: [], stat: h.stat('/p/c'), next: null })
    expect(h.tree.getChildren('/nope', null, 10)).toBeUndefined()
  })

  it('stays sorted through queue-style use: append at the tail, delete at the head', () => {
    const h = new Harness()
    h.create('/q')
    const names: string[] = []
    for (let round = 0; round < 20; round++) {
      names.push(h.create('/q/item-', { isSequential: true }).slice(3))
      names.push(h.create('/q/item-', { isSequential: true }).slice(3))
      const head = names.shift() as string
      h.ok({ type: 'delete', path: `/q/${head}`, version: -1 })
    }
    h.create('/q/a-middle')
    expect(h.children('/q')).toEqual([...names, 'a-middle'].sort())
    expect(h.stat('/q').numChildren).toBe(names.length + 1)
  })

  it('hands out a fresh array: the caller may not see later changes', () => {
    const h = new Harness()
    h.create('/p')
    h.create('/p/a')
    const page = h.tree.getChildren('/p', null, 10)
    h.create('/p/b')
    expect(page?.children).toEqual(['a'])
  })
})

describe('countDescendants (getAllChildrenNumber)', () => {
  it('counts every descendant recursively, not the znode itself', () => {
    const h = new Harness()
    h.create('/a')
    h.create('/a/b')
    h.create('/a/b/c')
    h.create('/a/d')
    expect(h.tree.countDescendants('/a')).toBe(3)
    expect(h.tree.countDescendants('/a/b')).toBe(1)
    expect(h.tree.countDescendants('/a/d')).toBe(0)
    // the root counts the system znodes too
    expect(h.tree.countDescendants('/')).toBe(h.tree.znodeCount - 1)
    h.ok({ type: 'delete', path: '/a/b/c', version: -1 })
    expect(h.tree.countDescendants('/a')).toBe(2)
    expect(h.tree.countDescendants('/nope')).toBeUndefined()
  })
})

describe('getData and exists', () => {
  it('return data and stat, or undefined for a missing or invalid path', () => {
    const h = new Harness()
    h.create('/a', { data: bytes('hello') })
    expect(h.tree.getData('/a')).toEqual({ data: bytes('hello'), stat: h.stat('/a') })
    expect(h.tree.getData('/b')).toBeUndefined()
    expect(h.tree.exists('/b')).toBeUndefined()
    expect(h.tree.exists('no slash')).toBeUndefined()
    expect(h.tree.getAcl('/b')).toBeUndefined()
  })
})

describe('zxid', () => {
  it('is the last applied entry, failed ones included', () => {
    const h = new Harness()
    h.create('/a')
    h.fail({ type: 'delete', path: '/nope', version: -1 })
    expect(h.tree.zxid).toBe(2)
  })

  it('entries must come in increasing zxid order (an assertion, not an outcome)', () => {
    const h = new Harness()
    h.create('/a')
    const entry = { zxid: 1, timeMs: 0, caller: { sessionId: 0, ids: [] }, idempotency: null, command: { type: 'noop' } } as const
    expect(() => h.tree.apply(entry)).toThrow(/zxid/)
  })
})
