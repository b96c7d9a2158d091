// Just enough of the Server-Sent Events format (WHATWG HTML, "Parsing an
// event stream") to read a one-shot watch: comments (the keep-alives) are
// skipped, fields gathered, and the first event with data returned. Bounded:
// an event (or a line) longer than `charsMax` is refused rather than buffered.
//
// The stream is read with next() and never return(), so returning early does
// not destroy it: the caller drains the rest and the connection is reused.
import { HerdClientError } from './client-error.ts'

export interface ServerSentEvent {
  readonly id: string
  readonly event: string
  readonly data: string
}

export async function firstEvent(chunks: AsyncIterable<Uint8Array | string>, charsMax: number): Promise<ServerSentEvent | null> {
  const decoder = new TextDecoder()
  const iterator = chunks[Symbol.asyncIterator]()
  let pending = ''
  let id = ''
  let event = ''
  const data: string[] = []
  let dataChars = 0
  for (;;) {
    const next = await iterator.next()
    if (next.done === true) return null
    const chunk = next.value
    pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true })
    // A trailing \r may be the first half of \r\n: keep it for the next chunk.
    const holdsCr = pending.endsWith('\r')
    const lines = (holdsCr ? pending.slice(0, -1) : pending).split(/\r\n|\r|\n/)
    // The last piece is an unfinished line.
    pending = (lines.pop() as string) + (holdsCr ? '\r' : '')
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) return { id, event, data: data.join('\n') }
        event = ''
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'data') {
        data.push(value)
        dataChars += value.length
      } else if (field === 'event') {
        event = value
      } else if (field === 'id') {
        id = value
      }
    }
    if (pending.length + dataChars > charsMax) {
      throw new HerdClientError({ code: 'MarshallingError', detail: `a watch event longer than ${charsMax} characters` })
    }
  }
}
