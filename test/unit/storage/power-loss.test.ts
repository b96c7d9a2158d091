// The power-cut shim on a real RocksDB directory: what a completed sync
// covered survives the cut, what no completed sync covered is gone, and
// without the cut mark nothing is touched.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openRocksStore, PowerLossJournal, powerCutFile, rollBackPowerCut, type LogStore } from '../../../src/storage/index.ts'
import { records, snapshotAt } from './log-store-contract.ts'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

async function journaled(): Promise<{ dir: string; store: LogStore }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-power-loss-'))
  dirs.push(dir)
  return { dir, store: new PowerLossJournal(await openRocksStore(dir), dir) }
}

/** Closes the store (what a SIGKILL leaves in the page cache is on disk either way), cuts the power and reopens. */
async function cutAndReopen(dir: string, store: LogStore): Promise<{ store: LogStore; report: string | null }> {
  await store.close()
  fs.writeFileSync(path.join(dir, powerCutFile), '')
  const report = await rollBackPowerCut(dir)
  expect(fs.existsSync(path.join(dir, powerCutFile))).toBe(false)
  return { store: new PowerLossJournal(await openRocksStore(dir), dir), report }
}

describe('power-cut shim', () => {
  it('drops the appends no completed sync covered, and keeps the synced ones', async () => {
    const { dir, store } = await journaled()
    await store.append(records(1, 5, 1), { term: 1, vote: 1, commit: 5 }, true)
    await store.append(records(6, 9, 1), { term: 2, vote: 3, commit: 9 }, false)
    expect(store.lastIndex()).toBe(9)
    const reopened = await cutAndReopen(dir, store)
    expect(reopened.report).toContain('dropped 4 unsynced entries')
    expect(reopened.store.lastIndex()).toBe(5)
    expect(reopened.store.hardState()).toEqual({ term: 1, vote: 1, commit: 5 })
    await reopened.store.close()
  })

  it('a later sync makes the unsynced appends before it durable too (one WAL)', async () => {
    const { dir, store } = await journaled()
    await store.append(records(1, 3, 1), null, false)
    await store.append(records(4, 4, 1), null, false)
    await store.saveHardState({ term: 1, vote: 2, commit: 0 })
    await store.append(records(5, 6, 1), null, false)
    const reopened = await cutAndReopen(dir, store)
    expect(reopened.store.lastIndex()).toBe(4)
    expect(reopened.store.hardState()).toEqual({ term: 1, vote: 2, commit: 0 })
    await reopened.store.close()
  })

  it('keeps a synced snapshot and the log after it', async () => {
    const { dir, store } = await journaled()
    await store.append(records(1, 10, 1), null, true)
    await store.saveSnapshot(snapshotAt(8, 1))
    await store.compact(8)
    await store.append(records(11, 12, 1), null, false)
    const reopened = await cutAndReopen(dir, store)
    expect(reopened.store.snapshotMeta()?.index).toBe(8)
    expect(reopened.store.lastIndex()).toBe(10)
    await reopened.store.close()
  })

  it('touches nothing without the cut mark (a plain SIGKILL loses nothing)', async () => {
    const { dir, store } = await journaled()
    await store.append(records(1, 3, 1), null, true)
    await store.append(records(4, 7, 1), null, false)
    await store.close()
    expect(await rollBackPowerCut(dir)).toBeNull()
    const reopened = new PowerLossJournal(await openRocksStore(dir), dir)
    expect(reopened.lastIndex()).toBe(7)
    await reopened.close()
  })
})
