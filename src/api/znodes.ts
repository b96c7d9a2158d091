// /znodes/<path>: ZooKeeper's znode operations as HTTP on one resource.
//   GET     getData (JSON or ?raw), ?stat exists, ?children getChildren2,
//           ?descendants getAllChildrenNumber, ?acl getACL, ?watch=... (watch-stream.ts)
//   PUT     create (create flags or If-None-Match: *), setData (If-Match or
//           ?version), upsert (neither), setACL (?acl)
//   DELETE  delete (If-Match or ?version)
// Reads are served from this replica's tree; writes become one log entry and
// are answered from that entry's apply result.
import { HerdError } from '../errors.ts'
import { openAcl, ttlMsMax, type Command, type Stat, type ZnodeKind } from '../tree/index.ts'
import type { Committed } from '../replication/index.ts'
import { aclJson, parseAclJson, parseAclText } from './acl.ts'
import type { ApiDeps } from './deps.ts'
import type { HttpRequest, Reply } from '../http/index.ts'
import { encodeData, etagOf, failureError, json, notModified, problem, statJson, type DataEncoding, type Headers } from './reply.ts'
import {
  caller,
  checkWritable,
  expectedVersion,
  flag,
  idempotencyClaim,
  ifNoneMatch,
  integerParam,
  jsonObject,
  parseQuery,
  queryValue,
  readBody,
  readJson,
  znodePath,
  type Query,
  readBarrier,
  refuseIfCutOff,
} from './request.ts'
import type { WatchStreams } from './watch-stream.ts'

export const znodesPrefix = '/znodes'

const readParams = ['minZxid', 'linearizable', 'stale', 'stat', 'children', 'descendants', 'acl', 'raw', 'encoding', 'limit', 'cursor', 'watch', 'zxid']
const writeParams = ['sequential', 'ephemeral', 'container', 'ttl', 'acl', 'version']
const deleteParams = ['version']
const views = ['stat', 'children', 'descendants', 'acl'] as const

export function readZnode(req: HttpRequest, deps: ApiDeps, streams: WatchStreams): Reply | Promise<Reply> {
  const { target } = req
  const path = znodePath(target.pathname, znodesPrefix, deps.config.pathBytesMax, false)
  // The common read, a plain getData, takes no detour (and no promise).
  if (target.search === '') {
    refuseIfCutOff(deps)
    return readData(req, deps, path, undefined)
  }
  const query = parseQuery(target.search, readParams)
  if (query.has('watch') && deps.replica.isCutOff && !flag(query, 'stale') && isEventSource(req)) return streams.retryLater(req, query)
  const barrier = readBarrier(query, deps)
  if (barrier !== null) return barrier.then(() => readView(req, deps, streams, path, query))
  return readView(req, deps, streams, path, query)
}

function readView(req: HttpRequest, deps: ApiDeps, streams: WatchStreams, path: string, query: Query): Reply | Promise<Reply> {
  const chosen = views.filter((view) => flag(query, view))
  if (chosen.length + (query.has('watch') ? 1 : 0) > 1) {
    throw new HerdError('BadArguments', 'give at most one of ?stat, ?children, ?descendants, ?acl, ?watch')
  }
  if (query.has('watch')) return streams.open(req, path, query)
  if (query.has('zxid')) throw new HerdError('BadArguments', 'zxid goes with ?watch (use minZxid to wait for a zxid before reading)')
  const view = chosen[0] ?? 'data'
  if (view !== 'children' && (query.has('limit') || query.has('cursor'))) throw new HerdError('BadArguments', 'limit and cursor go with ?children')
  if (view !== 'data' && (query.has('raw') || query.has('encoding'))) throw new HerdError('BadArguments', 'raw and encoding go with the data view')

  const tree = deps.replica.tree
  switch (view) {
    case 'stat': {
      const stat = tree.exists(path) ?? noNode(path)
      return conditional(req, deps, etagOf(stat.version)) ?? json(deps, 200, `{"path":${JSON.stringify(path)},"stat":${statJson(stat)}}`, { etag: etagOf(stat.version) })
    }
    case 'children': {
      const limit = integerParam(query, 'limit', 1, deps.config.childrenPageMax) ?? deps.config.childrenPageMax
      const page = tree.getChildren(path, queryValue(query, 'cursor') ?? null, limit) ?? noNode(path)
      const etag = `"c${page.stat.cversion}"`
      return conditional(req, deps, etag) ?? json(deps, 200, { path, children: page.children, stat: page.stat, next: page.next }, { etag })
    }
    case 'descendants': {
      const count = tree.countDescendants(path) ?? noNode(path)
      return json(deps, 200, { path, count })
    }
    case 'acl': {
      const view = tree.getAcl(path) ?? noNode(path)
      const etag = `"a${view.stat.aversion}"`
      return conditional(req, deps, etag) ?? json(deps, 200, { path, acl: aclJson(view.acl), stat: view.stat }, { etag })
    }
    case 'data':
      return readData(req, deps, path, query)
  }
}

