// The Raft log's entries, in segment files of our own beside RocksDB (which
// keeps the hard state, the log start and snapshots). Why not RocksDB's WAL:
// every append ends in an fdatasync, and an fdatasync after a write that grows
// a file (or fills a fallocate'd extent) must also commit the file system's
// journal; an fdatasync after overwriting blocks that were already written
// need not. Measured on this machine's ext4: 4 KiB write + fdatasync 323 µs
// appending (RocksDB's synced batch: 309 µs) against 166 µs overwriting a
// zero-filled file; with three processes syncing at once, 630-690 µs against
// 340-370 µs. So segments are zero-filled ahead of use (in the background,
// on libuv's threads) and records overwrite the zeros.
//
// A segment file is named by a 16-digit id, increasing in creation order; it
// holds records back to back from offset 0:
//
//   u32 crc32 of the rest | u32 data length | u32 epoch | u64 index | u64 term | data
//
// The log is the longest chain of valid records, in id order, with
// contiguous indexes and non-decreasing epochs. It ends at the first record
// that is torn (bad crc), zero (never written) or does not follow. Records
// past the end are never read; they are overwritten as the log grows.
//
// The epoch is what makes leftovers harmless. Every write that does not
// simply extend the log (Raft's truncation of a conflicting suffix) and every
// open moves to a new, higher epoch, saved by the caller (synced) before any
// record of it is written. A record of an older epoch after a newer one is
// therefore a leftover of a suffix that was cut off, or of a write that was
// torn before the last open, and ends the log; a segment that starts with an
// older epoch than the log reached is all leftover and skipped. An install of
// a snapshot the log does not hold starts a new segment and a floor epoch
// (kept with the log start): everything before it is skipped.
//
// A torn record can only be at the tail, among entries whose sync never
// completed, and there the pages of one write may have reached the disk in
// any order: an intact record after a bad one proves nothing. The caller
// names an index through which entries were synced (the store's
// synced-through mark); a log that ends before it was damaged (a record or
// its length, a segment gone), and open refuses it rather than cut it
// short.
//
// Records with an index at or below the log start (compacted, not yet
// deleted with their segment) are skipped on open. A segment is deleted once
// every entry it holds is compacted, or when open finds it is not part of the
// log (deleted before any new segment is used, so it cannot come back).
//
// Not thread safe, and one process per directory (the caller holds RocksDB's
// LOCK on the data directory this lives in).

import fs from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { crc32 } from 'node:zlib'
import { assert } from '../assert.ts'
import { corrupt, readU64, writeU64 } from './rocks-codec.ts'
import type { LogRecord } from './log-store.ts'

const MiB = 1024 * 1024
const headerBytes = 28
const twoTo32 = 0x1_0000_0000
// The callback forms on raw descriptors: fs.promises would wrap them in FileHandles, which close them when collected.
const openAsync = promisify(fs.open)
const writeAsync = promisify(fs.write)
const fdatasyncAsync = promisify(fs.fdatasync)
const fsyncAsync = promisify(fs.fsync)
const fstatAsync = promisify(fs.fstat)
const segmentName = /^(\d{16})\.seg$/
const zeroChunkBytes = 1 * MiB
/** Bytes read at a time when scanning a segment on open. */
const scanReadBytes = 4 * MiB

export const segmentLogDefaults = Object.freeze({
  /** Bytes a segment is zero-filled to; a record larger than that gets a segment of its own, grown as it is written. */
  segmentBytes: 64 * MiB,
})

interface Segment {
  readonly id: number
  readonly path: string
  readonly fd: number
  /** Bytes zero-filled (or written) when it was opened: writes below it overwrite, above it grow the file (up to the segment size, or one record). */
  capacity: number
  /** Index of the entry at offsets[0] (0 while it holds none). */
  firstIndex: number
  /** Byte offset of each entry it holds, in index order from firstIndex. */
  readonly offsets: number[]
  /** Where its next record goes. */
  end: number
}

/**
 * A segment removed while open (its data directory deleted under the running
 * node, say) still takes writes and syncs, into a file no restart will find:
 * the append fails instead, before any of its entries is acknowledged.
 */
function assertLinked(segment: Segment, stats: fs.Stats): void {
  if (stats.nlink === 0) throw new Error(`segment ${segment.path} was removed while in use (was the data directory deleted?); what is written to it would be lost`)
}

