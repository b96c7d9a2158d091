// Znode data is bytes. The client takes bytes or text (sent as UTF-8) and
// hands back bytes; inside JSON bodies (multi, multi-read) data travels as
// UTF-8 text or base64, and says which.
import type { Data, DataEncoding } from './types.ts'

const utf8 = new TextEncoder()

/** Data as a JSON field: text stays text, bytes go as base64. */
export function dataField(data: Data): { data: string; encoding: DataEncoding } {
  if (typeof data === 'string') return { data, encoding: 'utf8' }
  return { data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'), encoding: 'base64' }
}

/** The bytes of a JSON data field (e.g. a multiRead result's `data` and `encoding`). */
export function decodeData(data: string, encoding: DataEncoding): Uint8Array {
  if (encoding === 'utf8') return utf8.encode(data)
  const buffer = Buffer.from(data, 'base64')
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}
