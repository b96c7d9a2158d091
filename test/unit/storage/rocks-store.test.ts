// The rocks store: the LogStore contract (with the default entry cache and
// with none, so reads go to the disk; with segments so small that most
// appends start a new one), then what only a real disk has: torn snapshots,
// corrupt values, the directory lock, large snapshots, entries moved from
// RocksDB into the segment log, and a process killed in the middle of synced
// appends. The segment log's own recovery rules: segment-log.test.ts.

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { crc32 } from 'node:zlib'
import { RocksLevel } from '@nxtedition/rocksdb'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { isHerdError } from '../../../src/errors.ts'
import { openRocksStore } from '../../../src/storage/index.ts'
import type { LogStore, RocksStoreOptions } from '../../../src/storage/index.ts'
import { segmentDirName } from '../../../src/storage/rocks-store.ts'
import {
  encodeEntry,
  entryKey,
  entryKeysEnd,
  hardStateKey,
  logEpochKey,
  snapshotChunkKey,
  snapshotChunkKeysEnd,
  snapshotMetaKey,
  encodeSnapshotChunk,
} from '../../../src/storage/rocks-codec.ts'
import { entryText } from './fixtures/append-until-killed.ts'
import { overwrite, recordOffsets } from '../../support/segment-records.ts'
import { describeLogStoreContract, observe, records, snapshotAt } from './log-store-contract.ts'

const dirs: string[] = []
const stores = new Map<LogStore, string>()

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-rocks-store-'))
  dirs.push(dir)
  return dir
}

