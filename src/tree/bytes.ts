// A small binary writer and reader for the log codec and snapshots.
//
// Integers are variable length: unsigned ones in 7-bit groups (LEB128), at
// most 8 bytes, which covers every safe integer (2^53 - 1); signed ones put
// the sign in bit 6 of the first byte, so a safe integer of either sign
// round-trips exactly (zigzag would overflow 2^53). Strings are UTF-8 with a
// byte-length prefix; byte arrays likewise.
//
// The reader takes bytes that may come from a peer over the network: every
// read is bounds-checked, a declared length is checked against the bytes
// that remain before anything is allocated, and every malformed input ends
// in a CodecError, never in a loop, a huge allocation or another exception.

/** Malformed, truncated or unencodable bytes. Expected at the network edge; callers switch on it. */
export class CodecError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CodecError'
  }
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()
const varuintBytesMax = 8

export class ByteWriter {
  private buffer: Uint8Array
  private view: DataView
  private length = 0

  constructor(initialBytes = 256) {
    this.buffer = new Uint8Array(Math.max(16, initialBytes))
    this.view = new DataView(this.buffer.buffer)
  }

  get byteLength(): number {
    return this.length
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }

  /** The bytes written so far, not copied: valid only until the next write or reset. */
  finishView(): Uint8Array {
    return this.buffer.subarray(0, this.length)
  }

  reset(): void {
    this.length = 0
  }

  u8(value: number): void {
    this.ensure(1)
    this.buffer[this.length++] = value & 0xff
  }

  bool(value: boolean): void {
    this.u8(value ? 1 : 0)
  }

  /** An unsigned safe integer. */
  varuint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new CodecError(`not an unsigned safe integer: ${value}`)
    this.ensure(varuintBytesMax)
    const buffer = this.buffer
    let at = this.length
    while (value >= 0x80) {
      buffer[at++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    buffer[at++] = value
    this.length = at
  }

  /** A safe integer of either sign. */
  varint(value: number): void {
    if (!Number.isSafeInteger(value)) throw new CodecError(`not a safe integer: ${value}`)
    this.ensure(varuintBytesMax)
    const buffer = this.buffer
    let at = this.length
    const sign = value < 0 ? 0x40 : 0
    let magnitude = Math.abs(value)
    const low = magnitude % 0x40
    magnitude = Math.floor(magnitude / 0x40)
    buffer[at++] = low | sign | (magnitude > 0 ? 0x80 : 0)
    while (magnitude > 0) {
      const group = magnitude % 0x80
      magnitude = Math.floor(magnitude / 0x80)
      buffer[at++] = group | (magnitude > 0 ? 0x80 : 0)
    }
    this.length = at
  }

  f64(value: number): void {
    this.ensure(8)
    this.view.setFloat64(this.length, value, true)
    this.length += 8
  }

  /** Length-prefixed raw bytes. */
  bytes(value: Uint8Array): void {
    this.varuint(value.length)
    this.ensure(value.length)
    this.buffer.set(value, this.length)
    this.length += value.length
  }

  /**
   * Length-prefixed UTF-8. A string with a lone surrogate has no UTF-8 form
   * and would not round-trip, so it is refused rather than silently replaced.
   */
  string(value: string): void {
    const count = value.length
    if (count < 0x80) {
      // Most strings here are short ASCII paths: write them in place.
      this.ensure(1 + count)
      const buffer = this.buffer
      const start = this.length
      let at = start + 1
      let i = 0
      for (; i < count; i++) {
        const code = value.charCodeAt(i)
        if (code >= 0x80) break
        buffer[at++] = code
      }
      if (i === count) {
        buffer[start] = count
        this.length = at
        return
      }
    }
    if (!value.isWellFormed()) throw new CodecError('string has a lone surrogate and no UTF-8 form')
    this.bytes(utf8Encoder.encode(value))
  }

  private ensure(extra: number): void {
    const needed = this.length + extra
    if (needed <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < needed) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buffer.subarray(0, this.length))
    this.buffer = next
    this.view = new DataView(next.buffer)
  }
}

