// How the rocks store lays its records out in RocksDB's one keyspace.
//
// Keys start with one byte naming the kind of record; numbers after it are
// big-endian so that RocksDB's bytewise key order is log order:
//
//   'e'                       log epoch: the highest epoch the segment log may have used
//   'f'                       log start: index and term of the entry just before the log,
//                             and the floor epoch of the segment log (segment-log.ts)
//   'h'                       hard state: term, vote, commit
//   'l' u64 index             log entry: term, data (stores before the segment log; moved
//                             into it on open)
//   'S' u64 index             snapshot meta: term, chunk count, extra (written last)
//   's' u64 index u32 chunk   snapshot chunk
//
// Every value is framed as [crc32 u32][payload], the checksum taken over the
// key and then the payload. RocksDB checks its own blocks, but only we can
// tell that the bytes under a key are the bytes we put there (a flipped bit
// in a value, a value under the wrong key); a mismatch is reported as
// DataInconsistency instead of handing garbage to Raft. The crc32 function is
// Node's (zlib, native): the 100 MiB of a large snapshot are checksummed in
// milliseconds, where a table-driven one in JS would take a good part of a
// second on the event loop.

import { crc32 } from 'node:zlib'
import { assert } from '../assert.ts'
import { HerdError } from '../errors.ts'
import type { HardState } from './log-store.ts'

const prefixSyncedThrough = 0x64 // 'd'
const prefixLogEpoch = 0x65 // 'e'
const prefixLogStart = 0x66 // 'f'
const prefixHardState = 0x68 // 'h'
const prefixEntry = 0x6c // 'l'
const prefixSnapshotMeta = 0x53 // 'S'
const prefixSnapshotChunk = 0x73 // 's'

const u32Max = 0xffff_ffff
const twoTo32 = 0x1_0000_0000
const crcBytes = 4
const entryHeaderBytes = crcBytes + 8
const snapshotMetaHeaderBytes = crcBytes + 8 + 4

export const syncedThroughKey: Buffer = Buffer.from([prefixSyncedThrough])
export const logEpochKey: Buffer = Buffer.from([prefixLogEpoch])
export const logStartKey: Buffer = Buffer.from([prefixLogStart])
export const hardStateKey: Buffer = Buffer.from([prefixHardState])

/** The first key after every key that starts with `prefix`. */
function prefixEnd(prefix: number): Buffer {
  return Buffer.from([prefix + 1])
}

export const entryKeysEnd: Buffer = prefixEnd(prefixEntry)
export const snapshotMetaKeysEnd: Buffer = prefixEnd(prefixSnapshotMeta)
export const snapshotChunkKeysEnd: Buffer = prefixEnd(prefixSnapshotChunk)

export function writeU64(buffer: Buffer, value: number, offset: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `storage: not a u64 that fits a JS number: ${value}`)
  buffer.writeUInt32BE(Math.floor(value / twoTo32), offset)
  buffer.writeUInt32BE(value >>> 0, offset + 4)
}

export function readU64(buffer: Uint8Array, offset: number): number {
  const view = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  return view.readUInt32BE(offset) * twoTo32 + view.readUInt32BE(offset + 4)
}

function readU32(buffer: Uint8Array, offset: number): number {
  return Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength).readUInt32BE(offset)
}

export function entryKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(9)
  key[0] = prefixEntry
  writeU64(key, index, 1)
  return key
}

export function snapshotMetaKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(9)
  key[0] = prefixSnapshotMeta
  writeU64(key, index, 1)
  return key
}

export function snapshotChunkKey(index: number, chunk: number): Buffer {
  assert(Number.isInteger(chunk) && chunk >= 0 && chunk <= u32Max, `storage: bad chunk number ${chunk}`)
  const key = Buffer.allocUnsafe(13)
  key[0] = prefixSnapshotChunk
  writeU64(key, index, 1)
  key.writeUInt32BE(chunk, 9)
  return key
}

/** The index in an entry or snapshot meta key ('l' or 'S' + u64). */
export function indexOfKey(key: Uint8Array): number {
  assert(key.length === 9, 'storage: not an index key')
  return readU64(key, 1)
}

/** The first bytes of every chunk key of the snapshot at `index`. */
export function snapshotChunksStart(index: number): Buffer {
  return snapshotChunkKey(index, 0)
}

// --- framing -----------------------------------------------------------

export function corrupt(what: string, detail: string): HerdError {
  return new HerdError('DataInconsistency', `storage is corrupt: ${what}: ${detail}`, { what })
}

function checksum(key: Uint8Array, payload: Uint8Array): number {
  return crc32(payload, crc32(key))
}

/** A value buffer with room for the checksum; call seal() once the payload is written. */
function frame(payloadBytes: number): Buffer {
  return Buffer.allocUnsafe(crcBytes + payloadBytes)
}

function seal(key: Uint8Array, value: Buffer): Buffer {
  value.writeUInt32BE(checksum(key, value.subarray(crcBytes)), 0)
  return value
}

