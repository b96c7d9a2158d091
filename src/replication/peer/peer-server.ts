// The receiving side of the peer port: a small node:http server, separate
// from the client port. Every request must carry the cluster's secret and
// name a member as its sender and this replica as its target; anything else
// is refused before its body is read. Bodies are bounded, checked against
// their crc32 header (and call answers carry one), decoded with the value
// codec, and handed to the replica, which checks their shape: a malformed
// or corrupted message is a 400, never a crash, and is never stepped.
//
//   POST /raft           consensus messages (an array), answered 204, or 200
//                        with messages back to the sender (see `answers`)
//   POST /call/<method>  a call (forwarded write, read index, heartbeat, ...)
//                        answered 200 with the encoded result, or a problem
//
// Well-formed requests that pass those header checks are read off the
// socket by the client port's fast path (http/fast-http.ts), without
// node:http, which cost about 45 µs of CPU per request; at the first other
// request (a refusal, a body over 16 MiB, anything malformed) the
// connection goes to node:http, which answers it as it always has. Both
// serve a request through `handle`.
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { installFastPath, nodeRequest, sendNode, type FastRequest, type FastRoutes, type Reply } from '../../http/index.ts'
import { isHerdError, type ErrorCode } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import { CodecError } from '../../tree/index.ts'
import { bodyChecksum, peerBodyBytesMax, peerHeaders, type Answer } from './peer-client.ts'
import { decodeValue, encodeValue } from './value-codec.ts'

export interface PeerHandler {
  isMember(id: number): boolean
  /** Consensus messages from a member, not yet checked for shape. */
  receive(from: number, messages: unknown): void
  call(from: number, method: string, args: unknown): Promise<unknown>
}

export interface PeerServerOptions {
  readonly selfId: number
  readonly secret: string
  readonly host: string
  readonly port: number
  readonly log: Logger
  readonly handler: PeerHandler
  /**
   * Takes the answers to consensus requests, to carry this replica's next
   * messages back to their sender (the peer client). Without it they are
   * answered 204 at once.
   */
  readonly answers?: { hold(from: number, answer: Answer): void }
  /** Whether well-formed requests are read off the socket (the default) or all go through node:http. */
  readonly isFastPathOn?: boolean
}

export interface PeerServer {
  readonly port: number
  close(): Promise<void>
}

const statusOf: Partial<Record<ErrorCode, number>> = {
  BadArguments: 400,
  MarshallingError: 400,
  ConnectionLoss: 503,
  OperationTimeout: 504,
  Throttled: 429,
}

export async function startPeerServer(options: PeerServerOptions): Promise<PeerServer> {
  const secret = Buffer.from(options.secret, 'utf8')
  const timeouts = { requestTimeout: 60_000, headersTimeout: 10_000, keepAliveTimeout: 65_000 }
  const server: Server = createServer(timeouts, (request, response) => {
    void serveNode(options, secret, request, response).catch((error: unknown) => {
      options.log.error(`peer request ${request.url ?? ''} failed: ${(error as Error)?.stack ?? String(error)}`)
      if (!response.headersSent) sendNode(response, problem(500, 'SystemError', 'internal error'))
      else response.destroy()
    })
  })
  const routes: FastRoutes = {
    requestLine: /^(POST) (\/raft|\/call\/[\x21-\x7e]+) HTTP\/1\.1$/,
    bodyMethod: 'POST',
    // Consensus requests are pipelined and an answer may be held: each is taken at once, as node:http takes them.
    isSafe: () => true,
    admits: (headers) => refusal(options, secret, (name) => headers[name]) === null,
  }
  const fast = options.isFastPathOn === false ? null : installFastPath(server, {
    routes,
    headerBytesMax: 16 * 1024,
    headersCountMax: 64,
    requestBytesMax: fastBodyBytesMax,
    headersTimeoutMs: timeouts.headersTimeout,
    requestTimeoutMs: timeouts.requestTimeout,
    keepAliveTimeoutMs: timeouts.keepAliveTimeout,
    isCorsOn: false,
    problem: (error) => problem(error.code === 'RequestTimeout' ? 408 : 500, error.code, error.detail),
    isValidHost: (host) => host !== '',
    serve: (request) => serveFast(options, request),
    onBug: (error) => options.log.error(`peer connection dropped: ${(error as Error)?.stack ?? String(error)}`),
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
        fast?.closeAll()
      }),
  }
}

/** Bodies the fast path reads whole before serving; longer ones (snapshots) stream in through node:http. */
const fastBodyBytesMax = 16 * 1024 * 1024

/** A request the fast path admitted: its headers passed `refusal`. */
function serveFast(options: PeerServerOptions, request: FastRequest): Reply | Promise<Reply> {
  const from = Number(request.header(peerHeaders.from))
  const failed = (error: unknown): Reply => {
    options.log.error(`peer request ${request.target.pathname} failed: ${(error as Error)?.stack ?? String(error)}`)
    return problem(500, 'SystemError', 'internal error')
  }
  try {
    const reply = handle(options, from, request.target.pathname, request.header(peerHeaders.checksum), request.bytes(), () => request.isGone())
    return reply instanceof Promise ? reply.catch(failed) : reply
  } catch (error) {
    return failed(error)
  }
}

