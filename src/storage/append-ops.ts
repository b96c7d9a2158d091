// The wire form of a batch between the store and its append worker: one
// ArrayBuffer (transferred, not copied) holding every put and delete.
//   u32 count, then per op: u8 kind (0 put, 1 delete), u32 key length,
//   u32 value length (0 for a delete), key bytes, value bytes.

export interface Op {
  readonly key: Uint8Array
  /** null: delete the key. */
  readonly value: Uint8Array | null
}

export function encodeOps(ops: readonly Op[]): ArrayBuffer {
  let size = 4
  for (const op of ops) size += 9 + op.key.byteLength + (op.value?.byteLength ?? 0)
  const buffer = new ArrayBuffer(size)
  const view = new DataView(buffer)
  const bytes = new Uint8Array(buffer)
  view.setUint32(0, ops.length)
  let at = 4
  for (const op of ops) {
    view.setUint8(at, op.value === null ? 1 : 0)
    view.setUint32(at + 1, op.key.byteLength)
    view.setUint32(at + 5, op.value?.byteLength ?? 0)
    at += 9
    bytes.set(op.key, at)
    at += op.key.byteLength
    if (op.value !== null) {
      bytes.set(op.value, at)
      at += op.value.byteLength
    }
  }
  return buffer
}

export function decodeOps(buffer: ArrayBuffer, each: (key: Uint8Array, value: Uint8Array | null) => void): void {
  const view = new DataView(buffer)
  const count = view.getUint32(0)
  let at = 4
  for (let i = 0; i < count; i++) {
    const isDelete = view.getUint8(at) === 1
    const keyLength = view.getUint32(at + 1)
    const valueLength = view.getUint32(at + 5)
    at += 9
    const key = new Uint8Array(buffer, at, keyLength)
    at += keyLength
    const value = isDelete ? null : new Uint8Array(buffer, at, valueLength)
    at += valueLength
    each(key, value)
  }
}
