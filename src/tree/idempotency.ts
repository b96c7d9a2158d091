// The Idempotency-Key table: the outcome of each claimed entry, kept until
// its claim expires or the table is full.
//
// Keys are found through a Map and aged through a FIFO of slots (an array
// with a moving head), oldest first: pruning and eviction pop from the head
// and cost only the keys they drop. A Map alone would do in theory, but V8
// leaves deleted entries at the front of a Map until it rehashes, so using
// it as a queue makes every "oldest key" lookup skip the dead ones.
import type { Outcome } from './types.ts'

export interface IdempotencyRecord {
  readonly key: string
  readonly fingerprint: string
  readonly outcome: Outcome
  readonly expiresAtMs: number
  /** The zxid of the entry that produced the outcome. */
  readonly zxid: number
}

/** A place in the FIFO; dead once its key was stored again (the newer slot holds it). */
interface Slot {
  readonly record: IdempotencyRecord
  isLive: boolean
}

const compactHeadMin = 1024

export class IdempotencyTable {
  private readonly byKey = new Map<string, Slot>()
  private queue: Slot[] = []
  private head = 0
  private readonly keysMax: number

  constructor(keysMax: number) {
    this.keysMax = keysMax
  }

  get size(): number {
    return this.byKey.size
  }

  /**
   * Drops expired keys from the front. Claims usually expire in insertion
   * order (one window past the leader's clock); one that does not is left
   * for later and is ignored by lookup meanwhile.
   */
  prune(nowMs: number): void {
    while (this.head < this.queue.length) {
      const slot = this.queue[this.head] as Slot
      if (slot.isLive && slot.record.expiresAtMs > nowMs) break
      this.dropHead()
    }
    this.compact()
  }

  /** The live record for a key; an expired one counts as absent. */
  lookup(key: string, nowMs: number): IdempotencyRecord | undefined {
    const slot = this.byKey.get(key)
    return slot !== undefined && slot.record.expiresAtMs > nowMs ? slot.record : undefined
  }

  /** Remembers an outcome as the newest key, forgetting the oldest past keysMax. */
  store(record: IdempotencyRecord): void {
    const previous = this.byKey.get(record.key)
    if (previous !== undefined) previous.isLive = false
    const slot: Slot = { record, isLive: true }
    this.byKey.set(record.key, slot)
    this.queue.push(slot)
    while (this.byKey.size > this.keysMax) this.dropHead()
    this.compact()
  }

  /** Oldest first: the order a snapshot must keep. */
  *values(): Generator<IdempotencyRecord> {
    for (let i = this.head; i < this.queue.length; i++) {
      const slot = this.queue[i] as Slot
      if (slot.isLive) yield slot.record
    }
  }

  clear(): void {
    this.byKey.clear()
    this.queue = []
    this.head = 0
  }

  private dropHead(): void {
    const slot = this.queue[this.head] as Slot
    this.queue[this.head] = undefined as unknown as Slot // let the record be collected
    this.head++
    if (slot.isLive) this.byKey.delete(slot.record.key)
  }

  /**
   * Drops the consumed front of the queue once it is most of the array, and
   * the dead slots once they outnumber the live ones (a key re-stored
   * behind a long-lived head): amortized O(1), memory O(keysMax).
   */
  private compact(): void {
    const pending = this.queue.length - this.head
    if (pending > 2 * this.byKey.size + compactHeadMin) {
      this.queue = this.queue.slice(this.head).filter((slot) => slot.isLive)
      this.head = 0
    } else if (this.head >= compactHeadMin && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }
}
