// The simulator's only source of randomness: one seed decides the world.
// sfc32 (Chris Doty-Humphrey's small fast counter), seeded through splitmix32
// so that nearby seeds give unrelated streams.

/** A stream of 32-bit values from one seed (splitmix32); also the fault checker's Zobrist keys. */
export function splitmix32(state: number): () => number {
  let s = state >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

export class Prng {
  #a: number
  #b: number
  #c: number
  #d: number

  constructor(seed: number) {
    const mix = splitmix32(seed)
    this.#a = mix()
    this.#b = mix()
    this.#c = mix()
    this.#d = 1
    for (let i = 0; i < 12; i++) this.#next32()
  }

  #next32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0
    this.#d = (this.#d + 1) >>> 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) >>> 0
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0
    this.#c = (this.#c + t) >>> 0
    return t
  }

  /** In [0, 1). */
  next(): number {
    return this.#next32() / 4294967296
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  chance(probability: number): boolean {
    return this.next() < probability
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('prng: pick from nothing')
    return items[this.int(items.length)] as T
  }

  shuffle<T>(items: readonly T[]): T[] {
    const copy = items.slice()
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      ;[copy[i], copy[j]] = [copy[j] as T, copy[i] as T]
    }
    return copy
  }

  /** An independent stream, for one consumer (a replica's election timer). */
  fork(): Prng {
    return new Prng(this.#next32())
  }
}
