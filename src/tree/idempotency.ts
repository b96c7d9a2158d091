// The Idempotency-Key table: the outcome of each claimed entry, kept until
// its claim expires or the table is full. A Map iterates in insertion
// order, so the oldest keys are at the front: pruning and eviction touch
// only the keys they drop.
import type { Outcome } from './types.ts'

export interface IdempotencyRecord {
  readonly key: string
  readonly fingerprint: string
  readonly outcome: Outcome
  readonly expiresAtMs: number
}

export class IdempotencyTable {
  private readonly records = new Map<string, IdempotencyRecord>()
  private readonly keysMax: number

  constructor(keysMax: number) {
    this.keysMax = keysMax
  }

  get size(): number {
    return this.records.size
  }

  /**
   * Drops expired keys from the front. Claims usually expire in insertion
   * order (one window past the leader's clock); one that does not is left
   * for later and is ignored by lookup meanwhile.
   */
  prune(nowMs: number): void {
    for (const record of this.records.values()) {
      if (record.expiresAtMs > nowMs) return
      this.records.delete(record.key)
    }
  }

  /** The live record for a key; an expired one counts as absent. */
  lookup(key: string, nowMs: number): IdempotencyRecord | undefined {
    const record = this.records.get(key)
    return record !== undefined && record.expiresAtMs > nowMs ? record : undefined
  }

  /** Remembers an outcome as the newest key, forgetting the oldest past keysMax. */
  store(record: IdempotencyRecord): void {
    // Re-inserting moves the key to the back, where its new expiry belongs.
    this.records.delete(record.key)
    this.records.set(record.key, record)
    if (this.records.size <= this.keysMax) return
    for (const key of this.records.keys()) {
      this.records.delete(key)
      if (this.records.size <= this.keysMax) return
    }
  }

  /** Oldest first: the order a snapshot must keep. */
  values(): IterableIterator<IdempotencyRecord> {
    return this.records.values()
  }

  clear(): void {
    this.records.clear()
  }
}
