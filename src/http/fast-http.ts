// The fast path of a node:http server: requests read and answered straight
// off the socket, without node:http. The client port serves its /znodes
// GET, PUT and DELETE requests this way (`znodeRoutes`), the peer port its
// consensus messages and calls (peer-server.ts).
//
// Why: on this 2-core machine Node's HTTP server costs about 45 µs of CPU
// per request before any handler runs (a hello-world answered about 15k
// requests/s on one core against about 45k from a plain net.Socket; the
// streams, the IncomingMessage and ServerResponse objects and their ticks
// are most of it), and every write and read pays it once.
//
// Only what is plainly well formed is served here: an HTTP/1.1 request line
// for one of those routes, header lines of token names and printable
// values, each name once, a valid Host, a Content-Length (no other body
// framing: no Transfer-Encoding, Expect or Upgrade, no Content-Encoding but
// identity), within the header and body limits, and no Origin when CORS is
// on. At the first request that is anything else, even malformed, the
// connection is handed to node:http for good (server.ts), once every
// response owed on it has been written and with every byte not yet parsed:
// Node's server then answers it exactly as it answers every connection
// (the errors, 431, 405, Hono's routes, CORS). Requests served here keep
// node:http's rules: pipelined requests take turns as server.ts's inTurn
// (a read never runs beside an earlier unanswered write, a write only once
// every earlier request is answered), responses leave in request order,
// requests whose headers (headersTimeoutMs) or whole (requestTimeoutMs)
// do not arrive in time get a 408 and the connection closes, an idle
// connection closes after keepAliveTimeoutMs, and `Connection: close` is
// honoured. Watch streams go out with chunked framing, as Node frames them.
import { STATUS_CODES, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { HerdError } from '../errors.ts'
import { isStreamBody, splitTarget, type HttpRequest, type Reply, type StreamBody, type StreamChannel, type Target } from './message.ts'

/** Which requests a fast path serves, and how they take turns. */
export interface FastRoutes {
  /** A request line it serves: the method is group 1, the target group 2. */
  readonly requestLine: RegExp
  /** The one method whose requests may carry a body. */
  readonly bodyMethod: string
  /**
   * Whether a request may run beside earlier unanswered ones (a read); one
   * that may not (a write) runs once every earlier request is answered.
   */
  readonly isSafe: (method: string) => boolean
  /**
   * Whether a request with these headers (lower-case names) is served here;
   * those it is not are handed over with their connection. Unset: all.
   */
  readonly admits?: (headers: Readonly<Record<string, string>>) => boolean
}

/** The client port's: GET, PUT and DELETE on /znodes, reads beside reads (server.ts inTurn's rule). */
export const znodeRoutes: FastRoutes = {
  requestLine: /^(GET|PUT|DELETE) (\/znodes(?:[/?][\x21-\x7e]*)?) HTTP\/1\.1$/,
  bodyMethod: 'PUT',
  isSafe: (method) => method === 'GET',
}

export interface FastOptions {
  readonly routes: FastRoutes
  readonly headerBytesMax: number
  readonly headersCountMax: number
  readonly requestBytesMax: number
  readonly headersTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  /** Requests with an Origin header go to node:http (and Hono's CORS). */
  readonly isCorsOn: boolean
  /** The reply that tells of a failure this path meets itself: a request not received in time, a bug. */
  readonly problem: (error: HerdError) => Reply
  readonly isValidHost: (host: string) => boolean
  /** The reply to a request the routes admit. */
  readonly serve: (request: FastRequest) => Reply | Promise<Reply>
  /** Gives the connection to node:http (its bytes not yet parsed are back on the socket). */
  readonly handOver: (socket: Socket) => void
  /** A bug surfaced while serving a connection (which is dropped): no client input may stop the node. */
  readonly onBug: (error: unknown) => void
}

/** Requests parsed ahead on one connection before reading stops until some are answered. */
const pipelineMax = 64

const headerLine = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\t\x20-\x7e]*?)[ \t]*$/
const contentLengthValue = /^\d{1,15}$/
/** What Node refuses in a header value (ERR_INVALID_CHAR). */
const invalidHeaderValue = /[^\t\x20-\x7e\x80-\xff]/
const headEnd = Buffer.from('\r\n\r\n', 'latin1')
const emptyBody = new Uint8Array(0)

