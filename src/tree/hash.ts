// The 32-bit hash behind the tree digest: MurmurHash3 (x86, 32-bit) rounds,
// written out here so that every replica computes exactly the same numbers
// with no dependency. Two lanes with different seeds make a 64-bit digest;
// each lane is a full, independent hash of the same input.

const c1 = 0xcc9e2d51
const c2 = 0x1b873593

/** Seeds of the two digest lanes. */
export const laneSeedA = 0x2f0b6c1d
export const laneSeedB = 0x8e3a91f7 | 0

/** One MurmurHash3 round: folds the 32-bit block `k` into the state `h`. */
export function mix32(h: number, k: number): number {
  k = Math.imul(k, c1)
  k = (k << 15) | (k >>> 17)
  k = Math.imul(k, c2)
  h ^= k
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

/** MurmurHash3's finalizer (fmix32) over the state and the input length; unsigned result. */
export function finish32(h: number, length: number): number {
  h ^= length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Folds a number that may exceed 32 bits (zxids, milliseconds) as two
 * blocks: the low 32 bits and the high part. Exact for every safe integer.
 */
export function mixNumber(h: number, value: number): number {
  h = mix32(h, value >>> 0)
  return mix32(h, Math.floor(value / 4294967296) | 0)
}

/** Hash of a string's UTF-16 code units, two per block: no encoding step, no allocation. */
export function hashString(text: string, seed: number): number {
  let h = seed
  const length = text.length
  const even = length & ~1
  for (let i = 0; i < even; i += 2) {
    h = mix32(h, text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16))
  }
  if (even !== length) h = mix32(h, text.charCodeAt(even))
  return finish32(h, length)
}

/** Standard MurmurHash3 x86_32 of a byte array. */
export function hashBytes(bytes: Uint8Array, seed: number): number {
  let h = seed
  const length = bytes.length
  const blocks = length & ~3
  for (let i = 0; i < blocks; i += 4) {
    const k = (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24)
    h = mix32(h, k)
  }
  const tail = length - blocks
  if (tail > 0) {
    let k = 0
    if (tail === 3) k ^= (bytes[blocks + 2] as number) << 16
    if (tail >= 2) k ^= (bytes[blocks + 1] as number) << 8
    k ^= bytes[blocks] as number
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, c2)
    h ^= k
  }
  return finish32(h, length)
}
