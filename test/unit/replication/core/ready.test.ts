// The Ready contract (replication/core/index.ts): what must be persisted
// comes out together with the messages that depend on it, a leader counts its
// own entries only once an advance() reported them durable, and the driver
// may keep stepping the core between ready() and advance().
import { describe, expect, it } from 'vitest'
import { AssertionError } from '../../../../src/assert.ts'
import { RaftCore, type CoreConfig, type RaftStorage, type Ready } from '../../../../src/replication/core/index.ts'
import { MemoryStore } from '../../../../src/storage/index.ts'
import { text } from '../../../support/raft-sim-cluster.ts'
import { SimStorage, simMembership, simNoop } from '../../../support/raft-sim-storage.ts'

function config(id: number, voters: readonly number[], overrides: Partial<CoreConfig> = {}): CoreConfig {
  return {
    id,
    voters,
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0.5,
    appendBytesMax: 1024,
    inflightAppendsMax: 4,
    noop: simNoop,
    membership: simMembership,
    ...overrides,
  }
}

/** The driver's part, done at once over SimStorage. */
function persistAndAdvance(core: RaftCore, storage: SimStorage): Ready {
  const ready = core.ready()
  if (ready.snapshot !== null) throw new Error('no snapshots in these tests')
  storage.append(ready.entries, ready.hardState)
  core.advance(ready)
  return ready
}

const texts = (ready: Ready) => ready.committed.map((entry) => new TextDecoder().decode(entry.data))

describe('Ready: a single voter', () => {
  it('elects itself on its first tick and commits an entry only after the advance() that made it durable', () => {
    const storage = new SimStorage()
    const core = new RaftCore(config(1, [1]), storage)
    core.tick()
    const first = persistAndAdvance(core, storage)
    expect(first.soft).toEqual({ role: 'leader', leader: 1, term: 1 })
    expect(first.hardState).toEqual({ term: 1, vote: 1, commit: 0 })
    expect(first.entries.map((entry) => [entry.index, entry.term])).toEqual([[1, 1]])
    expect(first.committed).toEqual([])
    expect(first.mustSync).toBe(true)

    const second = persistAndAdvance(core, storage)
    expect(second.hardState).toEqual({ term: 1, vote: 1, commit: 1 })
    expect(second.committed.map((entry) => entry.index)).toEqual([1])
    expect(second.mustSync).toBe(false) // only the commit index moved

    expect(core.propose([text('a'), text('b')])).toBe(2)
    const third = persistAndAdvance(core, storage)
    expect(third.entries.map((entry) => entry.index)).toEqual([2, 3])
    expect(third.committed).toEqual([])
    const fourth = persistAndAdvance(core, storage)
    expect(texts(fourth)).toEqual(['ta', 'tb'])
    expect(core.hasReady()).toBe(false)
  })

  it('campaign() elects it at once too', () => {
    const core = new RaftCore(config(1, [1]), new SimStorage())
    core.campaign()
    expect(core.status().role).toBe('leader')
  })
})

describe('Ready: persist before send', () => {
  it('a vote comes out in the same Ready as the hard state that records it', () => {
    const storage = new SimStorage()
    const core = new RaftCore(config(2, [1, 2, 3]), storage)
    core.step({ type: 'vote', from: 1, to: 2, term: 1, lastIndex: 0, lastTerm: 0, transfer: false })
    const ready = core.ready()
    expect(ready.hardState).toEqual({ term: 1, vote: 1, commit: 0 })
    expect(ready.mustSync).toBe(true)
    expect(ready.messages).toEqual([{ type: 'voteReply', from: 2, to: 1, term: 1, granted: true }])
  })

  it('an acknowledgement comes out with the entries it acknowledges', () => {
    const core = new RaftCore(config(2, [1, 2, 3]), new SimStorage())
    const entries = [{ index: 1, term: 1, data: simNoop }]
    core.step({ type: 'append', from: 1, to: 2, term: 1, prevIndex: 0, prevTerm: 0, entries, commit: 0, durable: 0 })
    const ready = core.ready()
    expect(ready.entries).toEqual(entries)
    expect(ready.messages).toMatchObject([{ type: 'appendReply', success: true, index: 1 }])
  })
})