/**
 * Puts a fast path in front of a node:http server: it takes each new
 * connection first, and gives it to the server's own connection listener
 * at the first request it does not serve. Called before any other
 * 'connection' listener is added.
 */
export function installFastPath(server: Server, options: Omit<FastOptions, 'handOver'>): FastHttp {
  const nodeListeners = server.listeners('connection') as Array<(socket: Socket) => void>
  const nodeConnection = nodeListeners[0]
  if (nodeListeners.length !== 1 || nodeConnection === undefined) throw new Error("node:http's server no longer has one connection listener of its own")
  server.removeListener('connection', nodeConnection)
  const fast = new FastHttp({ ...options, handOver: (socket) => nodeConnection.call(server, socket) })
  server.on('connection', (socket: Socket) => fast.accept(socket))
  return fast
}

/** The fast path of one server: its connections, and the timer that checks their deadlines. */
export class FastHttp {
  readonly #options: FastOptions
  readonly #connections = new Set<Connection>()
  #timer: NodeJS.Timeout | null = null
  #isClosing = false

  constructor(options: FastOptions) {
    this.#options = options
  }

  /** Takes a new connection. */
  accept(socket: Socket): void {
    if (this.#timer === null && !this.#isClosing) {
      const o = this.#options
      // As often as Node checks its own (connectionsCheckingInterval in server.ts).
      this.#timer = setInterval(() => this.#check(), Math.min(1000, o.headersTimeoutMs))
      this.#timer.unref()
    }
    const connection = new Connection(socket, this.#options, this.#connections)
    if (this.#isClosing) connection.closeWhenIdle()
  }

  /** The server is closing: idle connections close now, the others once their owed responses are out. */
  closeIdle(): void {
    this.#isClosing = true
    for (const connection of this.#connections) connection.closeWhenIdle()
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  /** The server is going away: every connection is dropped now, answers owed or not. */
  closeAll(): void {
    this.closeIdle()
    for (const connection of this.#connections) connection.destroy()
  }

  #check(): void {
    const nowMs = Date.now()
    for (const connection of this.#connections) connection.checkDeadlines(nowMs)
  }
}

interface Head {
  readonly method: string
  readonly target: Target
  readonly headers: Record<string, string>
  readonly bodyBytes: number
  readonly closeAfter: boolean
}

/** A request in its connection's order, until its response is written out. */
interface Slot {
  readonly isSafe: boolean
  readonly request: FastRequest
  readonly closeAfter: boolean
  isStarted: boolean
  reply: Reply | null
  /** A stream reply whose stream has not ended yet. */
  isStreaming: boolean
  /** Its stream, once its head went out. */
  stream: StreamBody | null
}

export class FastRequest implements HttpRequest {
  readonly method: string
  readonly target: Target
  readonly incoming = null
  readonly #headers: Record<string, string>
  readonly #body: Uint8Array
  readonly #socket: Socket

  constructor(head: Head, body: Uint8Array, socket: Socket) {
    this.method = head.method
    this.target = head.target
    this.#headers = head.headers
    this.#body = body
    this.#socket = socket
  }

  header(name: string): string | undefined {
    return this.#headers[name]
  }

  /** The whole body, as received (not a copy). */
  bytes(): Uint8Array {
    return this.#body
  }

  /** The connection it came on is gone: an answer can no longer reach its sender. */
  isGone(): boolean {
    return !this.#socket.writable
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    const body = this.#body
    return Promise.resolve(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer)
  }

  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? 'unknown'
  }
}

class Connection {
  readonly #socket: Socket
  readonly #options: FastOptions
  readonly #registry: Set<Connection>
  /** Bytes received and not yet parsed into a request. */
  #pending: Buffer | null = null
  /** When the request now arriving began (0: none is). */
  #requestStartMs = 0
  /** Its head, once whole (the body is still arriving). */
  #head: Head | null = null
  #headBytes = 0
  #idleSinceMs = Date.now()
  /** Until a first request is whole, the connection's limit is the headers', not keep-alive's. */
  #isFresh = true
  readonly #slots: Slot[] = []
  #isHandingOver = false
  #isClosed = false
  #isClosingWhenIdle = false
  /** No more requests are taken: a `Connection: close` request was parsed. */
  #isLast = false
  #isPausedByUs = false
  #isPumping = false
  #isPumpAgain = false
  readonly #onData = (chunk: Buffer): void => this.#receive(chunk)
  /** The client sent FIN: as node:http (without httpAllowHalfOpen), the connection ends now, with whatever is still owed. */
  readonly #onEnd = (): void => {
    this.#closed()
    this.#end()
  }
  readonly #onClose = (): void => this.#closed()
  readonly #onError = ignore
  readonly #onDrain = (): void => this.#pump()

  constructor(socket: Socket, options: FastOptions, registry: Set<Connection>) {
    this.#socket = socket
    this.#options = options
    this.#registry = registry
    registry.add(this)
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('close', this.#onClose)
    socket.on('error', this.#onError)
    socket.on('drain', this.#onDrain)
  }

  destroy(): void {
    this.#closed()
    this.#detach()
    this.#socket.destroy()
  }

  closeWhenIdle(): void {
    this.#isClosingWhenIdle = true
    this.#pump()
  }

  checkDeadlines(nowMs: number): void {
    if (this.#isClosed || this.#isHandingOver) return
    const o = this.#options
    if (this.#requestStartMs !== 0) {
      const limitMs = this.#head === null ? o.headersTimeoutMs : o.requestTimeoutMs
      // A request not received in time; the answers owed before it go out first.
      if (nowMs - this.#requestStartMs > limitMs && this.#slots.length === 0) this.#timeOut()
      return
    }
    if (this.#slots.length > 0) return
    // A connection that never sent a request is answered 408 once its headers are overdue, as node:http does; an idle one is closed.
    if (this.#isFresh && nowMs - this.#idleSinceMs > o.headersTimeoutMs) this.#timeOut()
    else if (!this.#isFresh && nowMs - this.#idleSinceMs > o.keepAliveTimeoutMs) this.#socket.destroy()
  }

  /** A 408, and the connection ends (what node:http's clientError path in server.ts answers). */
  #timeOut(): void {
    this.#write(this.#options.problem(new HerdError('RequestTimeout', 'the request was not received in time')), true)
    this.#end()
  }

  #receive(chunk: Buffer): void {
    if (this.#isLast || this.#isClosed) return
    if (this.#requestStartMs === 0) this.#requestStartMs = Date.now()
    this.#pending = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk])
    this.#pump()
  }

  /**
   * Parses what arrived, starts what may start and writes what is answered,
   * until none of them moves; re-entered (by an answer given at once, a
   * stream ending) it only asks for another pass.
   */
  #pump(): void {
    if (this.#isPumping) {
      this.#isPumpAgain = true
      return
    }
    this.#isPumping = true
    try {
      do {
        this.#isPumpAgain = false
        this.#parse()
        this.#startInTurn()
        this.#flush()
      } while (this.#isPumpAgain && !this.#isClosed && this.#registry.has(this))
      this.#maybeResume()
    } catch (error) {
      this.#options.onBug(error)
      this.destroy()
    } finally {
      this.#isPumping = false
    }
  }

  // ------------------------------------------------------------ reading

  #parse(): void {
    while (this.#pending !== null && !this.#isHandingOver && !this.#isLast && !this.#isClosed) {
      if (this.#slots.length >= pipelineMax) {
        this.#pause()
        return
      }
      const pending = this.#pending
      if (this.#head === null) {
        const end = pending.indexOf(headEnd)
        if (end < 0) {
          if (pending.length > this.#options.headerBytesMax || hasBareLineBreak(pending)) this.#handOver()
          return
        }
        const head = end <= this.#options.headerBytesMax ? this.#parseHead(pending.toString('latin1', 0, end)) : null
        if (head === null) {
          this.#handOver()
          return
        }
        this.#head = head
        this.#headBytes = end + 4
      }
      const head = this.#head
      const total = this.#headBytes + head.bodyBytes
      if (pending.length < total) return
      const body = head.bodyBytes === 0 ? emptyBody : pending.subarray(this.#headBytes, total)
      this.#pending = pending.length === total ? null : pending.subarray(total)
      this.#head = null
      this.#requestStartMs = this.#pending === null ? 0 : Date.now()
      this.#isFresh = false
      const slot: Slot = {
        isSafe: this.#options.routes.isSafe(head.method),
        request: new FastRequest(head, body, this.#socket),
        closeAfter: head.closeAfter || this.#isClosingWhenIdle,
        isStarted: false,
        reply: null,
        isStreaming: false,
        stream: null,
      }
      if (slot.closeAfter) this.#isLast = true
      this.#slots.push(slot)
    }
  }

  /** The head of a request this path serves, or null for node:http to judge. */
  #parseHead(text: string): Head | null {
    const lines = text.split('\r\n')
    const routes = this.#options.routes
    const match = routes.requestLine.exec(lines[0] as string)
    if (match === null || lines.length - 1 > this.#options.headersCountMax) return null
    const headers: Record<string, string> = Object.create(null) as Record<string, string>
    for (let i = 1; i < lines.length; i++) {
      const field = headerLine.exec(lines[i] as string)
      if (field === null) return null
      const name = (field[1] as string).toLowerCase()
      if (headers[name] !== undefined) return null
      headers[name] = field[2] as string
    }
    const host = headers['host']
    if (host === undefined || !this.#options.isValidHost(host)) return null
    if (headers['transfer-encoding'] !== undefined || headers['expect'] !== undefined || headers['upgrade'] !== undefined) return null
    const coding = headers['content-encoding']
    if (coding !== undefined && coding.toLowerCase() !== 'identity') return null
    if (this.#options.isCorsOn && headers['origin'] !== undefined) return null
    let closeAfter = false
    const connection = headers['connection']
    if (connection !== undefined) {
      const value = connection.toLowerCase()
      if (value === 'close') closeAfter = true
      else if (value !== 'keep-alive') return null
    }
    const method = match[1] as string
    let bodyBytes = 0
    const length = headers['content-length']
    if (length !== undefined) {
      if (!contentLengthValue.test(length)) return null
      bodyBytes = Number(length)
      if (bodyBytes > this.#options.requestBytesMax || (bodyBytes > 0 && method !== routes.bodyMethod)) return null
    }
    if (routes.admits !== undefined && !routes.admits(headers)) return null
    return { method, target: splitTarget(match[2] as string), headers, bodyBytes, closeAfter }
  }

  /**
   * Starts every request whose turn has come (server.ts inTurn's rule): a
   * read once no earlier write is unanswered, a write once every earlier
   * request is; the first that must wait holds up those after it.
   */
  #startInTurn(): void {
    let isOpen = false
    let isWriteOpen = false
    for (let i = 0; i < this.#slots.length && !this.#isClosed; i++) {
      const slot = this.#slots[i] as Slot
      if (!slot.isStarted) {
        if (slot.isSafe ? isWriteOpen : isOpen) return
        slot.isStarted = true
        this.#start(slot)
      }
      if (slot.reply === null || slot.isStreaming) {
        isOpen = true
        if (!slot.isSafe) isWriteOpen = true
      }
    }
  }

  #start(slot: Slot): void {
    let reply: Reply | Promise<Reply>
    try {
      reply = this.#options.serve(slot.request)
    } catch {
      // serve() turns every handler error into a reply; anything else is a bug.
      reply = this.#internalError()
    }
    if (reply instanceof Promise) {
      reply.then(
        (settled) => this.#answer(slot, settled),
        () => this.#answer(slot, this.#internalError()),
      )
    } else {
      this.#answer(slot, reply)
    }
  }

  #answer(slot: Slot, reply: Reply): void {
    slot.reply = reply
    slot.isStreaming = isStreamBody(reply.body)
    if (this.#isClosed || !this.#registry.has(this)) {
      if (isStreamBody(reply.body)) reply.body.close()
      return
    }
    this.#pump()
  }

  // ------------------------------------------------------------ writing

  /** Writes the answered responses at the head of the line, in order. */
  #flush(): void {
    const slots = this.#slots
    while (slots.length > 0 && !this.#isClosed) {
      const slot = slots[0] as Slot
      if (slot.reply === null) return
      if (slot.isStreaming) {
        // A stream at the head is written by its channel; what follows waits.
        if (slot.stream === null) this.#openStream(slot)
        return
      }
      slots.shift()
      // Fewer owed answers: requests held back by pipelineMax may be parsed now.
      if (this.#pending !== null) this.#isPumpAgain = true
      if (!isStreamBody(slot.reply.body)) this.#write(slot.reply, slot.closeAfter)
      if (slot.closeAfter) {
        this.#end()
        return
      }
    }
    if (this.#isClosed) return
    this.#idleSinceMs = Date.now()
    if (this.#isHandingOver) this.#completeHandOver()
    else if (this.#isClosingWhenIdle && this.#pending === null) this.#end()
  }

  #write(reply: Reply, isLast: boolean): void {
    const body = reply.body as string | Uint8Array | null
    const length = body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength
    const status = reply.status
    const framing = status === 204 || status === 304 ? '' : `content-length: ${length}\r\n`
    const head = this.#headText(reply, isLast, framing)
    if (head === null) return
    const socket = this.#socket
    if (body === null || typeof body === 'string') {
      // One write: Node's own end(string) sends the head and body together too.
      socket.write(body === null ? head : head + body)
    } else {
      socket.cork()
      socket.write(head, 'latin1')
      socket.write(body)
      socket.uncork()
    }
  }

  /** The status line and headers, or null when a header value is invalid (a 500 went out instead). */
  #headText(reply: Reply, isLast: boolean, framing: string): string | null {
    let text = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? 'Unknown'}\r\n`
    const headers = reply.headers
    for (const name in headers) {
      if (name === 'content-length' || name === 'transfer-encoding') continue
      const value = headers[name] as string
      if (invalidHeaderValue.test(value)) {
        this.#write(this.#internalError(), isLast)
        return null
      }
      text += `${name}: ${value}\r\n`
    }
    const connection = isLast ? 'connection: close\r\n' : `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(this.#options.keepAliveTimeoutMs / 1000)}\r\n`
    return `${text}${framing}date: ${httpDate()}\r\n${connection}\r\n`
  }

  #openStream(slot: Slot): void {
    const reply = slot.reply as Reply
    const body = reply.body as StreamBody
    slot.stream = body
    const head = this.#headText(reply, slot.closeAfter, 'transfer-encoding: chunked\r\n')
    if (head === null) {
      // A 500 went out in its place.
      slot.isStreaming = false
      body.close()
      this.#isPumpAgain = true
      return
    }
    // No write of its own: the stream's first write carries the head, as with Node.
    body.open(
      new ChunkedChannel(this.#socket, head, (isDestroyed) => {
        slot.isStreaming = false
        if (!isDestroyed) this.#pump()
      }),
    )
  }

  // ------------------------------------------------------------ flow

  #pause(): void {
    if (this.#isPausedByUs) return
    this.#isPausedByUs = true
    this.#socket.pause()
  }

  /** Reads on once fewer requests are owed and the client takes its answers. */
  #maybeResume(): void {
    if (this.#isHandingOver || this.#isClosed) return
    const isFull = this.#slots.length >= pipelineMax || this.#socket.writableNeedDrain
    if (isFull) this.#pause()
    else if (this.#isPausedByUs) {
      this.#isPausedByUs = false
      this.#socket.resume()
    }
  }

  /** Gives the connection to node:http once every response owed on it is out. */
  #handOver(): void {
    this.#isHandingOver = true
    this.#socket.pause()
  }

  #completeHandOver(): void {
    const socket = this.#socket
    this.#isClosed = true
    this.#detach()
    if (this.#pending !== null) socket.unshift(this.#pending)
    this.#pending = null
    this.#options.handOver(socket)
    socket.resume()
  }

  #detach(): void {
    const socket = this.#socket
    socket.off('data', this.#onData)
    socket.off('end', this.#onEnd)
    socket.off('close', this.#onClose)
    socket.off('error', this.#onError)
    socket.off('drain', this.#onDrain)
    this.#registry.delete(this)
    // Whatever happens to the socket from here, an error (a reset) must not go unheard.
    socket.on('error', ignore)
  }

  #end(): void {
    this.#isClosed = true
    this.#detach()
    this.#socket.end()
  }

  #internalError(): Reply {
    return this.#options.problem(new HerdError('SystemError', 'internal error'))
  }

  #closed(): void {
    this.#isClosed = true
    this.#registry.delete(this)
    for (const slot of this.#slots) {
      if (slot.stream !== null && slot.isStreaming) slot.stream.close()
    }
    this.#slots.length = 0
  }
}

/** A watch stream's channel: each write one chunk (RFC 9112 7.1); the head goes out with the first. */
class ChunkedChannel implements StreamChannel {
  readonly #socket: Socket
  /** The stream is over: ended (the connection goes on) or destroyed. */
  readonly #onEnd: (isDestroyed: boolean) => void
  #head: string | null
  #isEnded = false

  constructor(socket: Socket, head: string, onEnd: (isDestroyed: boolean) => void) {
    this.#socket = socket
    this.#head = head
    this.#onEnd = onEnd
  }

  write(chunk: string): void {
    if (this.#isEnded) return
    this.#socket.write(this.#takeHead() + frame(chunk))
  }

  end(last?: string): void {
    if (this.#isEnded) return
    this.#isEnded = true
    this.#socket.write(this.#takeHead() + (last === undefined ? '' : frame(last)) + '0\r\n\r\n')
    this.#onEnd(false)
  }

  destroy(): void {
    if (!this.#isEnded) this.#onEnd(true)
    this.#isEnded = true
    this.#socket.destroy()
  }

  get queuedBytes(): number {
    return this.#socket.writableLength
  }

  #takeHead(): string {
    const head = this.#head ?? ''
    this.#head = null
    return head
  }
}

/** A CR not followed by LF, or an LF not after a CR: Node's parser refuses what this path would wait on forever. */
function hasBareLineBreak(bytes: Buffer): boolean {
  for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1)) {
    if (at === 0 || bytes[at - 1] !== 0x0d) return true
  }
  for (let at = bytes.indexOf(0x0d); at >= 0; at = bytes.indexOf(0x0d, at + 1)) {
    if (at + 1 < bytes.length && bytes[at + 1] !== 0x0a) return true
  }
  return false
}

function frame(chunk: string): string {
  return chunk === '' ? '' : `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`
}

function ignore(): void {}

let dateSecond = 0
let dateText = ''

/** The Date header's value, made once a second. */
function httpDate(): string {
  const second = Math.floor(Date.now() / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateText = new Date(second * 1000).toUTCString()
  }
  return dateText
}
