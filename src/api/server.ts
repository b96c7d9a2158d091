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
import type { Hono } from 'hono'
import type { Config } from '../config.ts'
import { HerdError, type ErrorCode } from '../errors.ts'
import type { Logger } from '../log.ts'
import { problemBody, problemHeaders, rawProblemResponse, statusOf } from './problem.ts'
import type { Env } from './request.ts'

export interface ClientServer {
  readonly server: Server
  readonly url: string
  readonly port: number
  /** Stops accepting, lets in-flight requests finish, then closes idle and remaining connections. */
  close(graceMs: number): Promise<void>
}

export async function startClientServer(app: Hono<Env>, config: Config, log: Logger, appliedZxid: () => number): Promise<ClientServer> {
  const listener = getRequestListener(app.fetch, {
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
      inTurn(req, res, () => void listener(req, res))
    },
  )
  server.maxHeadersCount = config.headersCountMax
  server.maxRequestsPerSocket = config.requestsPerSocketMax
  server.maxConnections = config.connectionsMax

  // Responses not yet finished, per connection, so an error reply can wait its turn.
  const owed = new WeakMap<Socket, Set<ServerResponse>>()
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let responses = owed.get(req.socket)
    if (responses === undefined) {
      responses = new Set()
      owed.set(req.socket, responses)
    }
    const set = responses
    set.add(res)
    res.once('close', () => set.delete(res))
  })
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
    const waitingOn = [...(owed.get(socket) ?? [])].filter((res) => res.req.complete)
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
}

const lanes = new WeakMap<Socket, Lane>()
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS'])

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
  let lane = lanes.get(req.socket)
  if (lane === undefined) {
    lane = { running: 0, runningUnsafe: 0, waiting: [] }
    lanes.set(req.socket, lane)
  }
  const isSafe = safeMethods.has(req.method ?? '')
  const run = (): void => {
    lane.running++
    if (!isSafe) lane.runningUnsafe++
    res.once('close', () => {
      lane.running--
      if (!isSafe) lane.runningUnsafe--
      while (lane.waiting.length > 0 && mayStart(lane, (lane.waiting[0] as { isSafe: boolean }).isSafe)) (lane.waiting.shift() as { start(): void }).start()
    })
    start()
  }
  if (lane.waiting.length === 0 && mayStart(lane, isSafe)) run()
  else lane.waiting.push({ isSafe, start: run })
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
  if (req.httpVersion === '1.1' && req.headers.host === undefined) return new HerdError('BadArguments', 'an HTTP/1.1 request needs a Host header')
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

function problemResponse(error: HerdError, zxid: number): Response {
  return new Response(JSON.stringify(problemBody(error, zxid)), { status: statusOf[error.code], headers: problemHeaders(error, zxid) })
}

function writeProblem(res: ServerResponse, error: HerdError, zxid: number): void {
  const body = JSON.stringify(problemBody(error, zxid))
  res.writeHead(statusOf[error.code], { ...problemHeaders(error, zxid), 'content-length': Buffer.byteLength(body), connection: 'close' })
  res.end(body)
}