/** getData, as JSON (the default) or raw bytes. */
function readData(req: HttpRequest, deps: ApiDeps, path: string, query: Query | undefined): Reply {
  const znode = deps.replica.tree.getData(path) ?? noNode(path)
  const etag = etagOf(znode.stat.version)
  const unchanged = conditional(req, deps, etag)
  if (unchanged !== null) return unchanged
  if ((query !== undefined && flag(query, 'raw')) || req.header('accept') === 'application/octet-stream') {
    if (query?.has('encoding') === true) throw new HerdError('BadArguments', 'encoding goes with the JSON representation, not raw')
    return {
      status: 200,
      headers: {
        'content-type': 'application/octet-stream',
        'herd-zxid': String(deps.replica.appliedZxid),
        'herd-stat': statJson(znode.stat),
        etag,
      },
      body: znode.data,
    }
  }
  const { data, encoding } = encodeData(znode.data, query === undefined ? undefined : dataEncoding(query))
  return json(deps, 200, `{"path":${JSON.stringify(path)},"data":${JSON.stringify(data)},"encoding":"${encoding}","stat":${statJson(znode.stat)}}`, { etag })
}

export async function writeZnode(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  const { target } = req
  const query = parseQuery(target.search, writeParams, ['acl'])
  const aclTexts = query.get('acl')
  if (aclTexts !== undefined && aclTexts.length === 1 && aclTexts[0] === '') return setAcl(req, deps, query)

  const isSequential = flag(query, 'sequential')
  const isEphemeral = flag(query, 'ephemeral')
  const isContainer = flag(query, 'container')
  const ttlMs = integerParam(query, 'ttl', 1, ttlMsMax)
  const version = expectedVersion(req, query)
  const isCreateOnly = createOnly(req)
  const isCreate = isSequential || isEphemeral || isContainer || ttlMs !== undefined || isCreateOnly
  if (isCreate && version !== undefined) {
    throw new HerdError('BadArguments', 'If-Match and version make a PUT a setData; create flags and If-None-Match make it a create: not both')
  }
  const path = checkWritable(znodePath(target.pathname, znodesPrefix, deps.config.pathBytesMax, isSequential), isSequential)
  if (aclTexts !== undefined && version !== undefined) throw new HerdError('BadArguments', 'acl is set on create; use PUT ?acl to change an ACL')
  const kind = znodeKind(isEphemeral, isContainer, ttlMs)
  if (isContainer && isSequential) throw new HerdError('BadArguments', 'a container cannot be sequential')
  if (kind === 'ttl' && !deps.config.ttlEnabled) throw new HerdError('Unimplemented', 'TTL znodes are disabled on this server')
  if (aclTexts !== undefined && aclTexts.length > deps.config.aclEntriesMax) {
    throw new HerdError('BadArguments', `an ACL has at most ${deps.config.aclEntriesMax} entries`)
  }
  const acl = aclTexts === undefined ? openAcl : aclTexts.map(parseAclText)
  const who = caller(req, deps)
  if (kind === 'ephemeral' && who.sessionId === 0) {
    throw new HerdError('BadArguments', 'an ephemeral znode needs a session: send Herd-Session and Herd-Session-Secret')
  }
  const data = await readBody(req, deps.config.requestBytesMax)
  if (data.byteLength > deps.config.dataBytesMax) {
    throw new HerdError('PayloadTooLarge', `znode data is limited to ${deps.config.dataBytesMax} bytes`, { limit: deps.config.dataBytesMax })
  }
  const command: Command = isCreate
    ? { type: 'create', path, data, acl, kind, isSequential, ttlMs: ttlMs ?? 0 }
    : version !== undefined
      ? { type: 'setData', path, data, version }
      : { type: 'put', path, data, acl }
  const committed = await deps.replica.submit({ caller: who, idempotency: idempotencyClaim(req, deps, data), command })
  return writeReply(deps, committed)
}

export async function deleteZnode(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  const { target } = req
  const query = parseQuery(target.search, deleteParams)
  const path = checkWritable(znodePath(target.pathname, znodesPrefix, deps.config.pathBytesMax, false), false)
  const version = expectedVersion(req, query) ?? -1
  const who = caller(req, deps)
  const body = await readBody(req, deps.config.requestBytesMax)
  if (body.byteLength > 0) throw new HerdError('BadArguments', 'DELETE takes no body')
  const committed = await deps.replica.submit({
    caller: who,
    idempotency: idempotencyClaim(req, deps, body),
    command: { type: 'delete', path, version },
  })
  return writeReply(deps, committed)
}

