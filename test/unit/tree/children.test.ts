// The sorted child list behind getChildren: blocks of at most 1024 names,
// checked against a plain sorted array well past several block splits.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SortedChildren } from '../../../src/tree/children.ts'

const child = (name: string) => ({ name })

function expectPages(list: SortedChildren<{ name: string }>, sorted: readonly string[]): void {
  expect(list.size).toBe(sorted.length)
  expect(Array.from(list, (c) => c.name)).toEqual(sorted)
  for (const limit of [1, 7, 1000, 5000]) {
    let after: string | null = null
    const seen: string[] = []
    for (;;) {
      const page = list.page(after, limit)
      seen.push(...page.names)
      if (!page.hasMore) break
      expect(page.names).toHaveLength(limit)
      after = page.names[page.names.length - 1] as string
    }
    expect(seen).toEqual(sorted)
  }
}

describe('SortedChildren', () => {
  it('stays sorted through thousands of random inserts and deletes (block splits and empty blocks)', () => {
    let seed = 12345
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32
    const list = new SortedChildren<{ name: string }>()
    const names = new Set<string>()
    for (let i = 0; i < 6000; i++) {
      const name = `n${Math.floor(random() * 20_000)}`
      if (names.has(name)) continue
      names.add(name)
      list.insert(child(name))
    }
    expectPages(list, [...names].sort())
    for (const name of [...names]) {
      if (random() < 0.7) {
        expect(list.remove(name)).toBe(true)
        names.delete(name)
      }
    }
    expect(list.remove('absent')).toBe(false)
    expectPages(list, [...names].sort())
  })

  it('appends in order (sequential names) and pops from the front (queue consumers)', () => {
    const list = new SortedChildren<{ name: string }>()
    const expected: string[] = []
    for (let i = 0; i < 5000; i++) {
      const name = String(i).padStart(10, '0')
      list.insert(child(name))
      expected.push(name)
      if (i % 3 === 0) expect(list.remove(expected.shift() as string)).toBe(true)
    }
    expectPages(list, expected)
  })

  it('pages from any `after`, named or not (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 4 }), { maxLength: 300 }), fc.string({ maxLength: 4 }), fc.integer({ min: 1, max: 50 }), (names, after, limit) => {
        const list = new SortedChildren<{ name: string }>()
        for (const name of names) list.insert(child(name))
        const sorted = [...names].sort()
        const rest = sorted.filter((name) => name > after)
        const page = list.page(after, limit)
        expect(page.names).toEqual(rest.slice(0, limit))
        expect(page.hasMore).toBe(rest.length > limit)
      }),
    )
  })
})
