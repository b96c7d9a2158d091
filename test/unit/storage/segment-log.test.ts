// The segment log's recovery rules (segment-log.ts), on real files: a torn
// tail ends the log, a damaged record inside it is reported, leftovers of a
// cut-off suffix or of a discarded log never come back, segments switch and
// are deleted as the log moves on, and zero-filled spares are used once ready.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { isHerdError } from '../../../src/errors.ts'
import type { LogRecord } from '../../../src/storage/index.ts'
import { SegmentLog, type SegmentLogFloor } from '../../../src/storage/segment-log.ts'
import { overwrite, recordOffsets } from '../../support/segment-records.ts'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-segment-log-'))
  dirs.push(dir)
  return dir
}

/** Entry `index` of `term`, its data `size` bytes long, naming both. */
function entry(index: number, term: number, size = 40): LogRecord {
  return { index, term, data: new TextEncoder().encode(`${index}/${term}:`.padEnd(size, '.')) }
}

function entries(lo: number, hi: number, term: number, size?: number): LogRecord[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => entry(lo + i, term, size))
}

interface Opened {
  readonly log: SegmentLog
  readonly maxEpoch: number
  /** What the scan reported, as index/term. */
  readonly scanned: string[]
}

const noFloor: SegmentLogFloor = { afterIndex: 0, minEpoch: 0 }

/** Opens the log and moves it to a new epoch, as the rocks store does. */
function open(dir: string, floor: SegmentLogFloor = noFloor, segmentBytes = 64 * 1024): Opened {
  const scanned: string[] = []
  const { log, maxEpoch } = SegmentLog.open(dir, floor, (e) => scanned.push(`${e.index}/${e.term}`), { segmentBytes })
  log.useEpoch(Math.max(maxEpoch, floor.minEpoch) + 1)
  return { log, maxEpoch, scanned }
}

function names(lo: number, hi: number, term: number): string[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => `${lo + i}/${term}`)
}

function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.seg')).sort()
}

/** What opening the log in `dir` throws, or null when it opens (and is closed again). */
async function openError(dir: string, floor: SegmentLogFloor = noFloor, segmentBytes?: number): Promise<unknown> {
  try {
    await open(dir, floor, segmentBytes).log.close()
    return null
  } catch (caught) {
    return caught
  }
}

/** Writes entries 1-200 of term 1 across several 4 KiB segments, synced; answers the log, still open. */
function manySegments(dir: string): SegmentLog {
  const { log } = open(dir, noFloor, 4096)
  log.write(entries(1, 200, 1))
  log.sync()
  return log
}

