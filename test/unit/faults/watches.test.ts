// The W4 checker: each event is the first acknowledged change after the
// zxid its watch was armed at, and the chain reaches the last change.
import { describe, expect, it } from 'vitest'
import { ChangeLog, checkWatches, Watcher } from '../../faults/lib/watch-client.ts'

function watcherWith(events: Array<[armed: number, zxid: number]>, sinceAfter: number, isResync = false): Watcher {
  const watcher = new Watcher('/w4/k0', sinceAfter, () => [])
  for (const [armedZxid, zxid] of events) watcher.events.push({ armedZxid, zxid, type: 'NodeDataChanged', isResync })
  return watcher
}

function changes(...zxids: number[]): ChangeLog {
  const log = new ChangeLog()
  for (const zxid of zxids) log.add('/w4/k0', zxid)
  return log
}

describe('checkWatches', () => {
  it('accepts a chain of first changes that reaches the last one', () => {
    expect(checkWatches([watcherWith([[5, 7], [7, 9], [9, 12]], 12)], changes(7, 9, 12))).toEqual([])
  })

  it('rejects an event that skipped an earlier change', () => {
    expect(checkWatches([watcherWith([[5, 9]], 9)], changes(7, 9))).toEqual([expect.stringContaining('not for the first change after it, 7')])
  })

  it('rejects an event for a change nobody acknowledged, unless some write stayed unknown', () => {
    expect(checkWatches([watcherWith([[5, 8]], 8)], changes(8 - 1))).toContainEqual(expect.stringContaining('which no acknowledged write made'))
    const ambiguous = changes()
    ambiguous.unknown.set('/w4/k0', 1)
    expect(checkWatches([watcherWith([[5, 8]], 8)], ambiguous)).toEqual([])
  })

  it('rejects a watcher that never got the last change', () => {
    expect(checkWatches([watcherWith([[5, 7]], 7)], changes(7, 9))).toEqual([expect.stringContaining('never got the change 9')])
  })

  it('lets an event found across a snapshot jump name the newest change instead of the first', () => {
    expect(checkWatches([watcherWith([[5, 9]], 9, true)], changes(7, 9))).toEqual([])
  })
})