interface Spare {
  ready: Segment | null
  /** Given up (a segment was needed before it was ready): deleted once made. */
  isDiscarded: boolean
}

export interface SegmentLogFloor {
  /** The log start: entries at or below it are compacted (skipped on open). */
  readonly afterIndex: number
  /** Records of an older epoch are not part of the log (a snapshot install discarded them). */
  readonly minEpoch: number
  /**
   * An index every entry up to which was synced here and not cut off since
   * (the store's synced-through mark). A log that ends before it has lost synced entries: damage (a
   * record's length or header flipped, a segment gone), not a torn tail, so
   * open refuses instead of cutting the log there and deleting the segments
   * after it. 0 (the default) vouches for nothing.
   */
  readonly syncedThrough?: number
}

export interface ScannedEntry {
  readonly index: number
  readonly term: number
  /** A view into a read buffer: copy it to keep it beyond the callback. */
  readonly data: Uint8Array
}

export class SegmentLog {
  readonly #dir: string
  readonly #segmentBytes: number
  /** Segments holding the log, oldest first; the last one is where appends go. */
  #segments: Segment[]
  #lastIndex: number
  /** The epoch records are written in now. */
  #epoch = 0
  /** Segments written since the last sync. */
  readonly #dirty = new Set<Segment>()
  #nextId: number
  /** The zero-filled segment being made ready for the next switch, and once it is, the segment. */
  #spare: Spare | null = null
  /** Every zero-filling still running, the spare's and those of spares given up. */
  readonly #preparing = new Set<Promise<void>>()
  #isClosed = false

  private constructor(dir: string, segmentBytes: number, segments: Segment[], lastIndex: number, nextId: number) {
    this.#dir = dir
    this.#segmentBytes = segmentBytes
    this.#segments = segments
    this.#lastIndex = lastIndex
    this.#nextId = nextId
  }

  /**
   * Opens the log in `dir` (creating it), calling `each` for every entry
   * after floor.afterIndex, in order. Answers the log and the highest epoch
   * found; the caller must save a higher one and pass it to useEpoch()
   * before the first write.
   */
  static open(
    dir: string,
    floor: SegmentLogFloor,
    each: (entry: ScannedEntry) => void,
    options: { readonly segmentBytes?: number } = {},
  ): { readonly log: SegmentLog; readonly maxEpoch: number } {
    const segmentBytes = options.segmentBytes ?? segmentLogDefaults.segmentBytes
    assert(Number.isSafeInteger(segmentBytes) && segmentBytes >= 4096, `storage: bad segment size ${segmentBytes}`)
    fs.mkdirSync(dir, { recursive: true })
    const ids = fs
      .readdirSync(dir)
      .map((name) => segmentName.exec(name)?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number)
      .sort((a, b) => a - b)
    const segments: Segment[] = []
    const unused: Segment[] = []
    let expected = floor.afterIndex + 1
    let epoch = floor.minEpoch
    const syncedThrough = floor.syncedThrough ?? 0
    let isEnded = false
    for (const id of ids) {
      const path = join(dir, segmentFile(id))
      const segment: Segment = { id, path, fd: fs.openSync(path, 'r+'), capacity: fs.statSync(path).size, firstIndex: 0, offsets: [], end: 0 }
      if (isEnded) {
        unused.push(segment)
        continue
      }
      const scan = scanSegment(segment, expected, epoch, expected === floor.afterIndex + 1, syncedThrough, each)
      if (scan.isStale) {
        unused.push(segment)
        continue
      }
      if (segment.offsets.length === 0) {
        // Zero-filled and never used (a spare), or its first write was torn: not part of the log.
        // Or it starts with a record that does not continue the log: the log ended before it.
        unused.push(segment)
        if (scan.startsWithRecord) isEnded = true
        continue
      }
      segments.push(segment)
      expected = scan.expected
      epoch = scan.epoch
    }
    if (expected - 1 < syncedThrough) {
      // Nothing is deleted: the damage and what follows it stay for whoever repairs the replica.
      for (const segment of [...segments, ...unused]) fs.closeSync(segment.fd)
      const where = segments.at(-1)?.path ?? dir
      throw corrupt(`log in ${dir}`, `it ends at entry ${expected - 1} (in ${where}), but entries through ${syncedThrough} were synced here: the record after it is damaged or missing`)
    }
    for (const segment of unused) {
      fs.closeSync(segment.fd)
      fs.unlinkSync(segment.path)
    }
    // The deletions must be durable before a newer segment can be used: a
    // leftover coming back between two live segments would end the log there.
    if (unused.length > 0) syncDir(dir)
    const nextId = (ids.at(-1) ?? 0) + 1
    const log = new SegmentLog(dir, segmentBytes, segments, expected - 1, nextId)
    if (segments.length === 0) log.#segments.push(log.#createSegment(floor.afterIndex + 1))
    else {
      // Skipped compacted entries leave offsets for indexes below the log start; drop them.
      log.dropThrough(floor.afterIndex)
    }
    return { log, maxEpoch: epoch }
  }

