// The client port's HTTP server: Node's http server under Hono, with every
// limit from config.ts applied, and errors that happen before any route
// (malformed HTTP, header overflow, slowloris timeouts, a target or Host
// that no URL can be built from, CONNECT, a body coding herd does not
// decode) answered as problem+json too.
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
import { problemBody, problemHeaders, rawProblemResponse, statusOf } from './problem.ts'
import type { Api } from './app.ts'

export interface ClientServer {
  readonly server: Server
  readonly url: string
  readonly port: number
  /** Stops accepting, lets in-flight requests finish, then closes idle and remaining connections. */
  close(graceMs: number): Promise<void>
}

export async function startClientServer(api: Api, config: Config, log: Logger, appliedZxid: () => number): Promise<ClientServer> {
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
  const server = createServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: Math.max(config.requestTimeoutMs, config.headersTimeoutMs + 1),
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
      inTurn(req, res, () => {
        if (!api.serveNode(req, res)) void listener(req, res)
      })
    },
  )
  server.maxHeadersCount = config.headersCountMax
  server.maxRequestsPerSocket = config.requestsPerSocketMax
  server.maxConnections = config.connectionsMax

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
    // arriving (if any) is the one this error is about.
    const waitingOn = [...(laneOf(socket)?.open ?? [])].filter((res) => res.req.complete)
    if (waitingOn.length === 0) {
      socket.end(reply)
      return
    }
    let left = waitingOn.length
    const onClosed = (): void => {
      if (--left > 0) return
      clearTimeout(timer)
      if (socket.writable) socket.end(reply)
      else socket.destroy()
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
    server.listen(config.clientPort, config.clientHost, () => {
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
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy()
      }, graceMs)
      timer.unref()
      await closed
      clearTimeout(timer)
    },
  }
}

/** A connection's requests that are started and not yet answered, and those not started yet. */
interface Lane {
  running: number
  runningUnsafe: number
  readonly waiting: Array<{ readonly isSafe: boolean; start(): void }>
  /** Started and not yet closed, so that an error reply can wait its turn. */
  readonly open: Set<ServerResponse>
}

// Kept on the socket and the response themselves: this runs for every
// request, and a property is cheaper than a WeakMap lookup or a closure.
const laneKey = Symbol('herd.lane')
const isSafeKey = Symbol('herd.isSafe')
type WithLane = { [laneKey]?: Lane }
type WithSafety = { [isSafeKey]?: boolean }
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS'])

function laneOf(socket: Socket): Lane | undefined {
  return (socket as WithLane)[laneKey]
}

/**
 * Runs a request when its turn on the connection comes (RFC 9112 9.3.2):
 * Node hands over pipelined requests as soon as they are parsed, but a
 * read that ran beside an earlier write on the same connection would be
 * served from a tree that write has not reached yet, after the client was
 * told the write succeeded. Safe requests may run side by side; none starts
 * while an earlier unsafe one is unanswered, and an unsafe one starts only
 * when every earlier one is answered. A connection without pipelining
 * starts every request at once.
 */
function inTurn(req: IncomingMessage, res: ServerResponse, start: () => void): void {
  const socket = req.socket as Socket & WithLane
  let lane = socket[laneKey]
  if (lane === undefined) {
    lane = { running: 0, runningUnsafe: 0, waiting: [], open: new Set() }
    socket[laneKey] = lane
  }
  const isSafe = safeMethods.has(req.method ?? '')
  ;(res as ServerResponse & WithLane & WithSafety)[laneKey] = lane
  ;(res as ServerResponse & WithSafety)[isSafeKey] = isSafe
  if (lane.waiting.length === 0 && mayStart(lane, isSafe)) {
    begin(lane, res, isSafe)
    start()
  } else {
    const waitingLane = lane
    lane.waiting.push({
      isSafe,
      start: () => {
        begin(waitingLane, res, isSafe)
        start()
      },
    })
  }
}

function begin(lane: Lane, res: ServerResponse, isSafe: boolean): void {
  lane.running++
  if (!isSafe) lane.runningUnsafe++
  lane.open.add(res)
  res.on('close', endTurn)
}

/** A response closed: its turn is over, and the next waiting requests may start. */
function endTurn(this: ServerResponse & WithLane & WithSafety): void {
  const lane = this[laneKey] as Lane
  lane.running--
  if (this[isSafeKey] !== true) lane.runningUnsafe--
  lane.open.delete(this)
  while (lane.waiting.length > 0 && mayStart(lane, (lane.waiting[0] as { isSafe: boolean }).isSafe)) (lane.waiting.shift() as { start(): void }).start()
}

function mayStart(lane: Lane, isSafe: boolean): boolean {
  return isSafe ? lane.runningUnsafe === 0 : lane.running === 0
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
  } else if (!isValidHost(host)) {
    return new HerdError('BadArguments', `the Host header ${JSON.stringify(host.slice(0, 64))} is not a host[:port]`)
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
