// An event-stream parser for tests, with no test-runner imports so that the
// fault suite (plain node) can use it too: events are the blocks with data,
// as an EventSource dispatches them; an id line without data only sets the
// id the next events carry.
export interface SseEvent {
  readonly id: string | undefined
  readonly event: string | undefined
  readonly data: string
}

/** Parses an event stream (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation). */
export function parseSse(text: string): { readonly events: SseEvent[]; readonly comments: string[] } {
  const events: SseEvent[] = []
  const comments: string[] = []
  let id: string | undefined
  let event: string | undefined
  let data: string[] = []
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length > 0) events.push({ id, event, data: data.join('\n') })
      event = undefined
      data = []
      continue
    }
    if (line.startsWith(':')) {
      comments.push(line.slice(1).trim())
      continue
    }
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'id') id = value
    else if (field === 'event') event = value
    else if (field === 'data') data.push(value)
  }
  return { events, comments }
}
