// The LogStore contract (src/storage/log-store.ts), written once and run
// against every store: memory-store.test.ts and rocks-store.test.ts call
// describeLogStoreContract with a harness that makes and reopens stores.
// Section numbers cite the Raft paper (Ongaro & Ousterhout, 2014).

import { afterEach, describe, expect, it } from 'vitest'
import { AssertionError } from '../../../src/assert.ts'
import { emptyHardState } from '../../../src/storage/index.ts'
import type { HardState, LogRecord, LogStore, Snapshot } from '../../../src/storage/index.ts'

export interface StoreHarness {
  /** A new, empty store. */
  create(): Promise<LogStore>
  /**
   * The store a restart finds after `store` goes away with every write synced
   * (rocks: close and open the directory again; memory: a power loss).
   */
  reopen(store: LogStore): Promise<LogStore>
}

export function record(index: number, term: number, text = `entry ${index}@${term}`): LogRecord {
  return { index, term, data: new TextEncoder().encode(text) }
}

/** Entries lo..hi (inclusive) in `term`. */
export function records(lo: number, hi: number, term: number): LogRecord[] {
  const result: LogRecord[] = []
  for (let index = lo; index <= hi; index++) result.push(record(index, term))
  return result
}

export function snapshotAt(index: number, term: number, chunkCount = 3): Snapshot {
  const chunks: Uint8Array[] = []
  for (let n = 0; n < chunkCount; n++) chunks.push(new TextEncoder().encode(`snapshot ${index} chunk ${n}`))
  return { meta: { index, term, extra: new Uint8Array([index & 0xff, 7, 9]) }, chunks }
}

/** Everything a store answers, as plain data, for before/after comparisons. */
export function observe(store: LogStore): unknown {
  const first = store.firstIndex()
  const last = store.lastIndex()
  const terms: (number | undefined)[] = []
  for (let index = first - 1; index <= last + 1; index++) terms.push(store.term(index))
  const snapshot = store.loadSnapshot()
  return {
    hardState: { ...store.hardState() },
    snapshotMeta: plainMeta(store.snapshotMeta()),
    first,
    last,
    terms,
    entries: store.entries(first, last + 1, Number.MAX_SAFE_INTEGER).map(plainRecord),
    snapshot: snapshot && { meta: plainMeta(snapshot.meta), chunks: snapshot.chunks.map((chunk) => [...chunk]) },
  }
}

function plainMeta(meta: Snapshot['meta'] | null): unknown {
  return meta && { index: meta.index, term: meta.term, extra: [...meta.extra] }
}

export function plainRecord(entry: LogRecord): unknown {
  return { index: entry.index, term: entry.term, data: new TextDecoder().decode(entry.data) }
}