describe('Ready: stepping between ready() and advance()', () => {
  it('what happens meanwhile waits for the next Ready; the outstanding one is not offered again', () => {
    const storage = new SimStorage()
    const core = new RaftCore(config(2, [1, 2, 3]), storage)
    core.step({ type: 'append', from: 1, to: 2, term: 1, prevIndex: 0, prevTerm: 0, entries: [{ index: 1, term: 1, data: simNoop }], commit: 0, durable: 0 })
    const first = core.ready()
    expect(core.hasReady()).toBe(false)
    // The next append arrives while the first write is on its way to disk.
    core.step({ type: 'append', from: 1, to: 2, term: 1, prevIndex: 1, prevTerm: 1, entries: [{ index: 2, term: 1, data: text('x') }], commit: 1, durable: 0 })
    expect(() => core.ready()).toThrow(AssertionError)
    storage.append(first.entries, first.hardState)
    core.advance(first)
    const second = core.ready()
    expect(second.entries.map((entry) => entry.index)).toEqual([2])
    expect(second.committed.map((entry) => entry.index)).toEqual([1])
    expect(second.messages).toMatchObject([{ type: 'appendReply', index: 2 }])
  })

  it('entries replaced before their Ready was advanced are written again, from where they changed', () => {
    const storage = new SimStorage()
    const core = new RaftCore(config(2, [1, 2, 3]), storage)
    const old = [1, 2, 3].map((index) => ({ index, term: 1, data: text(`old${index}`) }))
    core.step({ type: 'append', from: 1, to: 2, term: 1, prevIndex: 0, prevTerm: 0, entries: old, commit: 1, durable: 0 })
    const first = core.ready()
    // A new leader of term 2 replaces entry 3 before the write finished.
    core.step({ type: 'append', from: 3, to: 2, term: 2, prevIndex: 2, prevTerm: 1, entries: [{ index: 3, term: 2, data: text('new3') }], commit: 1, durable: 0 })
    storage.append(first.entries, first.hardState)
    core.advance(first)
    const second = core.ready()
    expect(second.entries.map((entry) => [entry.index, entry.term])).toEqual([[3, 2]])
    storage.append(second.entries, second.hardState)
    core.advance(second)
    expect(storage.term(3)).toBe(2)
    expect(core.status().lastIndex).toBe(3)
  })

  it('advance() of anything but the outstanding Ready is a programmer error', () => {
    const core = new RaftCore(config(1, [1]), new SimStorage())
    core.campaign()
    const ready = core.ready()
    expect(() => core.advance({ ...ready })).toThrow(AssertionError)
  })
})

describe('Ready: restart', () => {
  it('the core runs over storage\'s MemoryStore, and a restart restores term, vote, log and commit', async () => {
    const store = new MemoryStore()
    const storage: RaftStorage = store // the LogStore satisfies RaftStorage as it is
    let core = new RaftCore(config(1, [1]), storage)
    core.campaign()
    core.propose([text('a')])
    for (let round = 0; round < 4 && core.hasReady(); round++) {
      const ready = core.ready()
      await store.append(ready.entries, ready.hardState, ready.mustSync)
      core.advance(ready)
    }
    expect(core.status()).toMatchObject({ term: 1, commit: 2, applied: 2 })

    core = new RaftCore(config(1, [1]), store.simulateProcessCrash())
    expect(core.status()).toMatchObject({ role: 'follower', term: 1, commit: 2, applied: 0, lastIndex: 2 })
    // Without a snapshot, the committed entries are applied again from the log.
    const ready = core.ready()
    expect(ready.committed.map((entry) => entry.index)).toEqual([1, 2])
  })

  it('config.applied skips what a lasting state machine already applied', () => {
    const storage = new SimStorage()
    storage.append([1, 2, 3].map((index) => ({ index, term: 1, data: text(`${index}`) })), { term: 1, vote: 1, commit: 3 })
    const core = new RaftCore(config(1, [1, 2, 3], { applied: 2 }), storage)
    expect(core.ready().committed.map((entry) => entry.index)).toEqual([3])
  })

  it('committedBytesMax splits a long replay over several Readies', () => {
    const storage = new SimStorage()
    storage.append([1, 2, 3, 4].map((index) => ({ index, term: 1, data: text(`${index}`) })), { term: 1, vote: 1, commit: 4 })
    const core = new RaftCore(config(1, [1, 2, 3], { committedBytesMax: 4 }), storage)
    const sizes: number[] = []
    while (core.hasReady()) sizes.push(persistAndAdvance(core, storage).committed.length)
    expect(sizes).toEqual([2, 2])
  })
})
