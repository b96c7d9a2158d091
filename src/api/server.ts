// The client port's HTTP server: Node's http server under Hono, with every
// limit from config.ts applied, and errors that happen before any route
// (malformed HTTP, header overflow, slowloris timeouts) answered as
// problem+json too.
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import type { Hono } from 'hono'
import type { Config } from '../config.ts'
import { HerdError, type ErrorCode } from '../errors.ts'
import type { Logger } from '../log.ts'
import { rawProblemResponse } from './problem.ts'
import type { Env } from './request.ts'

export interface ClientServer {
  readonly server: Server
  readonly url: string
  readonly port: number
  /** Stops accepting, lets in-flight requests finish, then closes idle and remaining connections. */
  close(graceMs: number): Promise<void>
}

export async function startClientServer(app: Hono<Env>, config: Config, log: Logger, appliedZxid: () => number): Promise<ClientServer> {
  const server = createAdaptorServer({
    fetch: app.fetch,
    serverOptions: {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: Math.max(config.requestTimeoutMs, config.headersTimeoutMs + 1),
      keepAliveTimeout: config.keepAliveTimeoutMs,
      maxHeaderSize: config.headerBytesMax,
      // How often Node checks the two timeouts above (its default, 30 s, would let a slowloris hold on far longer).
      connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
    },
  }) as Server
  server.maxHeadersCount = config.headersCountMax
  server.maxRequestsPerSocket = config.requestsPerSocketMax
  server.maxConnections = config.connectionsMax

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const code: ErrorCode =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'RequestTimeout' : error.code === 'HPE_HEADER_OVERFLOW' ? 'PayloadTooLarge' : 'BadArguments'
    const detail =
      code === 'RequestTimeout'
        ? 'the request was not received in time'
        : code === 'PayloadTooLarge'
          ? `the request headers exceed ${config.headerBytesMax} bytes`
          : `malformed HTTP request (${error.code ?? error.message})`
    log.debug(`client error from ${socket.remoteAddress}: ${error.code ?? error.message}`)
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    socket.end(rawProblemResponse(new HerdError(code, detail), appliedZxid()))
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