export function describeLogStoreContract(name: string, harness: StoreHarness): void {
  describe(`LogStore contract: ${name}`, () => {
    const open: LogStore[] = []
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close()
    })
    async function create(): Promise<LogStore> {
      const store = await harness.create()
      open.push(store)
      return store
    }
    async function reopen(store: LogStore): Promise<LogStore> {
      open.splice(open.indexOf(store), 1)
      const again = await harness.reopen(store)
      open.push(again)
      return again
    }

    it('starts empty: no entries, no snapshot, term 0 at index 0', async () => {
      const store = await create()
      expect(store.hardState()).toEqual(emptyHardState)
      expect(store.snapshotMeta()).toBeNull()
      expect(store.loadSnapshot()).toBeNull()
      expect(store.firstIndex()).toBe(1)
      expect(store.lastIndex()).toBe(0)
      expect(store.term(0)).toBe(0)
      expect(store.term(1)).toBeUndefined()
      expect(store.entries(1, 1, 100)).toEqual([])
    })

    it('appends entries and reads them back with their terms', async () => {
      const store = await create()
      await store.append(records(1, 3, 1), null, true)
      await store.append(records(4, 5, 2), null, true)
      expect(store.firstIndex()).toBe(1)
      expect(store.lastIndex()).toBe(5)
      expect([0, 1, 2, 3, 4, 5, 6].map((index) => store.term(index))).toEqual([0, 1, 1, 1, 2, 2, undefined])
      expect(store.entries(1, 6, Infinity).map(plainRecord)).toEqual([...records(1, 3, 1), ...records(4, 5, 2)].map(plainRecord))
      expect(store.entries(2, 4, Infinity).map(plainRecord)).toEqual(records(2, 3, 1).map(plainRecord))
    })

    it('copies appended data: a caller reusing its buffer does not change the log', async () => {
      const store = await create()
      const entry = record(1, 1, 'original')
      await store.append([entry], null, true)
      entry.data.fill(0x21)
      expect(new TextDecoder().decode(store.entries(1, 2, Infinity)[0]!.data)).toBe('original')
    })

    it('writes the hard state with the entries, or alone', async () => {
      const store = await create()
      const hardState: HardState = { term: 3, vote: 2, commit: 0 }
      await store.append(records(1, 2, 3), hardState, true)
      expect(store.hardState()).toEqual(hardState)
      await store.append([], { term: 3, vote: 2, commit: 2 }, true)
      expect(store.hardState()).toEqual({ term: 3, vote: 2, commit: 2 })
      await store.saveHardState({ term: 4, vote: 0, commit: 2 })
      expect(store.hardState()).toEqual({ term: 4, vote: 0, commit: 2 })
      expect(store.lastIndex()).toBe(2)
    })

    it('§5.3: an append at a held index drops that entry and all that follow it', async () => {
      const store = await create()
      await store.append(records(1, 6, 1), null, true)
      await store.append(records(3, 4, 2), null, true)
      expect(store.lastIndex()).toBe(4)
      expect(store.term(5)).toBeUndefined()
      expect(store.entries(1, 5, Infinity).map(plainRecord)).toEqual([...records(1, 2, 1), ...records(3, 4, 2)].map(plainRecord))
      // A longer overwrite, then one that rewrites the whole log from its first index.
      await store.append(records(4, 9, 3), null, true)
      expect(store.lastIndex()).toBe(9)
      const again = await reopen(store)
      expect(again.lastIndex()).toBe(9) // the dropped suffix stays dropped across a restart
      expect(again.term(2)).toBe(1)
      await again.append(records(1, 1, 4), null, true)
      expect(again.lastIndex()).toBe(1)
      expect(again.entries(1, 2, Infinity).map(plainRecord)).toEqual([plainRecord(record(1, 4))])
      const third = await reopen(again)
      expect(third.lastIndex()).toBe(1)
      expect(third.term(1)).toBe(4)
    })

    it('asserts that appends are contiguous, start within [firstIndex, lastIndex + 1] and keep terms non-decreasing', async () => {
      const store = await create()
      await store.append(records(1, 3, 2), null, true)
      await expect(store.append([record(4, 2), record(6, 2)], null, true)).rejects.toThrow(AssertionError)
      await expect(store.append([record(5, 2)], null, true)).rejects.toThrow(AssertionError)
      await expect(store.append([record(0, 2)], null, true)).rejects.toThrow(AssertionError)
      await expect(store.append([record(4, 1)], null, true)).rejects.toThrow(AssertionError)
      await expect(store.append([record(4, 3), record(5, 2)], null, true)).rejects.toThrow(AssertionError)
      expect(store.lastIndex()).toBe(3)
    })

    it('asserts that an append never rewrites entries a snapshot covers (they are committed)', async () => {
      const store = await create()
      await store.append(records(1, 5, 1), null, true)
      await store.saveSnapshot(snapshotAt(3, 1))
      await expect(store.append([record(3, 2)], null, true)).rejects.toThrow(AssertionError)
      await expect(store.append([record(1, 2)], null, true)).rejects.toThrow(AssertionError)
      await store.append([record(4, 2)], null, true)
      expect(store.lastIndex()).toBe(4)
      expect(store.term(3)).toBe(1)
    })

    it('pages entries by bytesMax, always returning at least one', async () => {
      const store = await create()
      const entries = Array.from({ length: 10 }, (_, i) => record(i + 1, 1, 'x'.repeat(100)))
      await store.append(entries, null, true)
      expect(store.entries(1, 11, 250).map((entry) => entry.index)).toEqual([1, 2])
      expect(store.entries(1, 11, 300).map((entry) => entry.index)).toEqual([1, 2, 3])
      expect(store.entries(4, 11, 0).map((entry) => entry.index)).toEqual([4])
      expect(store.entries(1, 11, 1000)).toHaveLength(10)
      const seen: number[] = []
      for (let lo = 1; lo < 11; ) {
        const page = store.entries(lo, 11, 350)
        expect(page.length).toBeGreaterThan(0)
        seen.push(...page.map((entry) => entry.index))
        lo = page.at(-1)!.index + 1
      }
      expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      expect(() => store.entries(0, 2, 100)).toThrow(AssertionError)
      expect(() => store.entries(1, 12, 100)).toThrow(AssertionError)
      expect(() => store.entries(3, 2, 100)).toThrow(AssertionError)
    })

    it('saves and loads a snapshot, keeping the log after it', async () => {
      const store = await create()
      await store.append(records(1, 10, 1), null, true)
      const snapshot = snapshotAt(6, 1)
      await store.saveSnapshot(snapshot)
      expect(store.snapshotMeta()).toEqual(snapshot.meta)
      const loaded = store.loadSnapshot()!
      expect(loaded.meta).toEqual(snapshot.meta)
      expect(loaded.chunks.map((chunk) => [...chunk])).toEqual(snapshot.chunks.map((chunk) => [...chunk]))
      expect(store.firstIndex()).toBe(1)
      expect(store.lastIndex()).toBe(10)
    })

    it('saves a snapshot of no chunks', async () => {
      const store = await create()
      await store.append(records(1, 2, 1), null, true)
      await store.saveSnapshot(snapshotAt(2, 1, 0))
      expect(store.loadSnapshot()!.chunks).toEqual([])
    })

    it('§7: compacts the log through an index at or below the snapshot', async () => {
      const store = await create()
      await store.append([...records(1, 4, 1), ...records(5, 10, 2)], null, true)
      await store.saveSnapshot(snapshotAt(8, 2))
      await expect(store.compact(9)).rejects.toThrow(AssertionError)
      await store.compact(4)
      expect(store.firstIndex()).toBe(5)
      expect(store.lastIndex()).toBe(10)
      expect(store.term(4)).toBe(1) // the entry just before the log still has its term
      expect(store.term(3)).toBeUndefined()
      expect(() => store.entries(4, 6, Infinity)).toThrow(AssertionError)
      expect(store.entries(5, 11, Infinity).map((entry) => entry.index)).toEqual([5, 6, 7, 8, 9, 10])
      await store.compact(8)
      expect(store.firstIndex()).toBe(9)
      expect(store.term(8)).toBe(2)
      await store.compact(3) // already gone: nothing to do
      expect(store.firstIndex()).toBe(9)
      await expect(store.append([record(8, 2)], null, true)).rejects.toThrow(AssertionError)
      await store.append(records(9, 11, 3), null, true)
      expect(store.entries(9, 12, Infinity).map(plainRecord)).toEqual(records(9, 11, 3).map(plainRecord))
    })

    it('compacts the whole log: firstIndex is lastIndex + 1 and the snapshot answers the term', async () => {
      const store = await create()
      await store.append(records(1, 5, 1), null, true)
      await store.saveSnapshot(snapshotAt(5, 1))
      await store.compact(5)
      expect(store.firstIndex()).toBe(6)
      expect(store.lastIndex()).toBe(5)
      expect(store.term(5)).toBe(1)
      expect(store.entries(6, 6, 100)).toEqual([])
    })

    it('asserts a compaction needs a snapshot and a snapshot must be newer than the last', async () => {
      const store = await create()
      await store.append(records(1, 5, 1), null, true)
      await expect(store.compact(2)).rejects.toThrow(AssertionError)
      await store.saveSnapshot(snapshotAt(4, 1))
      await expect(store.saveSnapshot(snapshotAt(4, 1))).rejects.toThrow(AssertionError)
      await expect(store.saveSnapshot(snapshotAt(3, 1))).rejects.toThrow(AssertionError)
    })

    it('a newer snapshot replaces the older one, which compaction drops', async () => {
      const store = await create()
      await store.append(records(1, 9, 1), null, true)
      await store.saveSnapshot(snapshotAt(3, 1))
      await store.saveSnapshot(snapshotAt(7, 1, 5))
      expect(store.snapshotMeta()!.index).toBe(7)
      await store.compact(7)
      expect(store.loadSnapshot()!.chunks).toHaveLength(5)
      const again = await reopen(store)
      expect(again.snapshotMeta()!.index).toBe(7)
      expect(again.loadSnapshot()!.chunks).toHaveLength(5)
    })

    it('§7: a snapshot beyond lastIndex (a leader installing its own) discards the log', async () => {
      const store = await create()
      await store.append(records(1, 5, 1), null, true)
      await store.saveSnapshot(snapshotAt(20, 3))
      expect(store.firstIndex()).toBe(21)
      expect(store.lastIndex()).toBe(20)
      expect(store.term(20)).toBe(3)
      expect(store.term(5)).toBeUndefined()
      await expect(store.append([record(20, 3)], null, true)).rejects.toThrow(AssertionError)
      await store.append(records(21, 22, 3), null, true)
      expect(store.entries(21, 23, Infinity).map(plainRecord)).toEqual(records(21, 22, 3).map(plainRecord))
      const before = observe(store)
      const again = await reopen(store)
      expect(observe(again)).toEqual(before)
      expect(again.firstIndex()).toBe(21)
      expect(again.lastIndex()).toBe(22)
      expect(again.term(20)).toBe(3)
    })

    it('§7: a snapshot whose last entry the log holds in another term discards the log', async () => {
      const store = await create()
      await store.append(records(1, 8, 1), null, true)
      await store.saveSnapshot(snapshotAt(5, 2))
      expect(store.firstIndex()).toBe(6)
      expect(store.lastIndex()).toBe(5)
      expect(store.term(5)).toBe(2)
      expect(store.term(6)).toBeUndefined()
      const again = await reopen(store)
      expect(again.lastIndex()).toBe(5)
      expect(again.term(5)).toBe(2)
    })

    it('reopens to the very same state', async () => {
      const store = await create()
      await store.append(records(1, 30, 1), { term: 1, vote: 1, commit: 0 }, true)
      await store.append(records(25, 40, 2), { term: 2, vote: 3, commit: 20 }, true)
      await store.saveSnapshot(snapshotAt(18, 1, 4))
      await store.compact(10)
      await store.saveHardState({ term: 5, vote: 1, commit: 33 })
      const before = observe(store)
      const again = await reopen(store)
      expect(observe(again)).toEqual(before)
      // And it goes on working.
      await again.append(records(41, 42, 5), null, true)
      expect(again.lastIndex()).toBe(42)
    })

    it('reopens a store that was never written', async () => {
      const store = await create()
      const before = observe(store)
      expect(observe(await reopen(store))).toEqual(before)
    })

    it('holds a long log across reopen, read in pages', async () => {
      const store = await create()
      for (let lo = 1; lo <= 3000; lo += 100) await store.append(records(lo, lo + 99, 1 + Math.floor(lo / 1000)), null, lo % 500 === 1)
      await store.append([], null, true) // sync what came before
      const again = await reopen(store)
      expect(again.lastIndex()).toBe(3000)
      let count = 0
      for (let lo = 1; lo <= 3000; ) {
        const page = again.entries(lo, 3001, 4096)
        for (const [i, entry] of page.entries()) {
          expect(entry.index).toBe(lo + i)
          expect(entry.term).toBe(again.term(entry.index))
        }
        count += page.length
        lo += page.length
      }
      expect(count).toBe(3000)
    })

    it('refuses use after close', async () => {
      const store = await harness.create()
      await store.close()
      expect(() => store.lastIndex()).toThrow(AssertionError)
      await expect(store.append([record(1, 1)], null, true)).rejects.toThrow(AssertionError)
    })
  })
}
