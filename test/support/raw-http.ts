// HTTP/1.x over a bare TCP socket, for the requests fetch would normalise
// or refuse to send: dot segments and backslashes in the target, raw
// control bytes, conflicting Content-Length and Transfer-Encoding, bodies
// that lie about their length, headers trickled a byte at a time, pipelined
// requests, HTTP/1.0 without Host. The client parses what comes back
// itself (Content-Length, chunked, or until close), so a response the
// server writes straight onto the socket (its clientError path) is read
// exactly as sent.
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export interface RawResponse {
  readonly version: string
  readonly status: number
  readonly reason: string
  /** Lower-case names; a repeated header keeps its values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
  text(): string
  json(): unknown
}

export interface RequestSpec {
  readonly method?: string
  /** The request target exactly as it goes on the wire (no encoding is applied). */
  readonly target: string
  readonly version?: 'HTTP/1.1' | 'HTTP/1.0'
  /** Sent in order, as given; a Host header is added for HTTP/1.1 unless one is given or host is null. */
  readonly headers?: ReadonlyArray<readonly [string, string]>
  readonly host?: string | null
  readonly body?: string | Buffer
  /** Adds Content-Length for the body (default true when there is a body and no Transfer-Encoding). */
  readonly contentLength?: boolean
}

/** The bytes of one request; nothing is validated, which is the point. */
export function requestBytes(spec: RequestSpec): Buffer {
  const version = spec.version ?? 'HTTP/1.1'
  const headers = [...(spec.headers ?? [])]
  const has = (name: string): boolean => headers.some(([key]) => key.toLowerCase() === name)
  if (spec.host !== null && version === 'HTTP/1.1' && !has('host')) headers.unshift(['Host', spec.host ?? 'localhost'])
  const body = spec.body === undefined ? Buffer.alloc(0) : Buffer.from(spec.body)
  if (spec.body !== undefined && (spec.contentLength ?? !has('transfer-encoding')) && !has('content-length')) {
    headers.push(['Content-Length', String(body.length)])
  }
  const head = `${spec.method ?? 'GET'} ${spec.target} ${version}\r\n` + headers.map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n'
  return Buffer.concat([Buffer.from(head, 'latin1'), body])
}

/** A chunked body: each piece as one chunk, then the last chunk. */
export function chunked(pieces: ReadonlyArray<string | Buffer>): Buffer {
  const parts: Buffer[] = []
  for (const piece of pieces) {
    const bytes = Buffer.from(piece)
    parts.push(Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from('0\r\n\r\n'))
  return Buffer.concat(parts)
}

/**
 * Parses one response starting at `offset`. Returns null while it is
 * incomplete; a response without Content-Length or chunked framing is
 * complete only once the connection closed (`isClosed`).
 */
export function parseResponse(buffer: Buffer, offset: number, isClosed: boolean, isHead = false): { response: RawResponse; end: number } | null {
  const headEnd = buffer.indexOf('\r\n\r\n', offset)
  if (headEnd < 0) return null
  const lines = buffer.subarray(offset, headEnd).toString('latin1').split('\r\n')
  const statusLine = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '')
  if (statusLine === null) throw new Error(`not an HTTP response: ${JSON.stringify((lines[0] ?? '').slice(0, 100))}`)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  const status = Number(statusLine[2])
  let bodyStart = headEnd + 4
  let body: Buffer
  let end: number
  if (isHead || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    body = Buffer.alloc(0)
    end = bodyStart
  } else if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = []
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', bodyStart)
      if (lineEnd < 0) return null
      const size = parseInt(buffer.subarray(bodyStart, lineEnd).toString('latin1'), 16)
      if (!Number.isFinite(size)) throw new Error('bad chunk size in response')
      const dataStart = lineEnd + 2
      if (size === 0) {
        const trailerEnd = buffer.indexOf('\r\n\r\n', lineEnd)
        if (trailerEnd < 0 && buffer.length < dataStart + 2) return null
        end = trailerEnd >= 0 ? trailerEnd + 4 : dataStart + 2
        break
      }
      if (buffer.length < dataStart + size + 2) return null
      parts.push(buffer.subarray(dataStart, dataStart + size))
      bodyStart = dataStart + size + 2
    }
    body = Buffer.concat(parts)
  } else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length'])
    if (buffer.length < bodyStart + length) return null
    body = buffer.subarray(bodyStart, bodyStart + length)
    end = bodyStart + length
  } else {
    if (!isClosed) return null
    body = buffer.subarray(bodyStart)
    end = buffer.length
  }
  const copy = Buffer.from(body)
  const response: RawResponse = {
    version: statusLine[1] as string,
    status,
    reason: statusLine[3] ?? '',
    headers,
    body: copy,
    text: () => copy.toString('utf8'),
    json: () => JSON.parse(copy.toString('utf8')) as unknown,
  }
  return { response, end }
}

