// How many watches are held, in total and per client, against the limits.
// One replica thread counts in a Map; serving threads share one count
// through memory (SharedStreamCounts), so the limits hold for the process
// whichever thread a client's connections land on.

export type Refusal = 'total' | 'client' | null

export interface StreamCounts {
  readonly total: number
  /** Takes a place for one more watch of this client; says which limit refused it, or null. */
  acquire(clientKey: string): Refusal
  release(clientKey: string): void
}

export class LocalStreamCounts implements StreamCounts {
  readonly #totalMax: number
  readonly #perClientMax: number
  readonly #perClient = new Map<string, number>()
  #total = 0

  constructor(totalMax: number, perClientMax: number) {
    this.#totalMax = totalMax
    this.#perClientMax = perClientMax
  }

  get total(): number {
    return this.#total
  }

  acquire(clientKey: string): Refusal {
    if (this.#total >= this.#totalMax) return 'total'
    const held = this.#perClient.get(clientKey) ?? 0
    if (held >= this.#perClientMax) return 'client'
    this.#total++
    this.#perClient.set(clientKey, held + 1)
    return null
  }

  release(clientKey: string): void {
    this.#total--
    const held = (this.#perClient.get(clientKey) ?? 1) - 1
    if (held === 0) this.#perClient.delete(clientKey)
    else this.#perClient.set(clientKey, held)
  }
}

/** Slots clients are hashed into: two clients share a count only when they collide, which is rare at this size. */
export const sharedClientSlots = 65_536

/**
 * Counts in shared memory (Atomics), for several threads. The buffer holds
 * the total and one count per client slot; make it with
 * SharedStreamCounts.buffer() and hand the same one to every thread.
 */
export class SharedStreamCounts implements StreamCounts {
  readonly #counts: Int32Array
  readonly #totalMax: number
  readonly #perClientMax: number

  static buffer(): SharedArrayBuffer {
    return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * (1 + sharedClientSlots))
  }

  constructor(buffer: SharedArrayBuffer, totalMax: number, perClientMax: number) {
    this.#counts = new Int32Array(buffer)
    this.#totalMax = totalMax
    this.#perClientMax = perClientMax
  }

  get total(): number {
    return Atomics.load(this.#counts, 0)
  }

  acquire(clientKey: string): Refusal {
    if (Atomics.add(this.#counts, 0, 1) >= this.#totalMax) {
      Atomics.sub(this.#counts, 0, 1)
      return 'total'
    }
    const slot = 1 + slotOf(clientKey)
    if (Atomics.add(this.#counts, slot, 1) >= this.#perClientMax) {
      Atomics.sub(this.#counts, slot, 1)
      Atomics.sub(this.#counts, 0, 1)
      return 'client'
    }
    return null
  }

  release(clientKey: string): void {
    Atomics.sub(this.#counts, 1 + slotOf(clientKey), 1)
    Atomics.sub(this.#counts, 0, 1)
  }
}

/** FNV-1a over the key's UTF-16 units, into [0, sharedClientSlots). */
function slotOf(key: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % sharedClientSlots
}
