// The encoding of everything replicas send each other: plain values
// (null, booleans, numbers, strings, byte arrays, arrays and objects of
// them) in a compact tagged binary form. Entry data travels as raw bytes (no
// base64, no copy into a string), integers as varints; the shapes are
// checked by whoever decodes (the core's isMessage, the call handlers), so
// this codec stays one small thing that never needs to change when a
// message gains a field.
//
// Bytes come from the network: the reader bounds nesting and counts, and
// any malformed input ends in a CodecError.
import { ByteReader, ByteWriter, CodecError } from '../../tree/index.ts'

const tagNull = 0
const tagFalse = 1
const tagTrue = 2
const tagUint = 3
const tagInt = 4
const tagFloat = 5
const tagString = 6
const tagBytes = 7
const tagArray = 8
const tagObject = 9

const depthMax = 32

export function encodeValue(value: unknown, initialBytes = 256): Uint8Array {
  const w = new ByteWriter(initialBytes)
  write(w, value, 0)
  return w.finish()
}

export function decodeValue(bytes: Uint8Array): unknown {
  const r = new ByteReader(bytes)
  const value = read(r, 0)
  r.expectEnd()
  return value
}

function write(w: ByteWriter, value: unknown, depth: number): void {
  if (depth > depthMax) throw new CodecError('value nested too deeply')
  if (value === null || value === undefined) {
    w.u8(tagNull)
  } else if (value === false) {
    w.u8(tagFalse)
  } else if (value === true) {
    w.u8(tagTrue)
  } else if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) {
      w.u8(value >= 0 ? tagUint : tagInt)
      if (value >= 0) w.varuint(value)
      else w.varint(value)
    } else {
      w.u8(tagFloat)
      w.f64(value)
    }
  } else if (typeof value === 'string') {
    w.u8(tagString)
    w.string(value)
  } else if (value instanceof Uint8Array) {
    w.u8(tagBytes)
    w.bytes(value)
  } else if (Array.isArray(value)) {
    w.u8(tagArray)
    w.varuint(value.length)
    for (const item of value) write(w, item, depth + 1)
  } else if (typeof value === 'object') {
    const keys = Object.keys(value).filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    w.u8(tagObject)
    w.varuint(keys.length)
    for (const key of keys) {
      w.string(key)
      write(w, (value as Record<string, unknown>)[key], depth + 1)
    }
  } else {
    throw new CodecError(`cannot encode a ${typeof value}`)
  }
}

function read(r: ByteReader, depth: number): unknown {
  if (depth > depthMax) throw new CodecError('value nested too deeply')
  const tag = r.u8()
  switch (tag) {
    case tagNull:
      return null
    case tagFalse:
      return false
    case tagTrue:
      return true
    case tagUint:
      return r.varuint()
    case tagInt:
      return r.varint()
    case tagFloat:
      return r.f64()
    case tagString:
      return r.string()
    case tagBytes:
      return r.bytes()
    case tagArray: {
      const count = r.count(1)
      const items: unknown[] = []
      for (let i = 0; i < count; i++) items.push(read(r, depth + 1))
      return items
    }
    case tagObject: {
      const count = r.count(2)
      const object: Record<string, unknown> = Object.create(null) as Record<string, unknown>
      for (let i = 0; i < count; i++) {
        const key = r.string()
        if (key === '__proto__') throw new CodecError('forbidden key __proto__')
        object[key] = read(r, depth + 1)
      }
      return object
    }
    default:
      throw new CodecError(`unknown value tag ${tag}`)
  }
}