/** One client connection: write bytes whenever, read the responses in order, see when the server closes. */
export class RawConnection {
  readonly socket: Socket
  #buffer: Buffer = Buffer.alloc(0)
  #offset = 0
  #isClosed = false
  #error: Error | null = null
  #wake: (() => void) | null = null

  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk])
      this.#notify()
    })
    socket.on('error', (error) => {
      this.#error = error
      this.#notify()
    })
    socket.on('close', () => {
      this.#isClosed = true
      this.#notify()
    })
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host })
      socket.setNoDelay(true)
      socket.once('connect', () => {
        socket.off('error', reject)
        resolve(new RawConnection(socket))
      })
      socket.once('error', reject)
    })
  }

  /** The server closed (or reset) the connection. */
  get isClosed(): boolean {
    return this.#isClosed
  }

  /** Everything received so far. */
  get received(): Buffer {
    return this.#buffer
  }

  /** Writes, resolving once handed to the kernel; false if the connection was already gone (EPIPE and the like). */
  write(data: string | Buffer): Promise<boolean> {
    if (this.#isClosed || this.socket.destroyed || !this.socket.writable) return Promise.resolve(false)
    return new Promise((resolve) => {
      this.socket.write(data, (error) => resolve(error === undefined || error === null))
    })
  }

  /** Writes `data` `bytesPerStep` bytes at a time with a pause between; stops early once the server closed. */
  async trickle(data: string | Buffer, bytesPerStep: number, pauseMs: number, stepsMax = Infinity): Promise<number> {
    const bytes = Buffer.from(data)
    let sent = 0
    for (let step = 0; sent < bytes.length && step < stepsMax; step++) {
      if (!(await this.write(bytes.subarray(sent, sent + bytesPerStep)))) break
      sent += Math.min(bytesPerStep, bytes.length - sent)
      await sleep(pauseMs)
      if (this.#isClosed) break
    }
    return sent
  }

  /** The next response, or null if the connection closed (or `timeoutMs` passed) first. */
  async response(timeoutMs = 5000, isHead = false): Promise<RawResponse | null> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const parsed = parseResponse(this.#buffer, this.#offset, this.#isClosed, isHead)
      if (parsed !== null) {
        this.#offset = parsed.end
        return parsed.response
      }
      if (this.#isClosed || this.#error !== null) return null
      const left = deadline - Date.now()
      if (left <= 0) return null
      await this.#wait(left)
    }
  }

  /** Resolves true once the server closed the connection, false if it is still open after `timeoutMs`. */
  async closed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.#isClosed) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      await this.#wait(left)
    }
    return true
  }

  destroy(): void {
    this.socket.destroy()
  }

  #wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = null
        resolve()
      }, timeoutMs)
      this.#wake = () => {
        clearTimeout(timer)
        this.#wake = null
        resolve()
      }
    })
  }

  #notify(): void {
    this.#wake?.()
  }
}

