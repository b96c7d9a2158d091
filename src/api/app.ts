// The client port's routes. Every route is registered on the Hono app,
// which defines the whole API: in-process tests drive it with app.request(),
// and the client port hands it everything but the /znodes fast path.
//
// The fast path (serveNode) carries GET, PUT and DELETE on /znodes straight
// from node:http to the same handlers, skipping the Fetch API objects that
// Hono's Node adapter builds for every request: measured on this 2-core
// machine at 64 connections, a getData went from about 18k to about 28k
// requests/s (the adapter and Hono cost roughly a third of a read's CPU).
// Requests with an Origin header take the Hono path when CORS is on, so
// CORS is handled in one place. serveZnodes is the same fast path for
// ../http/fast-http.ts, which reads well-formed /znodes requests off the socket
// without node:http at all.
//
// Middleware order on the Hono path: a guard rejects request targets a URL
// parser would rewrite (so routing and the raw target agree), CORS (only for
// configured origins), the routes, then 405/404 for everything else.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Hono, type MiddlewareHandler } from 'hono'
import { HerdError } from '../errors.ts'
import { addMember, clusterStatus, health, removeMember, sync } from './cluster.ts'
import type { ApiDeps } from './deps.ts'
import { honoRequest, toResponse, type Env } from './hono-http.ts'
import { nodeRequest, sendNode, type HttpRequest, type Reply } from '../http/index.ts'
import { multi, multiRead } from './multi.ts'
import { errorReply, problem } from './reply.ts'
import { checkTarget } from './request.ts'
import { closeSession, createSession, getEphemerals, heartbeat } from './sessions.ts'
import { WatchStreams } from './watch-stream.ts'
import { deleteZnode, readZnode, writeZnode, znodesPrefix } from './znodes.ts'

export interface Api {
  readonly app: Hono<Env>
  readonly streams: WatchStreams
  /** Serves a /znodes request straight from node:http; false when it belongs to the Hono app. */
  serveNode(req: IncomingMessage, res: ServerResponse): boolean
  /** The reply to a GET, PUT or DELETE on /znodes that no Hono middleware needs to see (the fast path, ../http/fast-http.ts). */
  serveZnodes(request: HttpRequest): Reply | Promise<Reply>
}

type RouteHandler = (request: HttpRequest) => Reply | Promise<Reply>

const exposedHeaders = 'ETag, Location, Herd-Zxid, Herd-Stat, Idempotent-Replayed, Retry-After'
const allowedHeaders = 'Content-Type, If-Match, If-None-Match, Idempotency-Key, Herd-Session, Herd-Session-Secret, Last-Event-ID, Authorization'

const allowedMethods: ReadonlyArray<readonly [RegExp, string]> = [
  [/^\/znodes(?:\/.*)?$/, 'GET, HEAD, PUT, DELETE, OPTIONS'],
  [/^\/(?:multi|multi-read|sync|sessions)$/, 'POST, OPTIONS'],
  [/^\/sessions\/[^/]+\/(?:heartbeat|close)$/, 'POST, OPTIONS'],
  [/^\/sessions\/[^/]+\/ephemerals$/, 'GET, HEAD, OPTIONS'],
  [/^\/(?:cluster|health)$/, 'GET, HEAD, OPTIONS'],
  [/^\/cluster\/members$/, 'POST, OPTIONS'],
  [/^\/cluster\/members\/[^/]+$/, 'DELETE, OPTIONS'],
]