export class ByteReader {
  private readonly buffer: Uint8Array
  private readonly view: DataView
  private at = 0

  constructor(buffer: Uint8Array) {
    this.buffer = buffer
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  }

  get remaining(): number {
    return this.buffer.length - this.at
  }

  get isAtEnd(): boolean {
    return this.at === this.buffer.length
  }

  /** Fails unless every byte was consumed: trailing garbage is corruption too. */
  expectEnd(): void {
    if (this.at !== this.buffer.length) throw new CodecError(`${this.buffer.length - this.at} unexpected trailing bytes`)
  }

  u8(): number {
    if (this.at >= this.buffer.length) throw new CodecError('truncated: expected a byte')
    return this.buffer[this.at++] as number
  }

  bool(): boolean {
    const value = this.u8()
    if (value > 1) throw new CodecError(`bad boolean byte ${value}`)
    return value === 1
  }

  varuint(): number {
    const buffer = this.buffer
    let result = 0
    let scale = 1
    for (let i = 0; i < varuintBytesMax; i++) {
      if (this.at >= buffer.length) throw new CodecError('truncated varint')
      const byte = buffer[this.at++] as number
      result += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw new CodecError('varint is not minimally encoded')
        if (result > Number.MAX_SAFE_INTEGER) throw new CodecError('varint exceeds 2^53 - 1')
        return result
      }
      scale *= 0x80
    }
    throw new CodecError('varint longer than 8 bytes')
  }

  varint(): number {
    const buffer = this.buffer
    if (this.at >= buffer.length) throw new CodecError('truncated varint')
    const first = buffer[this.at++] as number
    const isNegative = (first & 0x40) !== 0
    let magnitude = first & 0x3f
    let more = (first & 0x80) !== 0
    let scale = 0x40
    for (let i = 1; more; i++) {
      if (i >= varuintBytesMax) throw new CodecError('varint longer than 8 bytes')
      if (this.at >= buffer.length) throw new CodecError('truncated varint')
      const byte = buffer[this.at++] as number
      magnitude += (byte & 0x7f) * scale
      more = (byte & 0x80) !== 0
      if (!more && byte === 0) throw new CodecError('varint is not minimally encoded')
      scale *= 0x80
    }
    if (magnitude > Number.MAX_SAFE_INTEGER) throw new CodecError('varint exceeds 2^53 - 1')
    if (isNegative && magnitude === 0) throw new CodecError('negative zero varint')
    return isNegative ? -magnitude : magnitude
  }

  f64(): number {
    if (this.remaining < 8) throw new CodecError('truncated float64')
    const value = this.view.getFloat64(this.at, true)
    this.at += 8
    return value
  }

  /** A declared count of items each at least `bytesEach` long, checked against what remains. */
  count(bytesEach = 1): number {
    const value = this.varuint()
    if (value * bytesEach > this.remaining) throw new CodecError(`count ${value} exceeds the remaining ${this.remaining} bytes`)
    return value
  }

  /** Length-prefixed bytes, copied so the result does not pin the input buffer. */
  bytes(): Uint8Array {
    const length = this.length()
    const value = this.buffer.slice(this.at, this.at + length)
    this.at += length
    return value
  }

  /** Passes over length-prefixed bytes (or a string) without copying them. */
  skipBytes(): void {
    const length = this.length()
    this.at += length
  }

  string(): string {
    const length = this.length()
    const start = this.at
    this.at += length
    // TextDecoder beats a char-by-char loop even for short ASCII, and gives a
    // flat string: a concatenated one is flattened again by its first Map lookup.
    try {
      return utf8Decoder.decode(this.buffer.subarray(start, start + length))
    } catch {
      throw new CodecError('invalid UTF-8 in string')
    }
  }

  private length(): number {
    const length = this.varuint()
    if (length > this.remaining) throw new CodecError(`length ${length} exceeds the remaining ${this.remaining} bytes`)
    return length
  }
}
