// The client port's Hono app: middleware order, routes, and the one error
// handler. Order: a guard rejects request targets a URL parser would rewrite
// (so routing and the raw target agree), CORS (only for configured origins),
// the routes, then 405/404 for everything else.
import { Hono, type MiddlewareHandler } from 'hono'
import { HerdError, isHerdError } from '../errors.ts'
import { clusterStatus, health, sync } from './cluster.ts'
import type { ApiDeps } from './deps.ts'
import { multi, multiRead } from './multi.ts'
import { statusOf } from './problem.ts'
import { problem } from './reply.ts'
import { checkTarget, rawTarget, type Env } from './request.ts'
import { closeSession, createSession, getEphemerals, heartbeat } from './sessions.ts'
import { WatchStreams } from './watch-stream.ts'
import { deleteZnode, readZnode, writeZnode } from './znodes.ts'

export interface Api {
  readonly app: Hono<Env>
  readonly streams: WatchStreams
}

const exposedHeaders = 'ETag, Location, Herd-Zxid, Herd-Stat, Idempotent-Replayed, Retry-After'
const allowedHeaders = 'Content-Type, If-Match, If-None-Match, Idempotency-Key, Herd-Session, Herd-Session-Secret, Last-Event-ID, Authorization'

export function createApp(deps: ApiDeps): Api {
  const app = new Hono<Env>()
  const streams = new WatchStreams(deps)
  let requestCount = 0

  app.use(guard)
  if (deps.config.corsOrigins.length > 0) app.use(cors(new Set(deps.config.corsOrigins), () => deps.replica.appliedZxid))

  app.get('/znodes', (c) => readZnode(c, deps, streams))
  app.get('/znodes/*', (c) => readZnode(c, deps, streams))
  app.put('/znodes', (c) => writeZnode(c, deps))
  app.put('/znodes/*', (c) => writeZnode(c, deps))
  app.delete('/znodes', (c) => deleteZnode(c, deps))
  app.delete('/znodes/*', (c) => deleteZnode(c, deps))
  app.post('/multi', (c) => multi(c, deps))
  app.post('/multi-read', (c) => multiRead(c, deps))
  app.post('/sessions', (c) => createSession(c, deps))
  app.post('/sessions/:id/heartbeat', (c) => heartbeat(c, deps))
  app.post('/sessions/:id/close', (c) => closeSession(c, deps))
  app.get('/sessions/:id/ephemerals', (c) => getEphemerals(c, deps))
  app.post('/sync', (c) => sync(c, deps))
  app.get('/cluster', (c) => clusterStatus(c, deps))
  app.get('/health', (c) => health(c, deps))

  const allowed: ReadonlyArray<readonly [RegExp, string]> = [
    [/^\/znodes(?:\/.*)?$/, 'GET, HEAD, PUT, DELETE, OPTIONS'],
    [/^\/(?:multi|multi-read|sync|sessions)$/, 'POST, OPTIONS'],
    [/^\/sessions\/[^/]+\/(?:heartbeat|close)$/, 'POST, OPTIONS'],
    [/^\/sessions\/[^/]+\/ephemerals$/, 'GET, HEAD, OPTIONS'],
    [/^\/(?:cluster|health)$/, 'GET, HEAD, OPTIONS'],
  ]
  app.options('*', (c) => {
    const allow = allowed.find(([pattern]) => pattern.test(rawTarget(c).pathname))?.[1]
    if (allow === undefined) throw new HerdError('NotFound', `no route ${rawTarget(c).pathname}`)
    return new Response(null, { status: 204, headers: { allow, 'herd-zxid': String(deps.replica.appliedZxid) } })
  })
  app.notFound((c) => {
    const { pathname } = rawTarget(c)
    const allow = allowed.find(([pattern]) => pattern.test(pathname))?.[1]
    if (allow !== undefined) {
      return problem(deps, new HerdError('MethodNotAllowed', `${c.req.method} is not allowed on ${pathname}`), { allow })
    }
    return problem(deps, new HerdError('NotFound', `no route ${c.req.method} ${pathname.slice(0, 200)}`))
  })
  app.onError((error, c) => {
    if (isHerdError(error)) {
      const status = statusOf[error.code]
      if (status >= 500) deps.log.warn(`${c.req.method} ${rawTarget(c).pathname.slice(0, 200)}: ${error.message}`)
      // A body we stopped reading cannot leave the connection reusable.
      return problem(deps, error, error.code === 'PayloadTooLarge' ? { connection: 'close' } : undefined)
    }
    const id = ++requestCount
    deps.log.error(`request #${id} ${c.req.method} ${rawTarget(c).pathname.slice(0, 200)} failed: ${(error as Error).stack ?? String(error)}`)
    return problem(deps, new HerdError('SystemError', `internal error (#${id} in this server's log)`))
  })
  return { app, streams }
}

const guard: MiddlewareHandler<Env> = async (c, next) => {
  checkTarget(rawTarget(c))
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
