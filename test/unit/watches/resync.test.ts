// When a replica installs a leader's snapshot its tree jumps ahead without
// the entries in between; the watches waiting on it are judged by comparing
// each znode in the tree before and after, as ZooKeeper judges watches a
// client re-arms against a newer server: each fires if (and only if) the
// change it waits for happened, and the event history restarts at the
// snapshot. A watch armed at a zxid older than the history is judged the
// same way from the znode's stat alone, ZooKeeper's rule for the watches a
// client re-registers on reconnect, and told Compacted only where the stat
// cannot tell (an exists watch on a znode missing now).
import { describe, expect, it } from 'vitest'
import { restoreSnapshot, writeSnapshot, type TreeEvent } from '../../../src/tree/index.ts'
import { WatchRegistry, type WatchKind } from '../../../src/watches/index.ts'
import { Harness, bytes, createOp, testOptions } from '../tree/harness.ts'

describe('WatchRegistry.resync after a snapshot install', () => {
  it('fires exactly the watches whose change happened between the two trees', () => {
    const leader = new Harness()
    for (const path of ['/same', '/changed', '/deleted', '/parent', '/recreated']) leader.ok(createOp(path))
    const before = restoreSnapshot(writeSnapshot(leader.tree), testOptions)
    leader.ok({ type: 'setData', path: '/changed', data: bytes('new'), version: -1 })
    leader.ok({ type: 'delete', path: '/deleted', version: -1 })
    leader.ok(createOp('/parent/child'))
    leader.ok(createOp('/born'))
    leader.ok({ type: 'delete', path: '/recreated', version: -1 })
    leader.ok(createOp('/recreated'))
    const after = restoreSnapshot(writeSnapshot(leader.tree), testOptions)

    const registry = new WatchRegistry({ watchStreamsMax: 100, watchStreamsPerClientMax: 100, watchHistoryMax: 100 })
    const fired = new Map<string, TreeEvent>()
    const arm = (kind: WatchKind, path: string): void => {
      const result = registry.arm({ path, kind, sinceZxid: null, clientKey: 'c' }, { fire: (event) => fired.set(`${kind} ${path}`, event) }, before)
      expect(result.type).toBe('armed')
    }
    for (const kind of ['data', 'exists', 'children'] as const) arm(kind, '/same')
    arm('data', '/changed')
    arm('children', '/changed')
    arm('exists', '/deleted')
    arm('children', '/parent')
    arm('data', '/parent')
    arm('exists', '/born')
    arm('data', '/recreated')

    registry.resync(before, after)
    expect(Object.fromEntries([...fired].map(([key, event]) => [key, event.type]))).toEqual({
      'data /changed': 'NodeDataChanged',
      'exists /deleted': 'NodeDeleted',
      'children /parent': 'NodeChildrenChanged',
      'exists /born': 'NodeCreated',
      'data /recreated': 'NodeDeleted',
    })
    // Each says it was found across the jump: its zxid is the znode's newest change, not necessarily the first.
    for (const event of fired.values()) expect(event.isResync).toBe(true)
    // The others still wait (and hold their slots), and fire on a later change.
    expect(registry.count).toBe(5)

    // Armed afterwards at the older zxid, past the history's horizon: the stat judges.
    const armAt = (kind: WatchKind, path: string): string => {
      try {
        const result = registry.arm({ path, kind, sinceZxid: before.zxid, clientKey: 'c' }, { fire: () => undefined }, after)
        if (result.type === 'armed') result.release()
        return result.type === 'armed' ? 'armed' : `${result.event.type}${result.event.isResync === true ? ' (resync)' : ''} at ${result.event.zxid}`
      } catch (error) {
        return (error as { code?: string }).code ?? String(error)
      }
    }
    const stat = (path: string) => after.exists(path) as NonNullable<ReturnType<typeof after.exists>>
    expect({
      'data /same': armAt('data', '/same'),
      'exists /same': armAt('exists', '/same'),
      'children /same': armAt('children', '/same'),
      'data /changed': armAt('data', '/changed'),
      'children /changed': armAt('children', '/changed'),
      'data /deleted': armAt('data', '/deleted'),
      'exists /deleted': armAt('exists', '/deleted'),
      'children /parent': armAt('children', '/parent'),
      'data /parent': armAt('data', '/parent'),
      'exists /born': armAt('exists', '/born'),
      'data /recreated': armAt('data', '/recreated'),
      'exists /never': armAt('exists', '/never'),
    }).toEqual({
      'data /same': 'armed',
      'exists /same': 'armed',
      'children /same': 'armed',
      'data /changed': `NodeDataChanged (resync) at ${stat('/changed').mzxid}`,
      'children /changed': 'armed',
      'data /deleted': `NodeDeleted (resync) at ${after.zxid}`,
      // Deleted since, or never there: the stat cannot tell.
      'exists /deleted': 'Compacted',
      'children /parent': `NodeChildrenChanged (resync) at ${stat('/parent').pzxid}`,
      'data /parent': 'armed',
      'exists /born': `NodeCreated (resync) at ${stat('/born').mzxid}`,
      'data /recreated': `NodeDeleted (resync) at ${after.zxid}`,
      'exists /never': 'Compacted',
    })
  })
})