  /** Index of the last entry held (the log start when none is). */
  lastIndex(): number {
    return this.#lastIndex
  }

  /** From now on records are written in `epoch`: it must be above every epoch used before and saved durably. */
  useEpoch(epoch: number): void {
    assert(Number.isSafeInteger(epoch) && epoch > this.#epoch && epoch < twoTo32, `storage: epoch ${epoch} after ${this.#epoch}`)
    this.#epoch = epoch
  }

  epoch(): number {
    return this.#epoch
  }

  /** The entry at `index`, read from its segment and checked. */
  read(index: number, expectedTerm: number): LogRecord {
    const segment = this.#segmentOf(index)
    const offset = segment.offsets[index - segment.firstIndex]
    assert(offset !== undefined)
    const header = Buffer.allocUnsafe(headerBytes)
    readFully(segment.fd, header, offset)
    const length = header.readUInt32BE(4)
    const record = Buffer.allocUnsafe(headerBytes + length)
    header.copy(record)
    readFully(segment.fd, record.subarray(headerBytes), offset + headerBytes)
    const what = `log entry ${index} in ${segment.path}`
    if (crc32(record.subarray(4)) !== record.readUInt32BE(0)) throw corrupt(what, 'checksum mismatch (the stored bytes are not the bytes written)')
    const storedIndex = readU64(record, 12)
    const term = readU64(record, 20)
    if (storedIndex !== index || term !== expectedTerm) throw corrupt(what, `holds entry ${storedIndex} of term ${term}, not term ${expectedTerm}`)
    return { index, term, data: new Uint8Array(record.buffer, record.byteOffset + headerBytes, length) }
  }

  /**
   * Writes entries (contiguous, the first at most lastIndex() + 1; an earlier
   * one cuts the log there first, and the caller must have moved to a new
   * epoch since the last such cut) without syncing them. Answers each
   * entry's data as a view into the bytes written (our own copy).
   */
  write(entries: readonly LogRecord[]): Uint8Array[] {
    const pending = this.#place(entries)
    for (const { segment, offset, bytes } of pending.writes) writeFully(segment.fd, bytes, offset)
    return pending.views
  }

  /** write(), with the writes made on libuv's threads; the log is updated at once, so reads of the new entries wait for it. */
  async writeAsync(entries: readonly LogRecord[]): Promise<Uint8Array[]> {
    const pending = this.#place(entries)
    await Promise.all(pending.writes.map(({ segment, offset, bytes }) => writeFullyAsync(segment.fd, bytes, offset)))
    return pending.views
  }

  /** Makes every write so far durable. */
  sync(): void {
    for (const segment of this.#dirty) {
      fs.fdatasyncSync(segment.fd)
      assertLinked(segment, fs.fstatSync(segment.fd))
    }
    this.#dirty.clear()
  }

  /** sync() on libuv's threads; covers the writes completed before it is called. */
  async syncAsync(): Promise<void> {
    const segments = [...this.#dirty]
    this.#dirty.clear()
    await Promise.all(segments.map(async (segment) => {
      await fdatasyncAsync(segment.fd)
      assertLinked(segment, await fstatAsync(segment.fd))
    }))
  }

  /** Deletes the segments whose entries are all at or below `index` (never the one appends go to). */
  dropThrough(index: number): void {
    while (this.#segments.length > 1) {
      const segment = this.#segments[0] as Segment
      if (segment.firstIndex + segment.offsets.length - 1 > index) break
      this.#segments.shift()
      this.#retire(segment)
    }
    const first = this.#segments[0] as Segment
    if (first.offsets.length > 0 && first.firstIndex <= index) {
      const drop = Math.min(index - first.firstIndex + 1, first.offsets.length)
      first.offsets.splice(0, drop)
      first.firstIndex += drop
    }
  }

  /**
   * Discards the whole log (a snapshot install): entries continue after
   * `afterIndex`, in a new segment. The caller saves afterIndex with a floor
   * epoch above every earlier one and moves to it with useEpoch(); until
   * that is durable, the old log is what a restart finds.
   */
  reset(afterIndex: number): void {
    const old = this.#segments
    this.#segments = [this.#activate(afterIndex + 1)]
    this.#lastIndex = afterIndex
    for (const segment of old) this.#retire(segment)
  }

  /**
   * Makes the log end at `index` on disk, for a simulated power cut
   * (power-loss.ts): the header of the record after it is zeroed and synced,
   * later segments deleted. Answers how many entries were dropped.
   */
  discardAfter(index: number): number {
    if (index >= this.#lastIndex) return 0
    const dropped = this.#lastIndex - index
    const segment = this.#segmentOf(index + 1)
    const offset = segment.offsets[index + 1 - segment.firstIndex] as number
    writeFully(segment.fd, Buffer.alloc(headerBytes), offset)
    fs.fdatasyncSync(segment.fd)
    this.#cut(index + 1)
    return dropped
  }

  async close(): Promise<void> {
    if (this.#isClosed) return
    this.#isClosed = true
    await Promise.all(this.#preparing)
    const ready = this.#spare?.ready
    this.#spare = null
    // A spare never used is left as it is; the next open finds it empty and deletes it.
    if (ready != null) fs.closeSync(ready.fd)
    for (const segment of this.#segments) fs.closeSync(segment.fd)
    this.#segments = []
  }

  /** Lays out the records of `entries` in segments and updates the log's bookkeeping; the bytes are not written yet. */
  #place(entries: readonly LogRecord[]): { writes: { segment: Segment; offset: number; bytes: Buffer }[]; views: Uint8Array[] } {
    assert(!this.#isClosed, 'storage: segment log used after close')
    assert(this.#epoch > 0, 'storage: segment log written before useEpoch()')
    const writes: { segment: Segment; offset: number; bytes: Buffer }[] = []
    const views: Uint8Array[] = []
    const first = entries[0]
    if (first === undefined) return { writes, views }
    assert(first.index <= this.#lastIndex + 1, `storage: segment write at ${first.index} past the end ${this.#lastIndex}`)
    if (first.index <= this.#lastIndex) this.#cut(first.index)
    let size = 0
    for (const entry of entries) size += headerBytes + entry.data.length
    const bytes = Buffer.allocUnsafe(size)
    let segment = this.#active()
    if (segment.capacity < this.#segmentBytes && segment.end > 0 && this.#spare?.ready != null) {
      // Appends to a segment that was not zero-filled sync slower: move to the spare once it is ready.
      segment = this.#activate(first.index)
      this.#segments.push(segment)
    }
    let start = 0
    let at = 0
    for (const entry of entries) {
      const recordBytes = headerBytes + entry.data.length
      if (segment.end + (at - start) + recordBytes > Math.max(segment.capacity, this.#segmentBytes) && (segment.end > 0 || at > start)) {
        if (at > start) writes.push({ segment, offset: segment.end, bytes: bytes.subarray(start, at) })
        segment.end += at - start
        this.#dirty.add(segment)
        segment = this.#activate(entry.index)
        this.#segments.push(segment)
        start = at
      }
      bytes.writeUInt32BE(entry.data.length, at + 4)
      bytes.writeUInt32BE(this.#epoch, at + 8)
      writeU64(bytes, entry.index, at + 12)
      writeU64(bytes, entry.term, at + 20)
      bytes.set(entry.data, at + headerBytes)
      bytes.writeUInt32BE(crc32(bytes.subarray(at + 4, at + recordBytes)), at)
      if (segment.offsets.length === 0) segment.firstIndex = entry.index
      segment.offsets.push(segment.end + (at - start))
      views.push(new Uint8Array(bytes.buffer, bytes.byteOffset + at + headerBytes, entry.data.length))
      at += recordBytes
    }
    writes.push({ segment, offset: segment.end, bytes: bytes.subarray(start, at) })
    segment.end += at - start
    this.#dirty.add(segment)
    this.#lastIndex = (entries.at(-1) as LogRecord).index
    this.#maybePrepareSpare(segment)
    return { writes, views }
  }

  /** Forgets the entries from `index` on; the segments after the one holding it are deleted. */
  #cut(index: number): void {
    const segment = this.#segmentOf(index)
    const position = index - segment.firstIndex
    segment.end = segment.offsets[position] as number
    segment.offsets.length = position
    while (this.#segments.at(-1) !== segment) this.#retire(this.#segments.pop() as Segment)
    this.#lastIndex = index - 1
  }

  #active(): Segment {
    return this.#segments.at(-1) as Segment
  }

  #segmentOf(index: number): Segment {
    assert(index <= this.#lastIndex, `storage: entry ${index} past the end ${this.#lastIndex}`)
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const segment = this.#segments[i] as Segment
      if (segment.offsets.length > 0 && segment.firstIndex <= index) {
        assert(index < segment.firstIndex + segment.offsets.length, `storage: entry ${index} is not in the log`)
        return segment
      }
    }
    throw new Error(`storage: entry ${index} is not in the log`)
  }

  /** A segment for entries from `firstIndex`: the zero-filled spare if it is ready, else a new empty file. */
  #activate(firstIndex: number): Segment {
    const spare = this.#spare
    this.#spare = null
    if (spare?.ready != null) {
      spare.ready.firstIndex = firstIndex
      return spare.ready
    }
    // A spare still on its way is older than the new segment: it must never be used after it.
    if (spare !== null) spare.isDiscarded = true
    return this.#createSegment(firstIndex)
  }

  #createSegment(firstIndex: number): Segment {
    const id = this.#nextId++
    const path = join(this.#dir, segmentFile(id))
    const fd = fs.openSync(path, 'wx+')
    syncDir(this.#dir)
    return { id, path, fd, capacity: 0, firstIndex, offsets: [], end: 0 }
  }

  /**
   * Starts zero-filling the next segment once the active one is a quarter
   * full, or, if the active one was not zero-filled (the first after an
   * open), once it holds a MiB: it is then used as soon as it is ready.
   */
  #maybePrepareSpare(active: Segment): void {
    if (this.#spare !== null || this.#isClosed) return
    const isDue = active.capacity >= this.#segmentBytes ? active.end * 4 >= active.capacity : active.end >= Math.min(MiB, this.#segmentBytes / 4)
    if (!isDue) return
    const id = this.#nextId++
    const path = join(this.#dir, segmentFile(id))
    const spare: Spare = { ready: null, isDiscarded: false }
    const work = zeroFilled(path, this.#segmentBytes, this.#dir).then(
      (fd) => {
        if (spare.isDiscarded || this.#isClosed) {
          fs.closeSync(fd)
          fs.rmSync(path, { force: true })
        } else {
          spare.ready = { id, path, fd, capacity: this.#segmentBytes, firstIndex: 0, offsets: [], end: 0 }
        }
      },
      // A spare that cannot be made is no loss: the next segment is then created empty.
      () => {
        if (this.#spare === spare) this.#spare = null
      },
    ).catch(() => undefined)
    this.#preparing.add(work)
    void work.finally(() => this.#preparing.delete(work))
    this.#spare = spare
  }

  /** Deletes a segment no longer part of the log. Unsynced: if it comes back, open finds it stale or compacted. */
  #retire(segment: Segment): void {
    this.#dirty.delete(segment)
    fs.closeSync(segment.fd)
    fs.rm(segment.path, { force: true }, () => undefined)
  }
}

function segmentFile(id: number): string {
  return `${String(id).padStart(16, '0')}.seg`
}

/**
 * Reads a segment's records into it, calling `each` for those after
 * expected - 1 (those before it are compacted; skipped, and only while
 * mayHoldCompacted and no entry was taken yet). The segment's offsets end at
 * the first record that does not continue the log. Answers where the log
 * stands after it, and whether the whole segment is a leftover of an older
 * epoch.
 */
function scanSegment(
  segment: Segment,
  expectedAtStart: number,
  epochAtStart: number,
  mayHoldCompacted: boolean,
  syncedThrough: number,
  each: (entry: ScannedEntry) => void,
): { readonly expected: number; readonly epoch: number; readonly isStale: boolean; readonly startsWithRecord: boolean } {
  let expected = expectedAtStart
  let epoch = epochAtStart
  let buffer = Buffer.alloc(0)
  let bufferStart = 0
  let offset = 0
  let previous = -1
  const size = segment.capacity
  /** The bytes [offset, offset + length) of the file, or null past its end. */
  const bytesAt = (length: number): Buffer | null => {
    if (offset + length > size) return null
    if (offset < bufferStart || offset + length > bufferStart + buffer.length) {
      buffer = Buffer.allocUnsafe(Math.min(Math.max(length, scanReadBytes), size - offset))
      readFully(segment.fd, buffer, offset)
      bufferStart = offset
    }
    return buffer.subarray(offset - bufferStart, offset - bufferStart + length)
  }
  let startsWithRecord = false
  for (;;) {
    const header = bytesAt(headerBytes)
    if (header === null) break
    const length = header.readUInt32BE(4)
    const recordEpoch = header.readUInt32BE(8)
    const index = readU64(header, 12)
    if (length > size - offset - headerBytes) break
    const record = bytesAt(headerBytes + length)
    if (record === null) break
    if (crc32(record.subarray(4)) !== record.readUInt32BE(0)) {
      // A torn write ends the log. At or below the synced-through mark it
      // cannot be one, and with the next record intact after it the damage
      // can be named. Past the mark an intact record after a bad one is no
      // proof of damage: the pages of a write whose sync never completed
      // may reach the disk in any order when the power goes.
      const at = previous === -1 ? expected : previous + 1
      if (at <= syncedThrough && isRecordAt(segment.fd, offset + headerBytes + length, size, at + 1, epoch)) {
        throw corrupt(`log entry ${at} in ${segment.path}`, 'checksum mismatch (the stored bytes are not the bytes written)')
      }
      break
    }
    if (offset === 0) startsWithRecord = true
    if (recordEpoch < epoch) {
      // A leftover of an older epoch: the whole segment when it starts with one.
      if (offset === 0) return { expected: expectedAtStart, epoch: epochAtStart, isStale: true, startsWithRecord: true }
      break
    }
    if (mayHoldCompacted && expected === expectedAtStart && index < expected && (previous === -1 || index === previous + 1)) {
      // Compacted: kept for the offsets' sake, dropped right after open.
    } else if (index !== expected) {
      break
    } else {
      each({ index, term: readU64(record, 20), data: record.subarray(headerBytes) })
      expected++
    }
    if (segment.offsets.length === 0) segment.firstIndex = index
    segment.offsets.push(offset)
    epoch = recordEpoch
    previous = index
    offset += headerBytes + length
  }
  segment.end = offset
  return { expected, epoch, isStale: false, startsWithRecord }
}

/** Whether a valid record of entry `index`, in `epoch` or a later one, starts at `offset`. */
function isRecordAt(fd: number, offset: number, size: number, index: number, epoch: number): boolean {
  if (offset + headerBytes > size) return false
  const header = Buffer.allocUnsafe(headerBytes)
  readFully(fd, header, offset)
  const length = header.readUInt32BE(4)
  if (length > size - offset - headerBytes || readU64(header, 12) !== index || header.readUInt32BE(8) < epoch) return false
  const record = Buffer.allocUnsafe(headerBytes + length)
  readFully(fd, record, offset)
  return crc32(record.subarray(4)) === record.readUInt32BE(0)
}

/** Creates `path` filled with `bytes` zeros, synced with its directory entry; answers its descriptor. */
async function zeroFilled(path: string, bytes: number, dir: string): Promise<number> {
  const fd = await openAsync(path, 'wx+')
  try {
    const zeros = Buffer.alloc(zeroChunkBytes)
    // A sync per chunk: the log's own syncs then never queue behind the flush of a whole segment of zeros.
    for (let at = 0; at < bytes; at += zeroChunkBytes) {
      await writeFullyAsync(fd, zeros.subarray(0, Math.min(zeroChunkBytes, bytes - at)), at)
      await fdatasyncAsync(fd)
    }
    const dirFd = await openAsync(dir, 'r')
    try {
      await fsyncAsync(dirFd)
    } finally {
      fs.close(dirFd, () => undefined)
    }
    return fd
  } catch (error) {
    fs.closeSync(fd)
    fs.rmSync(path, { force: true })
    throw error
  }
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

function readFully(fd: number, into: Buffer, position: number): void {
  let done = 0
  while (done < into.length) {
    const n = fs.readSync(fd, into, done, into.length - done, position + done)
    if (n === 0) throw corrupt(`log segment read at ${position + done}`, 'the file ends early')
    done += n
  }
}

function writeFully(fd: number, bytes: Buffer, position: number): void {
  let done = 0
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done)
}

async function writeFullyAsync(fd: number, bytes: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < bytes.length) done += (await writeAsync(fd, bytes, done, bytes.length - done, position + done)).bytesWritten
}
