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
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
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
  const server: Server = createServer({ requestTimeout: 60_000, headersTimeout: 10_000, keepAliveTimeout: 65_000 }, (request, response) => {
    void serve(options, secret, request, response).catch((error: unknown) => {
      options.log.error(`peer request ${request.url ?? ''} failed: ${(error as Error)?.stack ?? String(error)}`)
      if (!response.headersSent) problem(response, 500, 'SystemError', 'internal error')
      else response.destroy()
    })
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
      }),
  }
}

async function serve(options: PeerServerOptions, secret: Buffer, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const given = Buffer.from(String(request.headers[peerHeaders.secret] ?? ''), 'utf8')
  if (given.length !== secret.length || !timingSafeEqual(given, secret)) {
    request.resume()
    return problem(response, 401, 'AuthFailed', 'the cluster secret is missing or wrong')
  }
  const from = Number(request.headers[peerHeaders.from])
  if (!Number.isInteger(from) || !options.handler.isMember(from)) {
    request.resume()
    return problem(response, 403, 'NoAuth', `replica ${String(request.headers[peerHeaders.from])} is not a member of this cluster`)
  }
  const to = Number(request.headers[peerHeaders.to])
  if (to !== options.selfId) {
    request.resume()
    return problem(response, 421, 'BadArguments', `this is replica ${options.selfId}, not ${String(request.headers[peerHeaders.to])}`)
  }
  if (request.method !== 'POST') {
    request.resume()
    return problem(response, 405, 'BadArguments', 'peer requests are POSTs')
  }
  // A declared length over the limit is refused before any of the body is
  // read (and the connection closed, as the body is never drained): waiting
  // for it would hold the request open until the request timeout.
  if (Number(request.headers['content-length'] ?? 0) > peerBodyBytesMax) {
    return problem(response, 413, 'BadArguments', `a peer request holds at most ${peerBodyBytesMax} bytes`, true)
  }
  const body = await readBody(request)
  if (body === 'aborted') {
    // The sender went away mid-body (a peer killed while sending, a cut
    // connection): there is nobody to answer, and nothing went wrong here.
    options.log.debug(`peer request ${request.url ?? ''} from replica ${from} was cut short by its sender`)
    return
  }
  if (body === null) return problem(response, 413, 'BadArguments', `a peer request holds at most ${peerBodyBytesMax} bytes`)
  if (request.headers[peerHeaders.checksum] !== bodyChecksum(body)) {
    return problem(response, 400, 'MarshallingError', 'the peer message fails its checksum (corrupted on its way, or sent without one)')
  }
  let value: unknown
  try {
    value = decodeValue(body)
  } catch (error) {
    if (error instanceof CodecError) return problem(response, 400, 'MarshallingError', `malformed peer message: ${error.message}`)
    throw error
  }
  const url = request.url ?? ''
  if (url === '/raft') {
    try {
      options.handler.receive(from, value)
    } catch (error) {
      if (isHerdError(error)) return problem(response, statusOf[error.code] ?? 400, error.code, error.detail)
      throw error
    }
    if (options.answers === undefined) response.writeHead(204).end()
    else options.answers.hold(from, (bytes) => answerMessages(response, bytes))
    return
  }
  if (url.startsWith('/call/')) {
    try {
      const result = await options.handler.call(from, url.slice('/call/'.length), value)
      const bytes = encodeValue(result)
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.byteLength, [peerHeaders.checksum]: bodyChecksum(bytes) }).end(bytes)
    } catch (error) {
      if (!isHerdError(error)) throw error
      problem(response, statusOf[error.code] ?? 409, error.code, error.detail)
    }
    return
  }
  problem(response, 404, 'BadArguments', `no peer route ${url}`)
}

/** Sends a held answer to a consensus request; false when its connection is gone. */
function answerMessages(response: ServerResponse, bytes: Uint8Array | null): boolean {
  if (response.destroyed || response.writableEnded) return false
  if (bytes === null) response.writeHead(204).end()
  else response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.byteLength, [peerHeaders.checksum]: bodyChecksum(bytes) }).end(bytes)
  return true
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

function problem(response: ServerResponse, status: number, code: ErrorCode, detail: string, isClosing = false): void {
  const body = JSON.stringify({ code, detail })
  const headers = { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), ...(isClosing ? { connection: 'close' } : {}) }
  response.writeHead(status, headers).end(body)
}

