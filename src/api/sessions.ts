// Sessions over HTTP: open (POST /sessions), heartbeat, close, and the
// session's ephemerals. The id and secret pair is ZooKeeper's session id and
// password: any call that names a session must present both.
import { HerdError } from '../errors.ts'
import type { ApiDeps } from './deps.ts'
import type { HttpRequest, Reply } from '../http/index.ts'
import { json } from './reply.ts'
import { integerParam, jsonInteger, jsonObject, parseQuery, queryValue, readBarrier, readJson, sessionId, sessionSecret } from './request.ts'

export async function createSession(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  parseQuery(req.target.search, [])
  if (req.header('idempotency-key') !== undefined) {
    throw new HerdError('BadArguments', 'a session cannot be created idempotently (its secret is shown once); a session left unused simply expires')
  }
  const { value } = await readJson(req, deps.config.requestBytesMax)
  const body = value === undefined ? {} : jsonObject(value, 'the body', ['timeoutMs'])
  const requested = jsonInteger(body, 'timeoutMs', 'the body', 1, 86_400_000)
  const session = await deps.sessions.create(requested)
  return json(deps, 201, session, { location: `/sessions/${session.id}` })
}

export async function heartbeat(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  parseQuery(req.target.search, [])
  const id = sessionId(sessionIdOf(req), 'the session id')
  const { timeoutMs } = await deps.sessions.heartbeat(id, sessionSecret(req))
  return json(deps, 200, { id, timeoutMs })
}

export async function closeSession(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  parseQuery(req.target.search, [])
  const id = sessionId(sessionIdOf(req), 'the session id')
  const { zxid, deleted } = await deps.sessions.close(id, sessionSecret(req))
  return json(deps, 200, { id, zxid, deleted })
}

export async function getEphemerals(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  const query = parseQuery(req.target.search, ['prefix', 'minZxid', 'linearizable', 'stale'])
  const id = sessionId(sessionIdOf(req), 'the session id')
  deps.sessions.authenticate(id, sessionSecret(req))
  await readBarrier(query, deps)
  const prefix = queryValue(query, 'prefix') ?? '/'
  return json(deps, 200, { id, paths: deps.replica.tree.getEphemerals(id, prefix) })
}

/** The id in /sessions/<id>/...: taken from the raw target, like every other part of a request. */
function sessionIdOf(req: HttpRequest): string {
  return req.target.pathname.split('/')[2] ?? ''
}
