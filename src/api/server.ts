// The client port's HTTP server: Node's http server under Hono, with every
// limit from config.ts applied, and errors that happen before any route
// (malformed HTTP, header overflow, slowloris timeouts, a target or Host
// that no URL can be built from, CONNECT, a body coding herd does not
// decode) answered as problem+json too. Each connection first goes to the
// /znodes fast path (../http/fast-http.ts), which hands it to Node's server at the
// first request it does not serve itself.
//
// Pipelined requests take turns (inTurn): a read never overtakes an
// earlier write on its connection. A malformed request can follow
// well-formed ones on a keep-alive connection (pipelining, or a body longer
// than its Content-Length). The error response then waits for the
// responses still owed on that connection: written ahead of them, it would
// answer an earlier request, and a client would take a write that
// succeeded for one that failed.
import type { AddressInfo } from 'node:net'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import type { Config } from '../config.ts'
import { HerdError, type ErrorCode } from '../errors.ts'
import type { Logger } from '../log.ts'
import { problemBody, problemHeaders, problemReply, rawProblemResponse, statusOf } from './problem.ts'
import type { Api } from './app.ts'
import { installFastPath, znodeRoutes, type FastHttp } from '../http/index.ts'

export interface ClientServer {
  readonly server: Server
  readonly url: string
  readonly port: number
  /** Stops accepting, lets in-flight requests finish, then closes idle and remaining connections. */
  close(graceMs: number): Promise<void>
}

export interface ListenOptions {
  /** Let other threads listen on the same port (SO_REUSEPORT): the kernel spreads connections over them. */
  readonly reusePort?: boolean
}