export function createApp(deps: ApiDeps): Api {
  const app = new Hono<Env>()
  const streams = new WatchStreams(deps)
  const isCorsOn = deps.config.corsOrigins.length > 0

  /** Runs a handler; whatever it throws becomes a problem reply here, for both transports. */
  const run = (handler: RouteHandler, request: HttpRequest): Reply | Promise<Reply> => {
    // A serving thread first catches up with what the replica it follows had
    // applied when the request arrived (usually it already has, and this costs
    // one read of shared memory); later writes need not hold it up.
    const behind = deps.replica.caughtUp()
    if (behind !== null) return behind.then(() => handle(handler, request), (error: unknown) => errorReply(deps, request, error))
    return handle(handler, request)
  }
  const handle = (handler: RouteHandler, request: HttpRequest): Reply | Promise<Reply> => {
    try {
      const reply = handler(request)
      return reply instanceof Promise ? reply.catch((error: unknown) => errorReply(deps, request, error)) : reply
    } catch (error) {
      return errorReply(deps, request, error)
    }
  }
  const viaHono = (handler: RouteHandler) => async (c: Parameters<MiddlewareHandler<Env>>[0]) => toResponse(await run(handler, honoRequest(c)))

  const znodeRoutes: Record<string, RouteHandler> = {
    GET: (request) => readZnode(request, deps, streams),
    PUT: (request) => writeZnode(request, deps),
    DELETE: (request) => deleteZnode(request, deps),
  }

  app.use(guard)
  if (isCorsOn) app.use(cors(new Set(deps.config.corsOrigins), () => deps.replica.appliedZxid))
  for (const [method, handler] of Object.entries(znodeRoutes)) {
    app.on(method, [znodesPrefix, `${znodesPrefix}/*`], viaHono(handler))
  }
  app.post('/multi', viaHono((request) => multi(request, deps)))
  app.post('/multi-read', viaHono((request) => multiRead(request, deps)))
  app.post('/sessions', viaHono((request) => createSession(request, deps)))
  app.post('/sessions/:id/heartbeat', viaHono((request) => heartbeat(request, deps)))
  app.post('/sessions/:id/close', viaHono((request) => closeSession(request, deps)))
  app.get('/sessions/:id/ephemerals', viaHono((request) => getEphemerals(request, deps)))
  app.post('/sync', viaHono((request) => sync(request, deps)))
  app.get('/cluster', viaHono((request) => clusterStatus(request, deps)))
  app.post('/cluster/members', viaHono((request) => addMember(request, deps)))
  app.delete('/cluster/members/:id', viaHono((request) => removeMember(request, deps)))
  app.get('/health', viaHono((request) => health(request, deps)))

  app.options('*', (c) => {
    const { pathname } = honoRequest(c).target
    const allow = allowedMethods.find(([pattern]) => pattern.test(pathname))?.[1]
    if (allow === undefined) throw new HerdError('NotFound', `no route ${pathname.slice(0, 200)}`)
    return new Response(null, { status: 204, headers: { allow, 'herd-zxid': String(deps.replica.appliedZxid) } })
  })
  app.notFound((c) => {
    const { pathname } = honoRequest(c).target
    const allow = allowedMethods.find(([pattern]) => pattern.test(pathname))?.[1]
    if (allow !== undefined) {
      return toResponse(problem(deps, new HerdError('MethodNotAllowed', `${c.req.method} is not allowed on ${pathname}`), { allow }))
    }
    return toResponse(problem(deps, new HerdError('NotFound', `no route ${c.req.method} ${pathname.slice(0, 200)}`)))
  })
  app.onError((error, c) => toResponse(errorReply(deps, honoRequest(c), error)))

  const serveNode = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url
    if (url === undefined || !url.startsWith(znodesPrefix)) return false
    const next = url.charCodeAt(znodesPrefix.length)
    // "/znodes", "/znodes/...", "/znodes?..." but not "/znodesx"
    if (!(Number.isNaN(next) || next === 0x2f || next === 0x3f)) return false
    const handler = znodeRoutes[req.method ?? '']
    if (handler === undefined) return false
    if (isCorsOn && req.headers.origin !== undefined) return false
    const reply = serveWith(handler, nodeRequest(req))
    if (reply instanceof Promise) void reply.then((settled) => sendNode(res, settled))
    else sendNode(res, reply)
    return true
  }

  const serveWith = (handler: RouteHandler, request: HttpRequest): Reply | Promise<Reply> => {
    try {
      checkTarget(request.target)
      return run(handler, request)
    } catch (error) {
      return errorReply(deps, request, error)
    }
  }

  const serveZnodes = (request: HttpRequest): Reply | Promise<Reply> => {
    const handler = znodeRoutes[request.method]
    if (handler === undefined) return errorReply(deps, request, new HerdError('MethodNotAllowed', `${request.method} is not allowed on ${request.target.pathname}`))
    return serveWith(handler, request)
  }

  return { app, streams, serveNode, serveZnodes }
}

const guard: MiddlewareHandler<Env> = async (c, next) => {
  checkTarget(honoRequest(c).target)
  await next()
}

/** `appliedZxid` because a preflight answer is a response too, and every response says the zxid. */
function cors(origins: ReadonlySet<string>, appliedZxid: () => number): MiddlewareHandler<Env> {
  return async (c, next): Promise<Response | void> => {
    const origin = c.req.header('origin')
    const isAllowed = origin !== undefined && origins.has(origin)
    if (c.req.method === 'OPTIONS' && isAllowed && c.req.header('access-control-request-method') !== undefined) {
      return new Response(null, {
        status: 204,
        headers: {
          'access-control-allow-origin': origin,
          'access-control-allow-methods': 'GET, HEAD, PUT, POST, DELETE, OPTIONS',
          'access-control-allow-headers': allowedHeaders,
          'access-control-max-age': '600',
          'herd-zxid': String(appliedZxid()),
          vary: 'Origin',
        },
      })
    }
    await next()
    if (isAllowed) {
      c.res.headers.set('access-control-allow-origin', origin)
      c.res.headers.set('access-control-expose-headers', exposedHeaders)
      c.res.headers.append('vary', 'Origin')
    }
    return undefined
  }
}