describe('segment log', () => {
  it('reads back what it wrote, across reopens, and reads entries by index', async () => {
    const dir = tempDir()
    const first = open(dir)
    first.log.write(entries(1, 30, 1))
    first.log.write(entries(31, 40, 2))
    first.log.sync()
    expect(first.log.lastIndex()).toBe(40)
    await first.log.close()
    const again = open(dir)
    expect(again.scanned).toEqual([...names(1, 30, 1), ...names(31, 40, 2)])
    expect(new TextDecoder().decode(again.log.read(35, 2).data)).toBe(new TextDecoder().decode(entry(35, 2).data))
    expect(() => again.log.read(35, 1)).toThrow(/holds entry 35 of term 2, not term 1/)
    await again.log.close()
  })

  it('ends the log at a torn record at its tail, and appends over it', async () => {
    const dir = tempDir()
    const first = open(dir)
    first.log.write(entries(1, 12, 1))
    first.log.sync()
    await first.log.close()
    const [file] = segmentFiles(dir)
    const offsets = recordOffsets(path.join(dir, file!))
    // Entry 12 torn: its last bytes never reached the disk.
    overwrite(path.join(dir, file!), offsets[11]! + 50, new Uint8Array(18))
    const again = open(dir)
    expect(again.scanned).toEqual(names(1, 11, 1))
    again.log.write([entry(12, 2, 10)])
    again.log.sync()
    await again.log.close()
    expect(open(dir).scanned).toEqual([...names(1, 11, 1), '12/2'])
  })

  it('reports a damaged record that intact records follow at or below the synced-through mark', async () => {
    const dir = tempDir()
    const first = open(dir)
    first.log.write(entries(1, 8, 1))
    first.log.sync()
    await first.log.close()
    const [file] = segmentFiles(dir)
    const offsets = recordOffsets(path.join(dir, file!))
    overwrite(path.join(dir, file!), offsets[3]! + 40, new TextEncoder().encode('#'))
    const error = await openError(dir, { ...noFloor, syncedThrough: 6 })
    expect(isHerdError(error) && error.code).toBe('DataInconsistency')
    expect((error as Error).message).toMatch(/log entry 4 .*checksum mismatch/)
  })

  it('takes a bad record past the mark for a torn write even with intact records after it (pages reach the disk in any order)', async () => {
    const dir = tempDir()
    const first = open(dir)
    first.log.write(entries(1, 4, 1))
    first.log.sync()
    // One write of entries 5-40 whose sync never completed: a page in the
    // middle of it did not reach the disk, the pages after it did.
    first.log.write(entries(5, 40, 1, 200))
    await first.log.close()
    const [file] = segmentFiles(dir)
    const offsets = recordOffsets(path.join(dir, file!))
    // The lost page ends where entry 11 begins: entry 10 is torn and 11 is intact.
    overwrite(path.join(dir, file!), offsets[9]! + 10, new Uint8Array(offsets[10]! - offsets[9]! - 10))
    const again = open(dir, { ...noFloor, syncedThrough: 4 })
    expect(again.scanned).toEqual(names(1, 9, 1))
    await again.log.close()
  })

  it('refuses a log that ends before the entries vouched synced (a damaged length, a segment gone), and deletes nothing', async () => {
    const dir = tempDir()
    await manySegments(dir).close()
    const files = segmentFiles(dir)
    expect(files.length).toBeGreaterThan(3)

    // A flipped bit in a record's length: its checksum no longer covers the
    // right bytes and the next record is not where the length says, which is
    // what a torn tail looks like too.
    const second = path.join(dir, files[1]!)
    const offsets = recordOffsets(second)
    const lengthAt = offsets[5]! + 4
    const original = fs.readFileSync(second).subarray(lengthAt, lengthAt + 4)
    overwrite(second, lengthAt, Uint8Array.from([original[0]! ^ 0x40, original[1]!, original[2]!, original[3]!]))
    const damaged = Number(fs.readFileSync(second).subarray(offsets[5]! + 12, offsets[5]! + 20).readBigUInt64BE())
    const error = await openError(dir, { ...noFloor, syncedThrough: 150 }, 4096)
    expect(isHerdError(error) && error.code).toBe('DataInconsistency')
    expect((error as Error).message).toContain(`ends at entry ${damaged - 1}`)
    expect(segmentFiles(dir)).toEqual(files)

    // Vouched only up to before the damage: a torn tail, as before.
    const torn = open(dir, { ...noFloor, syncedThrough: damaged - 1 }, 4096)
    expect(torn.log.lastIndex()).toBe(damaged - 1)
    await torn.log.close()
  })

  it('refuses a log whose middle segment is gone when later entries were vouched synced', async () => {
    const dir = tempDir()
    await manySegments(dir).close()
    const files = segmentFiles(dir)
    fs.rmSync(path.join(dir, files[1]!))
    const error = await openError(dir, { ...noFloor, syncedThrough: 200 }, 4096)
    expect(isHerdError(error) && error.code).toBe('DataInconsistency')
    expect(segmentFiles(dir)).toEqual([files[0], ...files.slice(2)])
  })

  it('never brings back a suffix that was cut off, even where the new records end exactly where old ones began', async () => {
    const dir = tempDir()
    const first = open(dir)
    first.log.write(entries(1, 10, 1))
    first.log.sync()
    // Raft's truncation: from 5 on, in a new epoch; same sizes, so old record 7 starts right after new 6.
    first.log.useEpoch(first.log.epoch() + 1)
    first.log.write(entries(5, 6, 2))
    first.log.sync()
    await first.log.close()
    const again = open(dir)
    expect(again.scanned).toEqual([...names(1, 4, 1), ...names(5, 6, 2)])
    expect(again.log.lastIndex()).toBe(6)
    await again.log.close()
  })

  it('cuts across segments: later segments are left behind, and skipped as stale if they come back', async () => {
    const dir = tempDir()
    const first = { log: manySegments(dir) }
    const before = segmentFiles(dir)
    expect(before.length).toBeGreaterThan(2)
    // Keep a copy of the last segment, to put back as if its deletion had not reached the disk.
    const lastName = before.at(-1)!
    const lastCopy = fs.readFileSync(path.join(dir, lastName))
    first.log.useEpoch(first.log.epoch() + 1)
    first.log.write(entries(20, 25, 2))
    first.log.sync()
    await first.log.close()
    fs.writeFileSync(path.join(dir, lastName), lastCopy)
    const again = open(dir, noFloor, 4096)
    expect(again.scanned).toEqual([...names(1, 19, 1), ...names(20, 25, 2)])
    // The log goes on past the resurrected segment's id, into new segments.
    again.log.write(entries(26, 300, 2))
    again.log.sync()
    await again.log.close()
    expect(open(dir, noFloor, 4096).scanned).toEqual([...names(1, 19, 1), ...names(20, 300, 2)])
  })

  it('skips compacted entries, deletes segments that hold only those, and forgets a discarded log below a floor epoch', async () => {
    const dir = tempDir()
    const first = open(dir, noFloor, 4096)
    first.log.write(entries(1, 200, 1))
    first.log.sync()
    const segmentsBefore = segmentFiles(dir).length
    first.log.dropThrough(150)
    await first.log.close()
    expect(segmentFiles(dir).length).toBeLessThan(segmentsBefore)
    const compacted = open(dir, { afterIndex: 150, minEpoch: 0 }, 4096)
    expect(compacted.scanned).toEqual(names(151, 200, 1))
    // A snapshot install at 500: the log is discarded, a floor epoch above all before.
    const floorEpoch = compacted.log.epoch() + 1
    compacted.log.reset(500)
    compacted.log.useEpoch(floorEpoch)
    compacted.log.write(entries(501, 505, 3))
    compacted.log.sync()
    await compacted.log.close()
    const installed = open(dir, { afterIndex: 500, minEpoch: floorEpoch }, 4096)
    expect(installed.scanned).toEqual(names(501, 505, 3))
    await installed.log.close()
    // Had the floor not been saved, the old log would be what a restart finds (the caller saves it first).
  })

  it('skips an empty segment before the live ones (a spare given up and not yet deleted)', async () => {
    const dir = tempDir()
    const first = open(dir)
    first.log.write(entries(1, 5, 1))
    first.log.sync()
    await first.log.close()
    fs.writeFileSync(path.join(dir, '0000000000000000.seg'), new Uint8Array(8192))
    const again = open(dir)
    expect(again.scanned).toEqual(names(1, 5, 1))
    expect(segmentFiles(dir)).not.toContain('0000000000000000.seg')
    await again.log.close()
  })

  it('zero-fills the next segment in the background and moves to it once ready', async () => {
    const dir = tempDir()
    const segmentBytes = 256 * 1024
    const first = open(dir, noFloor, segmentBytes)
    // The first segment is not zero-filled: past a quarter of a segment a spare is made, and used once ready.
    first.log.write(entries(1, 700, 1, 100))
    first.log.sync()
    for (let i = 0; i < 200 && segmentFiles(dir).length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    const spare = segmentFiles(dir).at(-1)!
    for (let i = 0; i < 200 && fs.statSync(path.join(dir, spare)).size < segmentBytes; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    await new Promise((resolve) => setTimeout(resolve, 50))
    first.log.write(entries(701, 710, 1, 100))
    first.log.sync()
    await first.log.close()
    const files = segmentFiles(dir)
    expect(files.length).toBe(2)
    expect(fs.statSync(path.join(dir, files[1]!)).size).toBe(segmentBytes)
    expect(recordOffsets(path.join(dir, files[1]!)).length).toBe(10)
    expect(open(dir, noFloor, segmentBytes).scanned).toEqual(names(1, 710, 1))
  })

  it('discards what follows an index, for a simulated power cut', async () => {
    const dir = tempDir()
    const first = open(dir, noFloor, 4096)
    first.log.write(entries(1, 150, 1))
    first.log.sync()
    expect(first.log.discardAfter(60)).toBe(90)
    await first.log.close()
    const again = open(dir, noFloor, 4096)
    expect(again.scanned).toEqual(names(1, 60, 1))
    await again.log.close()
  })
})
