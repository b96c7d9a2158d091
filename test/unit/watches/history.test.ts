// The event history behind watches armed at an older zxid: a bounded ring
// that answers "the first matching change of this path after zxid z" exactly
// while z is within what it holds, and knows where its horizon is.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Stat, TreeEvent, TreeEventType } from '../../../src/tree/index.ts'
import { EventHistory } from '../../../src/watches/history.ts'

const stat = (zxid: number): Stat => ({
  czxid: 1,
  mzxid: zxid,
  pzxid: zxid,
  ctime: 1_700_000_000_000,
  mtime: 1_700_000_000_000 + zxid,
  version: zxid,
  cversion: 2,
  aversion: 0,
  ephemeralOwner: 0,
  dataLength: 3,
  numChildren: 0,
})
const event = (zxid: number, path: string, type: TreeEventType = 'NodeDataChanged'): TreeEvent => ({
  type,
  path,
  zxid,
  stat: type === 'NodeDeleted' ? null : stat(zxid),
})
const any = (): boolean => true

describe('EventHistory', () => {
  it('answers the first matching event after a zxid, with its stat', () => {
    const history = new EventHistory(10)
    history.startAfter(0)
    history.remember(event(1, '/a', 'NodeCreated'))
    history.remember(event(2, '/b'))
    history.remember(event(3, '/a'))
    history.remember(event(4, '/a', 'NodeDeleted'))
    expect(history.firstSince('/a', 0, any)).toEqual(event(1, '/a', 'NodeCreated'))
    expect(history.firstSince('/a', 1, any)).toEqual(event(3, '/a'))
    expect(history.firstSince('/a', 1, (type) => type === 'NodeDeleted')).toEqual(event(4, '/a', 'NodeDeleted'))
    expect(history.firstSince('/a', 4, any)).toBeUndefined()
    expect(history.firstSince('/c', 0, any)).toBeUndefined()
    expect(history.horizon).toBe(0)
  })

  it('forgets the oldest events when full and moves its horizon past them', () => {
    const history = new EventHistory(3)
    history.startAfter(0)
    for (let zxid = 1; zxid <= 5; zxid++) history.remember(event(zxid, zxid % 2 === 0 ? '/even' : '/odd'))
    expect(history.horizon).toBe(2)
    expect(history.firstSince('/odd', 2, any)?.zxid).toBe(3)
    expect(history.firstSince('/even', 2, any)?.zxid).toBe(4)
  })

  it('with no room keeps nothing and its horizon follows the newest event', () => {
    const history = new EventHistory(0)
    history.remember(event(7, '/a'))
    expect(history.horizon).toBe(7)
    expect(history.firstSince('/a', 6, any)).toBeUndefined()
  })

  it('agrees with a plain list of the last `capacity` events for any sequence (property)', () => {
    const paths = ['/a', '/b', '/c', '/a/x']
    const types: TreeEventType[] = ['NodeCreated', 'NodeDeleted', 'NodeDataChanged', 'NodeChildrenChanged']
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.constantFrom(...paths), fc.constantFrom(...types), fc.nat(2)), { maxLength: 60 }),
        fc.constantFrom(...paths),
        fc.constantFrom(...types),
        fc.nat(70),
        (capacity, steps, path, wanted, since) => {
          const history = new EventHistory(capacity)
          const all: TreeEvent[] = []
          let zxid = 0
          history.startAfter(0)
          for (const [p, type, gap] of steps) {
            zxid += 1 + gap
            const e = event(zxid, p, type)
            all.push(e)
            history.remember(e)
          }
          const kept = all.slice(-capacity)
          const horizon = all.length > capacity ? (all[all.length - capacity - 1] as TreeEvent).zxid : 0
          expect(history.horizon).toBe(horizon)
          if (since < horizon) return
          const expected = kept.find((e) => e.path === path && e.zxid > since && e.type === wanted)
          expect(history.firstSince(path, since, (type) => type === wanted)).toEqual(expected)
        },
      ),
      { numRuns: 500 },
    )
  })
})