async function setAcl(req: HttpRequest, deps: ApiDeps, query: Query): Promise<Reply> {
  const { target } = req
  for (const name of ['sequential', 'ephemeral', 'container', 'ttl']) {
    if (query.has(name)) throw new HerdError('BadArguments', `${name} does not go with ?acl (setACL)`)
  }
  if (createOnly(req)) throw new HerdError('BadArguments', 'If-None-Match does not go with ?acl (setACL)')
  const path = checkWritable(znodePath(target.pathname, znodesPrefix, deps.config.pathBytesMax, false), false)
  const version = expectedVersion(req, query) ?? -1
  const who = caller(req, deps)
  const { value, bytes } = await readJson(req, deps.config.requestBytesMax)
  const body = jsonObject(value, 'the body', ['acl'])
  const acl = parseAclJson(body['acl'], deps.config.aclEntriesMax, 'acl')
  const committed = await deps.replica.submit({
    caller: who,
    idempotency: idempotencyClaim(req, deps, bytes),
    command: { type: 'setACL', path, acl, version },
  })
  return writeReply(deps, committed)
}

/** The answer to a committed znode write, from its apply result. */
function writeReply(deps: ApiDeps, committed: Committed): Reply {
  const { outcome, replayOf } = committed.applied
  const headers: Headers = replayOf !== null ? { 'idempotent-replayed': 'true' } : {}
  if (!outcome.ok) return problem(deps, failureError(outcome.failure), headers)
  // A replay answers with the first attempt's result, its zxid included.
  const zxid = replayOf ?? committed.zxid
  const result = outcome.result
  switch (result.type) {
    case 'create':
      return created(deps, result.path, result.stat, zxid, headers)
    case 'put':
      if (result.isCreated) return created(deps, result.path, result.stat, zxid, headers, true)
      headers['etag'] = etagOf(result.stat.version)
      return json(deps, 200, writeResult(result.path, result.stat, zxid, false), headers)
    case 'setData':
      headers['etag'] = etagOf(result.stat.version)
      return json(deps, 200, writeResult(result.path, result.stat, zxid, undefined), headers)
    case 'setACL':
      headers['etag'] = `"a${result.stat.aversion}"`
      return json(deps, 200, writeResult(result.path, result.stat, zxid, undefined), headers)
    case 'delete':
      return json(deps, 200, { path: result.path, zxid }, headers)
    default:
      throw new HerdError('SystemError', `unexpected result ${result.type} for a znode write`)
  }
}

function created(deps: ApiDeps, path: string, stat: Stat, zxid: number, headers: Headers, isUpsert?: boolean): Reply {
  headers['etag'] = etagOf(stat.version)
  headers['location'] = znodeUrl(path)
  return json(deps, 201, writeResult(path, stat, zxid, isUpsert === true ? true : undefined), headers)
}

/** The contract's WriteResult as JSON text (`created` only for an upsert). */
function writeResult(path: string, stat: Stat, zxid: number, isCreated: boolean | undefined): string {
  const created = isCreated === undefined ? '' : `,"created":${isCreated}`
  return `{"path":${JSON.stringify(path)},"stat":${statJson(stat)},"zxid":${zxid}${created}}`
}

/** The URL of a znode: each name percent-encoded, slashes kept. */
export function znodeUrl(path: string): string {
  return znodesPrefix + path.split('/').map(encodeURIComponent).join('/')
}

/** 304 when If-None-Match names the current ETag (or is *), else null. */
function conditional(req: HttpRequest, deps: ApiDeps, etag: string): Reply | null {
  const tags = ifNoneMatch(req)
  if (tags === undefined) return null
  return tags.includes(etag) || tags.includes('*') ? notModified(deps, etag) : null
}

function createOnly(req: HttpRequest): boolean {
  const header = req.header('if-none-match')
  if (header === undefined) return false
  if (header.trim() !== '*') throw new HerdError('BadArguments', 'on PUT, If-None-Match may only be * (create-only)')
  return true
}

function znodeKind(isEphemeral: boolean, isContainer: boolean, ttlMs: number | undefined): ZnodeKind {
  if ([isEphemeral, isContainer, ttlMs !== undefined].filter(Boolean).length > 1) {
    throw new HerdError('BadArguments', 'ephemeral, container and ttl exclude each other')
  }
  if (isEphemeral) return 'ephemeral'
  if (isContainer) return 'container'
  if (ttlMs !== undefined) return 'ttl'
  return 'persistent'
}

function dataEncoding(query: Query): DataEncoding | undefined {
  const value = queryValue(query, 'encoding')
  if (value === undefined) return undefined
  if (value !== 'utf8' && value !== 'base64') throw new HerdError('BadArguments', 'encoding is utf8 or base64')
  return value
}

export function noNode(path: string): never {
  throw new HerdError('NoNode', `${path} does not exist`, { path })
}

/** A browser's EventSource asks for text/event-stream (herd's client does not). */
function isEventSource(req: HttpRequest): boolean {
  return req.header('accept')?.includes('text/event-stream') === true
}