afterAll(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

async function openIn(dir: string, options?: RocksStoreOptions): Promise<LogStore> {
  const store = await openRocksStore(dir, options)
  stores.set(store, dir)
  return store
}

function harness(options: RocksStoreOptions) {
  return {
    create: () => openIn(tempDir(), options),
    reopen: async (store: LogStore) => {
      const dir = stores.get(store)!
      await store.close()
      return openIn(dir, options)
    },
  }
}

describeLogStoreContract('rocks store', harness({}))
describeLogStoreContract('rocks store, no entry cache', harness({ cacheBytesMax: 0 }))
describeLogStoreContract("rocks store, synced on libuv's threads", harness({ syncInWorker: true }))
describeLogStoreContract('rocks store, 4 KiB log segments', harness({ segmentBytes: 4096, cacheBytesMax: 0 }))

/** Opens the directory with RocksDB directly, to do what the store never would. */
async function withRawDb(dir: string, use: (db: RocksLevel) => Promise<void>): Promise<void> {
  const db = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open({ createIfMissing: false })
  try {
    await use(db)
  } finally {
    await db.close()
  }
}

async function flipByte(dir: string, key: Buffer, offset: number): Promise<void> {
  await withRawDb(dir, async (db) => {
    const value = Buffer.from(await db.get(key))
    value[offset] = value[offset]! ^ 0x01
    await db.put(key, value, { sync: true })
  })
}

function segmentFiles(dir: string): string[] {
  const logDir = path.join(dir, segmentDirName)
  return fs.readdirSync(logDir).filter((name) => name.endsWith('.seg')).sort().map((name) => path.join(logDir, name))
}

function flipFileByte(file: string, offset: number): void {
  overwrite(file, offset, Uint8Array.from([fs.readFileSync(file)[offset]! ^ 0x01]))
}

async function expectDataInconsistency(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error: unknown = await promise.then(
    () => new Error('expected a DataInconsistency error'),
    (caught: unknown) => caught,
  )
  expect(isHerdError(error) && error.code).toBe('DataInconsistency')
  expect((error as Error).message).toMatch(pattern)
}

describe('rocks store on disk', () => {
  const open: LogStore[] = []
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close()
  })
  async function openTracked(dir: string, options?: RocksStoreOptions): Promise<LogStore> {
    const store = await openIn(dir, options)
    open.push(store)
    return store
  }
  async function closeTracked(store: LogStore): Promise<void> {
    open.splice(open.indexOf(store), 1)
    await store.close()
  }

  it('ignores and removes the chunks of a snapshot whose meta was never written (torn save)', async () => {
    const dir = tempDir()
    const store = await openTracked(dir)
    await store.append(records(1, 10, 1), null, true)
    await store.saveSnapshot(snapshotAt(5, 1))
    const before = observe(store)
    await closeTracked(store)
    // A crash part way through saving a snapshot at 9: chunks on disk, no meta.
    await withRawDb(dir, async (db) => {
      const batch = db.batch()
      for (let n = 0; n < 3; n++) {
        const key = snapshotChunkKey(9, n)
        batch.put(key, encodeSnapshotChunk(key, new TextEncoder().encode(`torn ${n}`)))
      }
      await batch.write({ sync: true })
    })
    const again = await openTracked(dir)
    expect(observe(again)).toEqual(before)
    expect(again.snapshotMeta()!.index).toBe(5)
    await closeTracked(again)
    await withRawDb(dir, async (db) => {
      const keys = await db.iterator({ gte: snapshotChunkKey(9, 0), lt: snapshotChunkKeysEnd }).nextv(10)
      expect(keys).toEqual([])
    })
  })

  it('reports a flipped byte in a synced log entry in the middle of the log on open', async () => {
    const dir = tempDir()
    const store = await openTracked(dir)
    await store.append(records(1, 5, 1), { term: 1, vote: 1, commit: 2 }, true)
    await closeTracked(store)
    const [segment] = segmentFiles(dir)
    const offsets = recordOffsets(segment!)
    flipFileByte(segment!, offsets[2]! + 30)
    await expectDataInconsistency(openIn(dir), /log entry 3 .*checksum mismatch/)
  })

  it('refuses to cut short a log whose synced entries are damaged where a torn tail would look the same, and not one whose suffix Raft cut', async () => {
    const dir = tempDir()
    const store = await openTracked(dir)
    await store.append(records(1, 8, 1), { term: 1, vote: 1, commit: 4 }, true)
    await store.append(records(9, 10, 1), null, false)
    await closeTracked(store)
    const [segment] = segmentFiles(dir)
    const offsets = recordOffsets(segment!)
    // Entry 6's length damaged: its record no longer checks out and entry 7
    // is not where it says, as after a torn write. But the append that wrote
    // 6 was synced with a hard state, so the store vouches for it (the
    // unsynced 9 and 10 it does not).
    flipFileByte(segment!, offsets[5]! + 5)
    await expectDataInconsistency(openIn(dir), /ends at entry 5 .*entries through 8 were synced/)
    flipFileByte(segment!, offsets[5]! + 5)

    // A cut of a conflicting suffix lowers what it vouches for: the new, shorter log opens.
    const again = await openTracked(dir)
    await again.append(records(6, 6, 2), { term: 2, vote: 1, commit: 4 }, true)
    await closeTracked(again)
    const reopened = await openTracked(dir)
    expect(reopened.lastIndex()).toBe(6)
    await closeTracked(reopened)
  })

  it('reports a flipped byte in the hard state or the snapshot meta on open', async () => {
    const dir = tempDir()
    const store = await openTracked(dir)
    await store.append(records(1, 5, 1), { term: 1, vote: 1, commit: 2 }, true)
    await store.saveSnapshot(snapshotAt(4, 1))
    await closeTracked(store)
    await flipByte(dir, hardStateKey, 6)
    await expectDataInconsistency(openIn(dir), /hard state: checksum mismatch/)
    await flipByte(dir, hardStateKey, 6)
    await flipByte(dir, snapshotMetaKey(4), 13)
    await expectDataInconsistency(openIn(dir), /snapshot 4 meta: checksum mismatch/)
  })

  it('reports a flipped byte in a snapshot chunk when the snapshot is loaded', async () => {
    const dir = tempDir()
    const store = await openTracked(dir)
    await store.append(records(1, 5, 1), null, true)
    await store.saveSnapshot(snapshotAt(4, 1))
    await closeTracked(store)
    await flipByte(dir, snapshotChunkKey(4, 1), 5)
    const again = await openTracked(dir)
    expect(again.snapshotMeta()!.index).toBe(4)
    let error: unknown
    try {
      again.loadSnapshot()
    } catch (caught) {
      error = caught
    }
    expect(isHerdError(error) && error.code).toBe('DataInconsistency')
    expect((error as Error).message).toMatch(/snapshot 4 chunk 1 .*checksum mismatch/)
  })

  it('moves the entries of a store from before the segment log into it, once', async () => {
    const dir = tempDir()
    await closeTracked(await openTracked(dir))
    // What such a store held: entries under 'l' keys, the log start without a floor epoch, no log epoch.
    await withRawDb(dir, async (db) => {
      const batch = db.batch()
      for (const record of records(1, 200, 2)) {
        const key = entryKey(record.index)
        batch.put(key, encodeEntry(key, record.term, record.data))
      }
      batch.del(logEpochKey)
      await batch.write({ sync: true })
    })
    fs.rmSync(path.join(dir, segmentDirName), { recursive: true })
    const store = await openTracked(dir, { segmentBytes: 4096 })
    const expected = records(1, 200, 2).map((r) => ({ index: r.index, term: r.term, data: [...r.data] }))
    const read = (s: LogStore) => s.entries(1, 201, Infinity).map((r) => ({ index: r.index, term: r.term, data: [...r.data] }))
    expect(store.lastIndex()).toBe(200)
    expect(read(store)).toEqual(expected)
    await closeTracked(store)
    await withRawDb(dir, async (db) => {
      expect(await db.iterator({ gte: entryKey(0), lt: entryKeysEnd }).nextv(10)).toEqual([])
    })
    const again = await openTracked(dir, { segmentBytes: 4096, cacheBytesMax: 0 })
    expect(read(again)).toEqual(expected)
    expect(segmentFiles(dir).length).toBeGreaterThan(1)
  })

  it('refuses a second store on the same directory, in this process or another', async () => {
    const dir = tempDir()
    await openTracked(dir)
    await expect(openRocksStore(dir)).rejects.toThrow(/already open .*LOCK/)
    const child = await runChild(dir, 'open')
    expect(child.code).toBe(3)
    expect(child.stderr).toMatch(/already open .*LOCK/)
  })

  it('saves and reloads a 128 MiB snapshot in 1 MiB chunks', async () => {
    const dir = tempDir()
    const store = await openTracked(dir, { snapshotBatchBytesMax: 16 * 1024 * 1024 })
    await store.append(records(1, 3, 1), null, true)
    const chunks: Uint8Array[] = []
    for (let n = 0; n < 128; n++) chunks.push(new Uint8Array(1024 * 1024).fill(n))
    const sums = chunks.map((chunk) => crc32(chunk))
    await store.saveSnapshot({ meta: { index: 3, term: 1, extra: new Uint8Array() }, chunks })
    chunks.length = 0
    await store.compact(3)
    await closeTracked(store)
    const again = await openTracked(dir)
    const loaded = again.loadSnapshot()!
    expect(loaded.chunks.map((chunk) => crc32(chunk))).toEqual(sums)
    expect(loaded.chunks.every((chunk) => chunk.length === 1024 * 1024)).toBe(true)
  })

  it('keeps every acknowledged append when its process is killed mid-stream (SIGKILL, three times)', async () => {
    const dir = tempDir()
    let acknowledged = 0
    for (let round = 0; round < 3; round++) {
      const killedAfter = await appendUntilKilled(dir, acknowledged + 200)
      expect(killedAfter).toBeGreaterThanOrEqual(acknowledged + 200)
      acknowledged = killedAfter
      const store = await openTracked(dir)
      expect(store.firstIndex()).toBe(1)
      expect(store.lastIndex()).toBeGreaterThanOrEqual(acknowledged)
      const entries = store.entries(1, store.lastIndex() + 1, Number.MAX_SAFE_INTEGER)
      expect(entries.map((entry) => entry.index)).toEqual(Array.from({ length: store.lastIndex() }, (_, i) => i + 1))
      for (const entry of entries) expect(new TextDecoder().decode(entry.data)).toBe(entryText(entry.index))
      // The next round appends after what is there, acknowledged or not.
      acknowledged = store.lastIndex()
      await closeTracked(store)
    }
  })
})

