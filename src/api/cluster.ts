// Cluster status (GET /cluster), liveness (GET /health) and ZooKeeper's sync
// (POST /sync).
import type { ApiDeps } from './deps.ts'
import type { HttpRequest, Reply } from './http.ts'
import { json } from './reply.ts'
import { jsonObject, jsonString, parseQuery, readJson } from './request.ts'

/** How long GET /cluster waits for each other replica to report itself. */
const peerStatusTimeoutMs = 1000

export async function clusterStatus(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  parseQuery(req.target.search, [])
  const { replica } = deps
  const status = replica.status()
  const replicas = await replica.clusterStatus(peerStatusTimeoutMs)
  return json(deps, 200, {
    id: status.id,
    role: status.role,
    term: status.term,
    leader: status.leader,
    commitZxid: status.commitZxid,
    appliedZxid: status.appliedZxid,
    digest: replica.tree.digest(),
    znodes: replica.tree.znodeCount,
    sessions: replica.tree.sessionCount,
    replicas,
  })
}

export function health(req: HttpRequest, deps: ApiDeps): Reply {
  parseQuery(req.target.search, [])
  return json(deps, 200, { status: 'ok', zxid: deps.replica.appliedZxid })
}

export async function sync(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  parseQuery(req.target.search, [])
  const { value } = await readJson(req, deps.config.requestBytesMax)
  if (value !== undefined) jsonString(jsonObject(value, 'the body', ['path']), 'path', 'the body')
  const zxid = await deps.replica.sync(deps.config.readWaitMsMax)
  return json(deps, 200, { zxid })
}