export async function startClientServer(api: Api, config: Config, log: Logger, appliedZxid: () => number, options: ListenOptions = {}): Promise<ClientServer> {
  const listener = getRequestListener(api.app.fetch, {
    // HTTP/1.0 may omit Host; the URL Hono builds needs one (routing reads the raw target anyway).
    hostname: config.clientHost.includes(':') ? `[${config.clientHost}]` : config.clientHost,
    // Hono could not make a Request of it (a backslash or no leading slash in the target, a bad Host).
    errorHandler: (error) => {
      const isRequestError = error instanceof Error && error.name === 'RequestError'
      if (!isRequestError) log.error(`request failed before routing: ${(error as Error)?.stack ?? String(error)}`)
      return problemResponse(isRequestError ? new HerdError('BadArguments', `malformed request: ${error.message}`) : new HerdError('SystemError', 'internal error'), appliedZxid())
    },
  })
  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    if (!api.serveNode(req, res)) void listener(req, res)
  }
  // The whole request's limit is longer than the headers' (node:http refuses it otherwise); the fast path keeps the same.
  const requestTimeoutMs = Math.max(config.requestTimeoutMs, config.headersTimeoutMs + 1)
  const server = createServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: config.keepAliveTimeoutMs,
      maxHeaderSize: config.headerBytesMax,
      // How often Node checks the two timeouts above (its default, 30 s, would let a slowloris hold on far longer).
      connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
      // Checked below, so that the 400 is problem+json like every other.
      requireHostHeader: false,
    },
    (req: IncomingMessage, res: ServerResponse) => {
      const refusal = refuseFraming(req)
      if (refusal !== null) {
        writeProblem(res, refusal, appliedZxid())
        return
      }
      inTurn(req, res, serve)
    },
  )
  server.maxHeadersCount = config.headersCountMax
  server.maxRequestsPerSocket = config.requestsPerSocketMax
  server.maxConnections = config.connectionsMax

  // The /znodes fast path takes each new connection first, and hands it to
  // Node's own connection listener at the first request it does not serve
  // (../http/fast-http.ts). A per-connection request limit is Node's to count.
  let fast: FastHttp | null = null
  if (config.clientFastPath && config.requestsPerSocketMax === 0) {
    fast = installFastPath(server, {
      routes: znodeRoutes,
      headerBytesMax: config.headerBytesMax,
      headersCountMax: config.headersCountMax,
      requestBytesMax: config.requestBytesMax,
      headersTimeoutMs: config.headersTimeoutMs,
      requestTimeoutMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      isCorsOn: config.corsOrigins.length > 0,
      problem: (error) => problemReply(error, appliedZxid()),
      isValidHost,
      serve: api.serveZnodes,
      onBug: (error) => log.error(`client connection dropped: ${(error as Error)?.stack ?? String(error)}`),
    })
  }

  const failed = new WeakSet<Socket>()

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const code: ErrorCode =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'RequestTimeout' : error.code === 'HPE_HEADER_OVERFLOW' ? 'PayloadTooLarge' : 'BadArguments'
    const detail =
      code === 'RequestTimeout'
        ? 'the request was not received in time'
        : code === 'PayloadTooLarge'
          ? `the request headers exceed ${config.headerBytesMax} bytes or ${config.headersCountMax} fields`
          : `malformed HTTP request (${error.code ?? error.message})`
    log.debug(`client error from ${socket.remoteAddress}: ${error.code ?? error.message}`)
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    // One answer per broken connection (a timeout can follow a parse error while earlier responses finish).
    if (failed.has(socket)) return
    failed.add(socket)
    const reply = rawProblemResponse(new HerdError(code, detail), appliedZxid())
    // Requests received whole are owed their answers first; the one still
    // arriving (if any) is the one this error is about. Its answer may have
    // begun already (a watch stream opens on a request's headers, before a
    // chunked body breaks): no second answer can be framed after part of
    // one, so then the connection is cut instead.
    const lane = laneOf(socket)
    const isAnswerBegun = lane.started.some((res) => !isDone(res) && !res.req.complete && res.headersSent)
    const finish = (): void => {
      if (socket.writable && !isAnswerBegun) socket.end(reply)
      else socket.destroy()
    }
    const waitingOn = lane.started.filter((res) => !isDone(res) && res.req.complete)
    if (waitingOn.length === 0) {
      finish()
      return
    }
    let left = waitingOn.length
    const onClosed = (): void => {
      if (--left > 0) return
      clearTimeout(timer)
      finish()
    }
    for (const res of waitingOn) res.once('close', onClosed)
    // A response that never ends (a watch stream) must not hold a broken connection forever.
    const timer = setTimeout(() => socket.destroy(), config.requestTimeoutMs)
    timer.unref()
  })

  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.end(rawProblemResponse(new HerdError('MethodNotAllowed', 'CONNECT is not supported: this is not a proxy'), appliedZxid()))
  })

  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: config.clientPort, host: config.clientHost, reusePort: options.reusePort === true }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const host = config.clientHost.includes(':') ? `[${config.clientHost}]` : config.clientHost
  return {
    server,
    url: `http://${host}:${port}`,
    port,
    async close(graceMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      fast?.closeIdle()
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy()
      }, graceMs)
      timer.unref()
      await closed
      clearTimeout(timer)
    },
  }
}

interface Waiting {
  readonly isSafe: boolean
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly start: (req: IncomingMessage, res: ServerResponse) => void
}

/** A connection's requests: started and not yet written out, and those waiting for their turn. */
interface Lane {
  /** Started, oldest first; dropped once fully written. */
  started: ServerResponse[]
  readonly waiting: Waiting[]
  /** The last Host value found valid on this connection. */
  host: string | null
}

// Kept on the socket and the response themselves: this runs for every
// request, and a property is cheaper than a WeakMap lookup or a closure.
const laneKey = Symbol('herd.lane')
const unsafeKey = Symbol('herd.unsafe')
const drainsKey = Symbol('herd.drains')
type LaneSocket = Socket & { [laneKey]?: Lane }
type Turn = ServerResponse & { [unsafeKey]?: boolean; [drainsKey]?: boolean }
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS'])

function laneOf(socket: Socket): Lane {
  const laneSocket = socket as LaneSocket
  let lane = laneSocket[laneKey]
  if (lane === undefined) {
    lane = { started: [], waiting: [], host: null }
    laneSocket[laneKey] = lane
  }
  return lane
}

/**
 * Runs a request when its turn on the connection comes (RFC 9112 9.3.2):
 * Node hands over pipelined requests as soon as they are parsed, but a
 * read that ran beside an earlier write on the same connection would be
 * served from a tree that write has not reached yet, after the client was
 * told the write succeeded. Safe requests may run side by side; none starts
 * while an earlier unsafe one is unanswered, and an unsafe one starts only
 * when every earlier one is answered. A connection without pipelining
 * starts every request at once, and pays for no listener: a response is
 * only watched when a later request has to wait for it.
 */