/** The payload of a framed value, after checking its checksum. */
function unseal(key: Uint8Array, value: Uint8Array, what: string, payloadBytesMin: number): Uint8Array {
  if (value.length < crcBytes + payloadBytesMin) {
    throw corrupt(what, `value is ${value.length} bytes, too short to be one`)
  }
  const payload = value.subarray(crcBytes)
  if (readU32(value, 0) !== checksum(key, payload)) {
    throw corrupt(what, 'checksum mismatch (the stored bytes are not the bytes written)')
  }
  return payload
}

// --- records -----------------------------------------------------------

export interface LogStart {
  /** The index of the entry just before the log: firstIndex - 1. */
  readonly index: number
  /** The term of that entry (0 at index 0). */
  readonly term: number
  /** Segment log records of an older epoch were discarded with the log (a snapshot install). */
  readonly minEpoch: number
}

export function encodeLogStart(start: LogStart): Buffer {
  const value = frame(20)
  writeU64(value, start.index, crcBytes)
  writeU64(value, start.term, crcBytes + 8)
  value.writeUInt32BE(start.minEpoch, crcBytes + 16)
  return seal(logStartKey, value)
}

export function decodeLogStart(value: Uint8Array): LogStart {
  const payload = unseal(logStartKey, value, 'log start', 16)
  // Stores from before the segment log have no floor epoch.
  return { index: readU64(payload, 0), term: readU64(payload, 8), minEpoch: payload.length >= 20 ? readU32(payload, 16) : 0 }
}

export function encodeLogEpoch(epoch: number): Buffer {
  const value = frame(4)
  value.writeUInt32BE(epoch, crcBytes)
  return seal(logEpochKey, value)
}

export function decodeLogEpoch(value: Uint8Array): number {
  return readU32(unseal(logEpochKey, value, 'log epoch', 4), 0)
}

/** The index through which the log's entries were synced and not cut off since (segment-log.ts, syncedThrough). */
export function encodeSyncedThrough(index: number): Buffer {
  const value = frame(8)
  writeU64(value, index, crcBytes)
  return seal(syncedThroughKey, value)
}

export function decodeSyncedThrough(value: Uint8Array): number {
  return readU64(unseal(syncedThroughKey, value, 'synced-through mark', 8), 0)
}

export function encodeHardState(hardState: HardState): Buffer {
  const value = frame(24)
  writeU64(value, hardState.term, crcBytes)
  writeU64(value, hardState.vote, crcBytes + 8)
  writeU64(value, hardState.commit, crcBytes + 16)
  return seal(hardStateKey, value)
}

export function decodeHardState(value: Uint8Array): HardState {
  const payload = unseal(hardStateKey, value, 'hard state', 24)
  return Object.freeze({ term: readU64(payload, 0), vote: readU64(payload, 8), commit: readU64(payload, 16) })
}

export function encodeEntry(key: Uint8Array, term: number, data: Uint8Array): Buffer {
  const value = frame(8 + data.length)
  writeU64(value, term, crcBytes)
  value.set(data, entryHeaderBytes)
  return seal(key, value)
}

/** The data inside an entry value made by encodeEntry (a plain Uint8Array view, no copy, no check). */
export function entryData(value: Buffer): Uint8Array {
  return new Uint8Array(value.buffer, value.byteOffset + entryHeaderBytes, value.length - entryHeaderBytes)
}

export interface DecodedEntry {
  readonly term: number
  /** A view into the value (plain Uint8Array, no copy). */
  readonly data: Uint8Array
}

export function decodeEntry(key: Uint8Array, value: Uint8Array, index: number): DecodedEntry {
  const payload = unseal(key, value, `log entry ${index}`, 8)
  return {
    term: readU64(payload, 0),
    data: new Uint8Array(value.buffer, value.byteOffset + entryHeaderBytes, value.length - entryHeaderBytes),
  }
}

export interface StoredSnapshotMeta {
  readonly term: number
  readonly chunkCount: number
  readonly extra: Uint8Array
}

export function encodeSnapshotMeta(index: number, meta: StoredSnapshotMeta): Buffer {
  const key = snapshotMetaKey(index)
  const value = frame(12 + meta.extra.length)
  writeU64(value, meta.term, crcBytes)
  value.writeUInt32BE(meta.chunkCount, crcBytes + 8)
  value.set(meta.extra, snapshotMetaHeaderBytes)
  return seal(key, value)
}

export function decodeSnapshotMeta(key: Uint8Array, value: Uint8Array, index: number): StoredSnapshotMeta {
  const payload = unseal(key, value, `snapshot ${index} meta`, 12)
  return {
    term: readU64(payload, 0),
    chunkCount: readU32(payload, 8),
    extra: new Uint8Array(payload.subarray(12)),
  }
}

export function encodeSnapshotChunk(key: Uint8Array, chunk: Uint8Array): Buffer {
  const value = frame(chunk.length)
  value.set(chunk, crcBytes)
  return seal(key, value)
}

export function decodeSnapshotChunk(key: Uint8Array, value: Uint8Array, what: string): Uint8Array {
  unseal(key, value, what, 0)
  return new Uint8Array(value.buffer, value.byteOffset + crcBytes, value.length - crcBytes)
}
