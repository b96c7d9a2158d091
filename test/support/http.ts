// Small fetch helpers for process tests. Every response that goes through
// `call` or `openStream` is checked against openapi.yaml (expectValid), so a
// test cannot forget to: a response that strays from the contract fails the
// test that received it, whatever else the test checks.
import { expect } from 'vitest'
import { expectValid, parseSse, type SseEvent } from './openapi-validator.ts'

export interface CallInit {
  readonly headers?: Readonly<Record<string, string>>
  /** A string or bytes are sent as they are; anything else as JSON (with its Content-Type). */
  readonly body?: string | Uint8Array | object
}

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly bytes: Uint8Array
  readonly text: string
  /** The parsed body when it is JSON (problem+json included), else undefined. */
  readonly json: any
  /** Herd-Zxid as a number. */
  readonly zxid: number
  header(name: string): string | null
}

/** One request; the response is validated against the contract before it is returned. */
export async function call(base: string, method: string, target: string, init: CallInit = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...init.headers }
  let body: string | Uint8Array | undefined
  if (typeof init.body === 'string' || init.body instanceof Uint8Array) {
    body = init.body
  } else if (init.body !== undefined) {
    body = JSON.stringify(init.body)
    headers['content-type'] ??= 'application/json'
  }
  const response = await fetch(base + target, { method, headers, ...(body === undefined ? {} : { body }) })
  const bytes = new Uint8Array(await response.arrayBuffer())
  const text = new TextDecoder().decode(bytes)
  const contentType = response.headers.get('content-type') ?? ''
  const json = /json/.test(contentType) && text !== '' ? JSON.parse(text) : undefined
  expectValid({ method, path: sentTarget(base, target), status: response.status, headers: response.headers, body: json ?? (contentType.startsWith('application/octet-stream') ? bytes : text) })
  return {
    status: response.status,
    headers: response.headers,
    bytes,
    text,
    json,
    zxid: Number(response.headers.get('herd-zxid')),
    header: (name) => response.headers.get(name),
  }
}

/** Expects a problem+json answer with this status and code, and returns it. */
export async function expectProblem(reply: Reply | Promise<Reply>, status: number, code: string): Promise<Reply> {
  const r = await reply
  expect({ status: r.status, code: r.json?.code }, r.text).toEqual({ status, code })
  expect(r.header('content-type')).toBe('application/problem+json')
  return r
}

/** An open event stream (a watch), read incrementally. */
export interface Stream {
  readonly status: number
  readonly headers: Headers
  /** Everything received so far. */
  text(): string
  events(): SseEvent[]
  /** Resolves once `predicate(text so far)` holds; rejects after timeoutMs. */
  waitFor(predicate: (text: string) => boolean, timeoutMs?: number): Promise<string>
  /** Resolves with the whole text once the server ends the stream; rejects after timeoutMs. */
  ended(timeoutMs?: number): Promise<string>
  /** True once the server ended the stream. */
  isEnded(): boolean
  /** Closes the connection from the client side. */
  abort(): void
}

/**
 * GETs `target` and, when the answer is an event stream, keeps reading it in
 * the background. A non-stream answer (an error) is validated at once; a
 * stream is validated (events against WatchEvent) when it ends.
 */
export async function openStream(base: string, target: string, headers: Readonly<Record<string, string>> = {}): Promise<Stream & { readonly reply?: Reply }> {
  const controller = new AbortController()
  const response = await fetch(base + target, { headers, signal: controller.signal })
  const contentType = response.headers.get('content-type') ?? ''
  if (!contentType.startsWith('text/event-stream')) {
    const text = await response.text()
    const json = /json/.test(contentType) && text !== '' ? JSON.parse(text) : undefined
    expectValid({ method: 'GET', path: sentTarget(base, target), status: response.status, headers: response.headers, body: json ?? text })
    const reply: Reply = {
      status: response.status,
      headers: response.headers,
      bytes: new TextEncoder().encode(text),
      text,
      json,
      zxid: Number(response.headers.get('herd-zxid')),
      header: (name) => response.headers.get(name),
    }
    const done = (): never => {
      throw new Error(`not a stream: ${response.status} ${text}`)
    }
    return { status: response.status, headers: response.headers, reply, text: () => text, events: () => [], waitFor: done, ended: done, isEnded: () => true, abort: () => {} }
  }

  let received = ''
  let isEnded = false
  let failure: unknown
  const waiters = new Set<() => void>()
  const notify = (): void => {
    for (const waiter of [...waiters]) waiter()
  }
  const decoder = new TextDecoder()
  void (async () => {
    try {
      const reader = (response.body as ReadableStream<Uint8Array>).getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        received += decoder.decode(value, { stream: true })
        notify()
      }
      isEnded = true
      expectValid({ method: 'GET', path: sentTarget(base, target), status: response.status, headers: response.headers, body: received })
    } catch (error) {
      if (!controller.signal.aborted) failure = error
    }
    isEnded = true
    notify()
  })()

  const waitFor = (predicate: (text: string) => boolean, timeoutMs = 5000): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const check = (): void => {
        if (failure !== undefined) {
          finish()
          reject(failure)
        } else if (predicate(received)) {
          finish()
          resolve(received)
        } else if (isEnded) {
          finish()
          reject(new Error(`the stream ended before the condition held; received:\n${received}`))
        }
      }
      const timer = setTimeout(() => {
        finish()
        reject(new Error(`timed out after ${timeoutMs} ms; received so far:\n${received}`))
      }, timeoutMs)
      const finish = (): void => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })

  return {
    status: response.status,
    headers: response.headers,
    text: () => received,
    events: () => parseSse(received).events,
    waitFor,
    ended: async (timeoutMs = 5000) => {
      await waitFor(() => isEnded, timeoutMs).catch((error: unknown) => {
        if (!isEnded) throw error
      })
      if (failure !== undefined) throw failure
      return received
    },
    isEnded: () => isEnded,
    abort: () => controller.abort(),
  }
}

/** The target as fetch really sends it (its URL parser normalises dot segments and encodes what it must). */
function sentTarget(base: string, target: string): string {
  const url = new URL(base + target)
  return url.pathname + url.search
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