async function serveNode(options: PeerServerOptions, secret: Buffer, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const headers = nodeRequest(request)
  const refused = refusal(options, secret, (name) => headers.header(name))
  if (refused !== null || request.method !== 'POST') {
    request.resume()
    return sendNode(response, refused ?? problem(405, 'BadArguments', 'peer requests are POSTs'))
  }
  // A declared length over the limit is refused before any of the body is
  // read (and the connection closed, as the body is never drained): waiting
  // for it would hold the request open until the request timeout.
  if (Number(request.headers['content-length'] ?? 0) > peerBodyBytesMax) {
    const reply = tooLarge()
    return sendNode(response, { ...reply, headers: { ...reply.headers, connection: 'close' } })
  }
  const from = Number(headers.header(peerHeaders.from))
  const body = await readBody(request)
  if (body === 'aborted') {
    // The sender went away mid-body (a peer killed while sending, a cut
    // connection): there is nobody to answer, and nothing went wrong here.
    options.log.debug(`peer request ${request.url ?? ''} from replica ${from} was cut short by its sender`)
    return
  }
  if (body === null) return sendNode(response, tooLarge())
  const reply = await handle(options, from, request.url ?? '', headers.header(peerHeaders.checksum), body, () => response.destroyed || response.writableEnded)
  if (!response.destroyed) sendNode(response, reply)
}

/**
 * Why a request is refused on its headers alone, before its body is read:
 * no secret or the wrong one, a sender that is not a member, another
 * target. Null when it is not.
 */
function refusal(options: PeerServerOptions, secret: Buffer, header: (name: string) => string | undefined): Reply | null {
  const given = Buffer.from(header(peerHeaders.secret) ?? '', 'utf8')
  if (given.length !== secret.length || !timingSafeEqual(given, secret)) return problem(401, 'AuthFailed', 'the cluster secret is missing or wrong')
  const from = Number(header(peerHeaders.from))
  if (!Number.isInteger(from) || !options.handler.isMember(from)) return problem(403, 'NoAuth', `replica ${String(header(peerHeaders.from))} is not a member of this cluster`)
  const to = Number(header(peerHeaders.to))
  if (to !== options.selfId) return problem(421, 'BadArguments', `this is replica ${options.selfId}, not ${String(header(peerHeaders.to))}`)
  return null
}

/**
 * Serves a request whose headers passed `refusal`: checks its body's
 * checksum and decodes it, then hands it to the replica. `isGone` tells
 * whether an answer can still reach the sender, for an answer held.
 */
function handle(options: PeerServerOptions, from: number, url: string, checksum: string | undefined, body: Uint8Array, isGone: () => boolean): Reply | Promise<Reply> {
  if (checksum !== bodyChecksum(body)) {
    return problem(400, 'MarshallingError', 'the peer message fails its checksum (corrupted on its way, or sent without one)')
  }
  let value: unknown
  try {
    value = decodeValue(body)
  } catch (error) {
    if (error instanceof CodecError) return problem(400, 'MarshallingError', `malformed peer message: ${error.message}`)
    throw error
  }
  if (url === '/raft') {
    try {
      options.handler.receive(from, value)
    } catch (error) {
      if (isHerdError(error)) return problem(statusOf[error.code] ?? 400, error.code, error.detail)
      throw error
    }
    const answers = options.answers
    if (answers === undefined) return noMessages
    return new Promise<Reply>((resolve) => {
      answers.hold(from, (bytes) => {
        if (isGone()) return false
        resolve(bytes === null ? noMessages : octets(bytes))
        return true
      })
    })
  }
  if (url.startsWith('/call/')) {
    return options.handler.call(from, url.slice('/call/'.length), value).then(
      (result) => octets(encodeValue(result)),
      (error: unknown) => {
        if (!isHerdError(error)) throw error
        return problem(statusOf[error.code] ?? 409, error.code, error.detail)
      },
    )
  }
  return problem(404, 'BadArguments', `no peer route ${url}`)
}

function tooLarge(): Reply {
  return problem(413, 'BadArguments', `a peer request holds at most ${peerBodyBytesMax} bytes`)
}

const noMessages: Reply = { status: 204, headers: {}, body: null }

/** An encoded answer, with its checksum. */
function octets(bytes: Uint8Array): Reply {
  return { status: 200, headers: { 'content-type': 'application/octet-stream', [peerHeaders.checksum]: bodyChecksum(bytes) }, body: bytes }
}

function problem(status: number, code: ErrorCode, detail: string): Reply {
  return { status, headers: { 'content-type': 'application/problem+json' }, body: JSON.stringify({ code, detail }) }
}

/** The body; null when it is over the limit, 'aborted' when the connection failed before its end. */
function readBody(request: IncomingMessage): Promise<Uint8Array | null | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let length = 0
    let isTooLarge = false
    request.on('data', (chunk: Buffer) => {
      length += chunk.length
      if (length > peerBodyBytesMax) {
        isTooLarge = true
        chunks.length = 0
        return
      }
      if (!isTooLarge) chunks.push(chunk)
    })
    request.on('end', () => resolve(isTooLarge ? null : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)))
    request.on('error', () => resolve('aborted'))
  })
}
