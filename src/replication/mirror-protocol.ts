// The messages between the replica that owns the log (on the main thread)
// and the mirrors on serving threads. Entries travel as the bytes stored in
// the log, packed into one transferred buffer per batch; a mirror decodes and
// applies them exactly as a replay would.
import { HerdError, type ErrorCode } from '../errors.ts'
import type { LogRecord } from '../storage/index.ts'
import { CodecError, encodeProposal, type Proposal } from '../tree/index.ts'

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
 * Mirror -> replica: writes to propose, in order, as encodeProposal wrote
 * them with time 0 (the Replica stamps the time without decoding them),
 * packed into one transferred buffer. The writes of one turn of the mirror's
 * event loop travel together: a message costs more than the proposal it
 * carries, and cloning proposal objects cost more than encoding them.
 */
export interface SubmitMessage {
  readonly t: 'submit'
  readonly ids: readonly number[]
  readonly buffer: ArrayBuffer
  /** End offset in `buffer` of each proposal. */
  readonly ends: Uint32Array
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

/**
 * A write as the Replica takes it: encoded with time 0 (the leader stamps its
 * own). What the encoder refuses is the caller's bad input, refused here on
 * whichever thread took the request, before anything is proposed.
 */
export function encodeWrite(proposal: Omit<Proposal, 'timeMs'>): Uint8Array | HerdError {
  try {
    return encodeProposal({ ...proposal, timeMs: 0 })
  } catch (error) {
    if (error instanceof CodecError) return new HerdError('BadArguments', `the request cannot be logged: ${error.message}`)
    throw error
  }
}

export function packProposals(ids: readonly number[], proposals: readonly Uint8Array[]): SubmitMessage {
  const { buffer, ends } = pack(proposals)
  return { t: 'submit', ids, buffer, ends }
}

/** The proposals of a SubmitMessage, as views into its buffer. */
export function unpackProposals(message: SubmitMessage): Uint8Array[] {
  const out: Uint8Array[] = []
  let start = 0
  for (const end of message.ends) {
    out.push(new Uint8Array(message.buffer, start, end - start))
    start = end
  }
  return out
}

function pack(items: readonly Uint8Array[]): { buffer: ArrayBuffer; ends: Uint32Array } {
  let size = 0
  for (const item of items) size += item.byteLength
  const buffer = new ArrayBuffer(size)
  const bytes = new Uint8Array(buffer)
  const ends = new Uint32Array(items.length)
  let at = 0
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as Uint8Array
    bytes.set(item, at)
    at += item.byteLength
    ends[i] = at
  }
  return { buffer, ends }
}

export function packEntries(records: readonly LogRecord[], tags: ReadonlyArray<readonly [number, number]>, keepResults: boolean): EntriesMessage {
  const { buffer, ends } = pack(records.map((record) => record.data))
  return { t: 'entries', firstZxid: (records[0] as LogRecord).index, buffer, ends, tags, keepResults }
}
