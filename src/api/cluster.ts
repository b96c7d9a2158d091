// Cluster status (GET /cluster), liveness (GET /health) and ZooKeeper's sync
// (POST /sync).
import type { ApiDeps } from './deps.ts'
import type { HttpRequest, Reply } from '../http/index.ts'
import { json } from './reply.ts'
import { HerdError } from '../errors.ts'
import { reportOf } from '../replication/index.ts'
import { flag, integer, jsonInteger, jsonObject, jsonString, parseQuery, readJson, refuseIfCutOff } from './request.ts'

/** How long GET /cluster waits for each other replica to report itself. */
const peerStatusTimeoutMs = 1000

export async function clusterStatus(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  const query = parseQuery(req.target.search, ['local'])
  const { replica } = deps
  // This replica's figures are taken together, before the others are asked:
  // the digest must be the one at appliedZxid.
  const status = replica.status()
  const own = {
    id: status.id,
    role: status.role,
    term: status.term,
    leader: status.leader,
    commitZxid: status.commitZxid,
    appliedZxid: status.appliedZxid,
    cutOff: status.isCutOff,
    digest: replica.tree.digest(),
    znodes: replica.tree.znodeCount,
    sessions: replica.tree.sessionCount,
  }
  const replicas = flag(query, 'local') ? [reportOf(status, own.digest)] : await replica.clusterStatus(peerStatusTimeoutMs)
  return json(deps, 200, { ...own, replicas })
}

/** POST /cluster/members: adds a voter, {id, host, port} of its peer port. */
export async function addMember(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  parseQuery(req.target.search, [])
  const { value } = await readJson(req, deps.config.requestBytesMax)
  const body = jsonObject(value, 'the body', ['id', 'host', 'port'])
  const id = jsonInteger(body, 'id', 'the body', 1, 254)
  const host = jsonString(body, 'host', 'the body')
  const port = jsonInteger(body, 'port', 'the body', 1, 65535)
  if (id === undefined || host === undefined || port === undefined || host === '' || host.length > 255) {
    throw new HerdError('BadArguments', 'the body is {"id": 1..254, "host": "<peer host>", "port": <peer port>}')
  }
  const done = await deps.replica.changeMembership({ add: { id, host, port } })
  return json(deps, 200, done)
}

/** DELETE /cluster/members/{id}: removes a voter. */
export async function removeMember(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  parseQuery(req.target.search, [])
  const id = integer(decodeURIComponent(req.target.pathname.slice('/cluster/members/'.length)), 'the replica id', 1, 254)
  const done = await deps.replica.changeMembership({ remove: id })
  return json(deps, 200, done)
}

/** Liveness; with ?ready, readiness to serve reads too (a cut-off replica is alive, and not ready). */
export function health(req: HttpRequest, deps: ApiDeps): Reply {
  const query = parseQuery(req.target.search, ['ready'])
  if (flag(query, 'ready')) refuseIfCutOff(deps)
  return json(deps, 200, { status: 'ok', zxid: deps.replica.appliedZxid })
}

export async function sync(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  parseQuery(req.target.search, [])
  const { value } = await readJson(req, deps.config.requestBytesMax)
  if (value !== undefined) jsonString(jsonObject(value, 'the body', ['path']), 'path', 'the body')
  const zxid = await deps.replica.sync(deps.config.readWaitMsMax)
  return json(deps, 200, { zxid })
}