export interface Exchange {
  /** The first response, or null when the server closed (or went silent) without one. */
  readonly response: RawResponse | null
  /** Whether the server had closed the connection when the exchange ended. */
  readonly isClosed: boolean
  readonly elapsedMs: number
}

/** Sends one request on a fresh connection and reads one response. */
export async function rawExchange(port: number, request: RequestSpec | string | Buffer, timeoutMs = 5000): Promise<Exchange> {
  const started = Date.now()
  const connection = await RawConnection.open(port)
  try {
    const bytes = typeof request === 'string' || Buffer.isBuffer(request) ? Buffer.from(request) : requestBytes(request)
    await connection.write(bytes)
    const isHead = typeof request === 'object' && !Buffer.isBuffer(request) && request.method === 'HEAD'
    const response = await connection.response(timeoutMs, isHead)
    // A server that answers and closes does so right after the response.
    if (response !== null && !connection.isClosed && /close/i.test(response.headers['connection'] ?? '')) await connection.closed(1000)
    return { response, isClosed: connection.isClosed, elapsedMs: Date.now() - started }
  } finally {
    connection.destroy()
  }
}

// ------------------------------------------------------------ herd's answers

export interface Problem {
  readonly status: number
  readonly code: string
  readonly detail: string
  readonly zxid: number
  readonly headers: Readonly<Record<string, string>>
}

/**
 * The problem+json a response carries. Throws, naming what came back, when
 * there is no response or it is not RFC 9457 problem+json with herd's
 * fields and a status that agrees with the status line.
 */
export function problemOf(response: RawResponse | null, what = 'the request'): Problem {
  if (response === null) throw new Error(`${what}: no response (the connection closed or went silent)`)
  return checkProblem(response.status, response.headers, response.text(), what)
}

/** As problemOf, for a fetch Response (reads its body). */
export async function fetchProblem(response: Response, what = 'the request'): Promise<Problem> {
  const headers: Record<string, string> = {}
  response.headers.forEach((value, name) => {
    headers[name] = value
  })
  return checkProblem(response.status, headers, await response.text(), what)
}

function checkProblem(status: number, headers: Readonly<Record<string, string>>, text: string, what: string): Problem {
  const type = headers['content-type'] ?? ''
  if (!type.startsWith('application/problem+json')) {
    throw new Error(`${what}: ${status} with content-type ${JSON.stringify(type)}, not problem+json: ${JSON.stringify(text.slice(0, 200))}`)
  }
  let body: Record<string, unknown>
  try {
    body = JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new Error(`${what}: problem+json that is not JSON: ${JSON.stringify(text.slice(0, 200))}`)
  }
  const { code, detail, zxid } = body
  if (body['status'] !== status || typeof code !== 'string' || typeof detail !== 'string' || typeof zxid !== 'number' || body['type'] !== `urn:herd:error:${code}`) {
    throw new Error(`${what}: a malformed problem body for status ${status}: ${text.slice(0, 300)}`)
  }
  return { status, code, detail, zxid, headers }
}

export interface TreeState {
  readonly digest: string
  readonly appliedZxid: number
  readonly znodes: number
  readonly sessions: number
}

/** What "nothing changed" is measured by: the tree's digest and the zxid this node has applied. */
export async function treeState(baseUrl: string): Promise<TreeState> {
  const response = await fetch(`${baseUrl}/cluster`)
  if (response.status !== 200) throw new Error(`GET /cluster answered ${response.status}`)
  const body = (await response.json()) as TreeState
  return { digest: body.digest, appliedZxid: body.appliedZxid, znodes: body.znodes, sessions: body.sessions }
}

/**
 * The state a node serves after it restarts on `state`'s store: the same
 * tree, one zxid further on (a restarted single voter is a new leader, and a
 * new leader's first entry is a noop).
 */
export function afterRestart(state: TreeState): TreeState {
  return { ...state, appliedZxid: state.appliedZxid + 1 }
}