const fixture = new URL('./fixtures/append-until-killed.ts', import.meta.url).pathname

function runChild(dir: string, mode: 'open'): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
    child.on('error', reject)
    child.on('exit', (code) => resolve({ code, stderr }))
  })
}

/** Runs the appending child until it has acknowledged `atLeast`, then SIGKILLs it; the last index it acknowledged. */
function appendUntilKilled(dir: string, atLeast: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, dir, 'append'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let pending = ''
    let last = 0
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      pending += text
      const lines = pending.split('\n')
      pending = lines.pop()!
      for (const line of lines) last = Number(line)
      if (last >= atLeast) child.kill('SIGKILL')
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code}: ${stderr}`))
      else resolve(last)
    })
  })
}

describe("appends synced on libuv's threads", () => {
  it('takes several synced appends at once, records them in order, and queued operations wait for them', async () => {
    const dir = tempDir()
    const store = await openIn(dir, { syncInWorker: true })
    const first = store.append(records(1, 3, 1), null, true)
    const second = store.append(records(4, 6, 1), null, true)
    // A queued operation in between: it runs once the appends before it are recorded.
    const hardState = store.saveHardState({ term: 1, vote: 1, commit: 3 })
    const third = store.append(records(7, 9, 2), { term: 2, vote: 1, commit: 6 }, true)
    await Promise.all([first, second, hardState, third])
    expect(store.lastIndex()).toBe(9)
    expect(store.term(6)).toBe(1)
    expect(store.term(7)).toBe(2)
    expect(store.hardState()).toEqual({ term: 2, vote: 1, commit: 6 })
    expect(store.entries(1, 10, Infinity).map((r) => r.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    await store.close()
    const reopened = await openIn(dir, { syncInWorker: true })
    expect(reopened.lastIndex()).toBe(9)
    expect(reopened.hardState()).toEqual({ term: 2, vote: 1, commit: 6 })
    await reopened.close()
  })

  it('checks appends against the log as it will be, not as it is on disk yet', async () => {
    const store = await openIn(tempDir(), { syncInWorker: true })
    const first = store.append(records(1, 3, 1), null, true)
    await expect(store.append(records(5, 6, 1), null, true)).rejects.toThrow()
    await expect(store.append(records(4, 4, 0), null, true)).rejects.toThrow()
    await first
    await store.append(records(4, 4, 1), null, true)
    expect(store.lastIndex()).toBe(4)
    await store.close()
  })
})

describe('a data directory removed under an open store', () => {
  for (const syncInWorker of [false, true]) {
    it(`fails the next synced append instead of writing into files no restart finds${syncInWorker ? " (synced on libuv's threads)" : ''}`, async () => {
      const dir = tempDir()
      const store = await openIn(dir, { syncInWorker })
      await store.append(records(1, 3, 1), null, true)
      fs.rmSync(dir, { recursive: true, force: true })
      // The open segment takes the write and the sync as if nothing happened: only its link count tells.
      const error: unknown = await store.append(records(4, 5, 1), null, true).then(
        () => new Error('the append was acknowledged'),
        (caught: unknown) => caught,
      )
      expect(isHerdError(error) && error.code).toBe('SystemError')
      expect((error as Error).message).toMatch(/segment .+ was removed while in use \(was the data directory deleted\?\)/)
      // The store is fenced: nothing after the failure is taken either.
      await expect(store.append(records(4, 4, 1), null, true)).rejects.toThrow()
      // RocksDB cannot close cleanly without its directory; that is the caller's to report.
      await store.close().catch(() => undefined)
    })
  }
})