function inTurn(req: IncomingMessage, res: ServerResponse, start: (req: IncomingMessage, res: ServerResponse) => void): void {
  const lane = laneOf(req.socket)
  const isSafe = safeMethods.has(req.method ?? '')
  ;(res as Turn)[unsafeKey] = !isSafe
  prune(lane)
  if (lane.waiting.length === 0 && mayStart(lane, isSafe)) {
    lane.started.push(res)
    start(req, res)
    return
  }
  lane.waiting.push({ isSafe, req, res, start })
  watchStarted(lane)
}

/** Starts every waiting request whose turn has come; watches what still blocks the rest. */
function drain(lane: Lane): void {
  prune(lane)
  while (lane.waiting.length > 0 && mayStart(lane, (lane.waiting[0] as Waiting).isSafe)) {
    const next = lane.waiting.shift() as Waiting
    lane.started.push(next.res)
    next.start(next.req, next.res)
  }
  if (lane.waiting.length > 0) watchStarted(lane)
}

function watchStarted(lane: Lane): void {
  for (const started of lane.started as Turn[]) {
    if (started[drainsKey] === true) continue
    started[drainsKey] = true
    started.once('finish', () => drain(lane)).once('close', () => drain(lane))
  }
}

/** Forgets responses fully written out (or abandoned). */
function prune(lane: Lane): void {
  if (lane.started.length === 0) return
  if (lane.started.some(isDone)) lane.started = lane.started.filter((res) => !isDone(res))
}

function isDone(res: ServerResponse): boolean {
  return res.writableFinished || res.destroyed
}

/** A response counts as answered once it ended: the write it answers has been applied. */
function mayStart(lane: Lane, isSafe: boolean): boolean {
  for (const started of lane.started as Turn[]) {
    if (started.writableEnded) continue
    if (!isSafe || started[unsafeKey] === true) return false
  }
  return true
}

/**
 * What Node's parser lets through but herd must not serve: an HTTP/1.1
 * request without Host (RFC 9112 3.2), and a body in a coding herd does not
 * decode (RFC 9112 6.1 and RFC 9110 8.4), which would otherwise be stored
 * still encoded as if it were the data.
 */
function refuseFraming(req: IncomingMessage): HerdError | null {
  const host = req.headers.host
  if (host === undefined) {
    if (req.httpVersion === '1.1') return new HerdError('BadArguments', 'an HTTP/1.1 request needs a Host header')
  } else {
    // Clients send the same Host on every request of a connection: check it once.
    const lane = laneOf(req.socket)
    if (lane.host !== host) {
      if (!isValidHost(host)) return new HerdError('BadArguments', `the Host header ${JSON.stringify(host.slice(0, 64))} is not a host[:port]`)
      lane.host = host
    }
  }
  const transfer = req.headers['transfer-encoding']
  if (transfer !== undefined && transfer.trim().toLowerCase() !== 'chunked') {
    return new HerdError('Unimplemented', `transfer coding ${JSON.stringify(transfer.slice(0, 64))} is not supported (only chunked)`)
  }
  const content = req.headers['content-encoding']
  if (content !== undefined && content.trim().toLowerCase() !== 'identity') {
    return new HerdError('UnsupportedMediaType', `content coding ${JSON.stringify(content.slice(0, 64))} is not supported: send the body unencoded`)
  }
  return null
}

/** RFC 9112 3.2: an invalid Host value is a 400. A registered name or an IP literal, and a port up to 65535. */
const hostPattern = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::(\d{1,5}))?$/

function isValidHost(host: string): boolean {
  const match = hostPattern.exec(host)
  return match !== null && (match[1] === undefined || Number(match[1]) <= 65535)
}

function problemResponse(error: HerdError, zxid: number): Response {
  return new Response(JSON.stringify(problemBody(error, zxid)), { status: statusOf[error.code], headers: problemHeaders(error, zxid) })
}

function writeProblem(res: ServerResponse, error: HerdError, zxid: number): void {
  const body = JSON.stringify(problemBody(error, zxid))
  res.writeHead(statusOf[error.code], { ...problemHeaders(error, zxid), 'content-length': Buffer.byteLength(body), connection: 'close' })
  res.end(body)
}
