// MemoryStore: the LogStore contract, then its power-loss model, which must
// behave as RocksDB's single WAL does: a synced write makes itself and every
// earlier write durable; a power loss keeps exactly the durable writes.

import { describe, expect, it } from 'vitest'
import { AssertionError } from '../../../src/assert.ts'
import { MemoryStore } from '../../../src/storage/index.ts'
import { describeLogStoreContract, observe, records, snapshotAt } from './log-store-contract.ts'

describeLogStoreContract('MemoryStore', {
  create: () => Promise.resolve(new MemoryStore()),
  reopen: (store) => {
    if (!(store instanceof MemoryStore)) throw new Error('not a MemoryStore')
    return Promise.resolve(store.simulatePowerLoss())
  },
})

describe('MemoryStore power-loss model', () => {
  it('a power loss drops appends that no synced write followed', async () => {
    const store = new MemoryStore()
    await store.append(records(1, 3, 1), null, true)
    await store.append(records(4, 5, 1), { term: 1, vote: 1, commit: 3 }, false)
    expect(store.lastIndex()).toBe(5)
    expect(store.unsyncedWrites()).toBe(1)
    const after = store.simulatePowerLoss()
    expect(after.lastIndex()).toBe(3)
    expect(after.hardState()).toEqual({ term: 0, vote: 0, commit: 0 })
    expect(after.unsyncedWrites()).toBe(0)
  })

  it('a later synced append makes earlier unsynced ones durable (one WAL)', async () => {
    const store = new MemoryStore()
    await store.append(records(1, 2, 1), null, false)
    await store.append(records(3, 3, 1), null, false)
    await store.append(records(4, 4, 1), null, true)
    expect(store.simulatePowerLoss().lastIndex()).toBe(4)
  })

  it('saving the hard state, a snapshot or compacting is synced and makes earlier appends durable', async () => {
    const a = new MemoryStore()
    await a.append(records(1, 2, 1), null, false)
    await a.saveHardState({ term: 1, vote: 2, commit: 0 })
    expect(a.simulatePowerLoss().lastIndex()).toBe(2)

    const b = new MemoryStore()
    await b.append(records(1, 4, 1), null, false)
    await b.saveSnapshot(snapshotAt(2, 1))
    const bAfter = b.simulatePowerLoss()
    expect(bAfter.lastIndex()).toBe(4)
    expect(bAfter.snapshotMeta()!.index).toBe(2)
  })

  it('sync() makes everything written durable', async () => {
    const store = new MemoryStore()
    await store.append(records(1, 2, 1), null, false)
    await store.sync()
    expect(store.unsyncedWrites()).toBe(0)
    expect(store.simulatePowerLoss().lastIndex()).toBe(2)
  })

  it('an unsynced truncation is undone by a power loss: the old suffix comes back', async () => {
    const store = new MemoryStore()
    await store.append(records(1, 5, 1), null, true)
    await store.append(records(3, 3, 2), null, false)
    expect(store.lastIndex()).toBe(3)
    const after = store.simulatePowerLoss()
    expect(after.lastIndex()).toBe(5)
    expect(after.term(3)).toBe(1)
  })

  it('a process crash keeps unsynced writes, still exposed to a later power loss', async () => {
    const store = new MemoryStore()
    await store.append(records(1, 2, 1), null, true)
    await store.append(records(3, 4, 1), null, false)
    const before = observe(store)
    const crashed = store.simulateProcessCrash()
    expect(observe(crashed)).toEqual(before)
    expect(crashed.unsyncedWrites()).toBe(1)
    expect(crashed.simulatePowerLoss().lastIndex()).toBe(2)
  })

  it('negative control: with every append unsynced, a power loss loses them all', async () => {
    const store = new MemoryStore()
    for (let index = 1; index <= 10; index++) await store.append(records(index, index, 1), null, false)
    expect(store.simulatePowerLoss().lastIndex()).toBe(0)
  })

  it('the store that lost power is dead; the one returned carries on', async () => {
    const store = new MemoryStore()
    await store.append(records(1, 1, 1), null, true)
    const after = store.simulatePowerLoss()
    expect(() => store.lastIndex()).toThrow(AssertionError)
    await after.append(records(2, 2, 1), null, true)
    expect(after.lastIndex()).toBe(2)
  })
})
