// Reading log segment files the way a test that damages them needs to
// (segment-log.ts has the record layout: u32 crc32 of the rest, u32 data
// length, u32 epoch, u64 index, u64 term, data).
import fs from 'node:fs'
import path from 'node:path'
import { crc32 } from 'node:zlib'

const headerBytes = 28

/** Writes `bytes` over a file at `offset`, synced: damage done to a stopped replica's data. */
export function overwrite(file: string, offset: number, bytes: Uint8Array): void {
  const fd = fs.openSync(file, 'r+')
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** The byte offset of each record in a segment file, up to the first zero header. */
export function recordOffsets(file: string): number[] {
  const bytes = fs.readFileSync(file)
  const offsets: number[] = []
  for (let at = 0; at + headerBytes <= bytes.length && bytes.readUInt32BE(at) !== 0; at += headerBytes + bytes.readUInt32BE(at + 4)) offsets.push(at)
  return offsets
}

export interface LiveRecord {
  readonly file: string
  readonly offset: number
  /** Header and data. */
  readonly bytes: number
  readonly index: number
}

/**
 * The records of the log in a segment directory (`dir`/*.seg), as open
 * reads them: in file order, each checking out and continuing the one
 * before (next index, no older epoch); a file that does not continue the
 * chain holds none of them, and the chain ends at the first record that
 * does not continue it. Leftovers of a cut-off suffix are therefore left out.
 */
export function liveRecords(dir: string): LiveRecord[] {
  const files = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.seg'))
    .sort()
    .map((name) => path.join(dir, name))
  const live: LiveRecord[] = []
  let previous: { index: number; epoch: number } | null = null
  for (const file of files) {
    const bytes = fs.readFileSync(file)
    for (let at = 0; at + headerBytes <= bytes.length; ) {
      const length = bytes.readUInt32BE(at + 4)
      if (at + headerBytes + length > bytes.length) break
      const epoch = bytes.readUInt32BE(at + 8)
      const index = Number(bytes.readBigUInt64BE(at + 12))
      const isValid = crc32(bytes.subarray(at + 4, at + headerBytes + length)) === bytes.readUInt32BE(at)
      const continues: boolean = previous === null || (index === previous.index + 1 && epoch >= previous.epoch)
      if (!isValid || !continues) break
      live.push({ file, offset: at, bytes: headerBytes + length, index })
      previous = { index, epoch }
      at += headerBytes + length
    }
  }
  return live
}
