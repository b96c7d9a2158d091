import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ByteReader, ByteWriter, CodecError } from '../../../src/tree/index.ts'

function roundTrip<T>(write: (w: ByteWriter, value: T) => void, read: (r: ByteReader) => T, value: T): T {
  const w = new ByteWriter(1)
  write(w, value)
  const r = new ByteReader(w.finish())
  const back = read(r)
  r.expectEnd()
  return back
}

describe('ByteWriter / ByteReader', () => {
  it.each([0, 1, 63, 64, 127, 128, 255, 16383, 16384, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 49, Number.MAX_SAFE_INTEGER])('varuint %d round-trips', (n) => {
    expect(roundTrip((w, v) => w.varuint(v), (r) => r.varuint(), n)).toBe(n)
  })

  it.each([0, 1, -1, 63, -63, 64, -64, 2 ** 31, -(2 ** 31), 2 ** 32, -(2 ** 32 + 7), Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER])(
    'varint %d round-trips exactly',
    (n) => {
      expect(roundTrip((w, v) => w.varint(v), (r) => r.varint(), n)).toBe(n)
    },
  )

  it('every safe integer round-trips through varint, and every unsigned one through varuint', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        expect(roundTrip((w, v) => w.varint(v), (r) => r.varint(), n)).toBe(n)
        expect(roundTrip((w, v) => w.varuint(v), (r) => r.varuint(), Math.abs(n))).toBe(Math.abs(n))
      }),
    )
  })

  it('small numbers take one byte', () => {
    const w = new ByteWriter()
    w.varuint(127)
    w.varint(-63)
    expect(w.byteLength).toBe(2)
  })

  it('refuses to write what it cannot read back exactly', () => {
    const w = new ByteWriter()
    expect(() => w.varuint(-1)).toThrow(CodecError)
    expect(() => w.varuint(1.5)).toThrow(CodecError)
    expect(() => w.varint(2 ** 53)).toThrow(CodecError)
    expect(() => w.varint(Number.NaN)).toThrow(CodecError)
    expect(() => w.string('lone \ud800 surrogate')).toThrow(CodecError)
  })

  it('f64 round-trips any number', () => {
    fc.assert(
      fc.property(fc.double(), (n) => {
        expect(Object.is(roundTrip((w, v) => w.f64(v), (r) => r.f64(), n), n)).toBe(true)
      }),
    )
  })

  it('strings round-trip: ASCII, long, astral, and a leading BOM kept as it is', () => {
    for (const s of ['', 'a', '/path/to/node', 'x'.repeat(300), 'ünïcødé', '😀 astral', '\ufeffbom', '\u0000nul']) {
      expect(roundTrip((w, v) => w.string(v), (r) => r.string(), s)).toBe(s)
    }
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(roundTrip((w, v) => w.string(v), (r) => r.string(), s)).toBe(s)
      }),
    )
  })

  it('bytes round-trip and are copied out of the input', () => {
    const w = new ByteWriter()
    w.bytes(new Uint8Array([1, 2, 3]))
    const input = w.finish()
    const out = new ByteReader(input).bytes()
    expect(out).toEqual(new Uint8Array([1, 2, 3]))
    input[1] = 99
    expect(out).toEqual(new Uint8Array([1, 2, 3]))
  })

  it.each<[string, number[], (r: ByteReader) => unknown]>([
    ['an empty input', [], (r) => r.u8()],
    ['a truncated varuint', [0x80], (r) => r.varuint()],
    ['a non-minimal varuint', [0x80, 0x00], (r) => r.varuint()],
    ['a varuint over 8 bytes', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], (r) => r.varuint()],
    ['a varuint above 2^53 - 1', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], (r) => r.varuint()],
    ['a truncated varint', [0xc0], (r) => r.varint()],
    ['a negative zero varint', [0x40], (r) => r.varint()],
    ['a non-minimal varint', [0x81, 0x00], (r) => r.varint()],
    ['a bad boolean', [2], (r) => r.bool()],
    ['a string longer than the input', [10, 0x61], (r) => r.string()],
    ['invalid UTF-8', [2, 0xc3, 0x28], (r) => r.string()],
    ['a long string with invalid UTF-8', [40, ...new Array<number>(39).fill(0x61), 0xff], (r) => r.string()],
    ['bytes longer than the input', [5, 1, 2], (r) => r.bytes()],
    ['a huge declared length', [0xff, 0xff, 0xff, 0xff, 0x0f], (r) => r.bytes()],
    ['a count beyond the input', [100, 1, 2, 3], (r) => r.count(1)],
    ['a truncated float64', [1, 2, 3], (r) => r.f64()],
  ])('throws CodecError for %s', (_, input, read) => {
    expect(() => read(new ByteReader(new Uint8Array(input)))).toThrow(CodecError)
  })

  it('expectEnd refuses trailing bytes', () => {
    const r = new ByteReader(new Uint8Array([1, 2]))
    r.u8()
    expect(() => r.expectEnd()).toThrow(CodecError)
  })

  it('reads a view into a larger buffer at its offset', () => {
    const backing = new Uint8Array([9, 9, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 9])
    expect(new ByteReader(backing.subarray(2, 10)).f64()).toBe(1)
  })
})
