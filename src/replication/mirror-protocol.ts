// The messages between the replica that owns the log (on the main thread)
// and the mirrors on serving threads. Entries travel as the bytes stored in
// the log, packed into one transferred buffer per batch; a mirror decodes and
// applies them exactly as a replay would.
import type { ErrorCode } from '../errors.ts'
import type { LogRecord } from '../storage/index.ts'
import type { Proposal } from '../tree/index.ts'

/** Replica -> mirror: committed entries, in zxid order, from firstZxid on. */
export interface EntriesMessage {
  readonly t: 'entries'
  readonly firstZxid: number
  readonly buffer: ArrayBuffer
  /** End offset in `buffer` of each entry. */
  readonly ends: Uint32Array
  /** Entries this mirror proposed: [index in this batch, the mirror's request id]. */
  readonly tags: ReadonlyArray<readonly [number, number]>
  /**
   * Whether a write of this mirror that the Replica forwarded to a leader was
   * still unanswered when the batch left: only then may a DoneMessage ask
   * for one of these entries' results, so only then does the mirror keep them.
   */
  readonly keepResults: boolean
}

/**
 * Mirror -> replica: writes to propose, in order. The writes of one turn of
 * the mirror's event loop travel together: a message costs more than the
 * proposal it carries.
 */
export interface SubmitMessage {
  readonly t: 'submit'
  readonly ids: readonly number[]
  readonly proposals: ReadonlyArray<Omit<Proposal, 'timeMs'>>
}

/** Replica -> mirror: a proposal (or call) that failed before or instead of being applied. */
export interface FailedMessage {
  readonly t: 'failed'
  readonly id: number
  readonly code: ErrorCode
  readonly detail: string
}

/**
 * Replica -> mirror: a write the Replica forwarded to the leader was applied
 * at `zxid` (sent after the entries that carry it): answer it from the
 * mirror's own apply.
 */
export interface DoneMessage {
  readonly t: 'done'
  readonly id: number
  readonly zxid: number
}

export function packEntries(records: readonly LogRecord[], tags: ReadonlyArray<readonly [number, number]>, keepResults: boolean): EntriesMessage {
  let size = 0
  for (const record of records) size += record.data.byteLength
  const buffer = new ArrayBuffer(size)
  const bytes = new Uint8Array(buffer)
  const ends = new Uint32Array(records.length)
  let at = 0
  for (let i = 0; i < records.length; i++) {
    const data = (records[i] as LogRecord).data
    bytes.set(data, at)
    at += data.byteLength
    ends[i] = at
  }
  return { t: 'entries', firstZxid: (records[0] as LogRecord).index, buffer, ends, tags, keepResults }
}
