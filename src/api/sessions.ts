// Sessions over HTTP: open (POST /sessions), heartbeat, close, and the
// session's ephemerals. The id and secret pair is ZooKeeper's session id and
// password: any call that names a session must present both.
import { HerdError } from '../errors.ts'
import type { ApiDeps } from './deps.ts'
import { json } from './reply.ts'
import { integerParam, jsonInteger, jsonObject, parseQuery, queryValue, rawTarget, readJson, sessionId, sessionSecret, type Ctx } from './request.ts'

export async function createSession(c: Ctx, deps: ApiDeps): Promise<Response> {
  parseQuery(rawTarget(c).search, [])
  if (c.req.header('idempotency-key') !== undefined) {
    throw new HerdError('BadArguments', 'a session cannot be created idempotently (its secret is shown once); a session left unused simply expires')
  }
  const { value } = await readJson(c, deps.config.requestBytesMax)
  const body = value === undefined ? {} : jsonObject(value, 'the body', ['timeoutMs'])
  const requested = jsonInteger(body, 'timeoutMs', 'the body', 1, 86_400_000)
  const session = await deps.sessions.create(requested)
  return json(deps, 201, session, { location: `/sessions/${session.id}` })
}

export function heartbeat(c: Ctx, deps: ApiDeps): Response {
  parseQuery(rawTarget(c).search, [])
  const id = sessionId(c.req.param('id') ?? '', 'the session id')
  const { timeoutMs } = deps.sessions.heartbeat(id, sessionSecret(c))
  return json(deps, 200, { id, timeoutMs })
}

export async function closeSession(c: Ctx, deps: ApiDeps): Promise<Response> {
  parseQuery(rawTarget(c).search, [])
  const id = sessionId(c.req.param('id') ?? '', 'the session id')
  const { zxid, deleted } = await deps.sessions.close(id, sessionSecret(c))
  return json(deps, 200, { id, zxid, deleted })
}

export async function getEphemerals(c: Ctx, deps: ApiDeps): Promise<Response> {
  const query = parseQuery(rawTarget(c).search, ['prefix', 'minZxid'])
  const id = sessionId(c.req.param('id') ?? '', 'the session id')
  deps.sessions.authenticate(id, sessionSecret(c))
  const minZxid = integerParam(query, 'minZxid', 0, Number.MAX_SAFE_INTEGER)
  if (minZxid !== undefined) await deps.replica.waitForApplied(minZxid, deps.config.readWaitMsMax)
  const prefix = queryValue(query, 'prefix') ?? '/'
  return json(deps, 200, { id, paths: deps.replica.tree.getEphemerals(id, prefix) })
}
