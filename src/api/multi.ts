// POST /multi (atomic: create, delete, setData, check at one zxid, all or
// nothing) and POST /multi-read (getData and getChildren, each answered on
// its own, not atomic), as ZooKeeper's multi and multiRead.
import { HerdError } from '../errors.ts'
import { openAcl, ttlMsMax, type MultiOp } from '../tree/index.ts'
import { parseAclJson } from './acl.ts'
import type { ApiDeps } from './deps.ts'
import type { HttpRequest, Reply } from '../http/index.ts'
import { decodeData, encodeData, failureError, json, problem, type DataEncoding } from './reply.ts'
import {
  caller,
  checkWritable,
  checkZnodePath,
  idempotencyClaim,
  integerParam,
  jsonBoolean,
  jsonInteger,
  jsonObject,
  jsonString,
  parseQuery,
  readJson,
  versionMax,
  readBarrier,
} from './request.ts'

const opKeys: Record<MultiOp['type'], readonly string[]> = {
  create: ['op', 'path', 'data', 'encoding', 'sequential', 'ephemeral', 'container', 'ttl', 'acl'],
  delete: ['op', 'path', 'version'],
  setData: ['op', 'path', 'data', 'encoding', 'version'],
  check: ['op', 'path', 'version'],
}

export async function multi(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  parseQuery(req.target.search, [])
  const who = caller(req, deps)
  const { value, bytes } = await readJson(req, deps.config.requestBytesMax)
  const body = jsonObject(value, 'the body', ['ops'])
  const ops = opList(body, deps).map((op, i) => parseOp(op, `ops[${i}]`, deps))
  if (who.sessionId === 0 && ops.some((op) => op.type === 'create' && op.kind === 'ephemeral')) {
    throw new HerdError('BadArguments', 'an ephemeral znode needs a session: send Herd-Session and Herd-Session-Secret')
  }
  const committed = await deps.replica.submit({ caller: who, idempotency: idempotencyClaim(req, deps, bytes), command: { type: 'multi', ops } })
  const { outcome, replayOf } = committed.applied
  const headers: Record<string, string> = replayOf !== null ? { 'idempotent-replayed': 'true' } : {}
  if (!outcome.ok) return problem(deps, failureError(outcome.failure, ops), headers)
  if (outcome.result.type !== 'multi') throw new HerdError('SystemError', `unexpected result ${outcome.result.type} for multi`)
  const results = outcome.result.results.map((result) =>
    'stat' in result ? { op: result.type, path: result.path, stat: result.stat } : { op: result.type, path: result.path },
  )
  return json(deps, 200, { results, zxid: replayOf ?? committed.zxid }, headers)
}

export async function multiRead(req: HttpRequest, deps: ApiDeps): Promise<Reply> {
  const query = parseQuery(req.target.search, ['minZxid', 'linearizable', 'stale'])
  const { value } = await readJson(req, deps.config.requestBytesMax)
  const body = jsonObject(value, 'the body', ['ops'])
  const reads = opList(body, deps).map((item, i) => {
    const what = `ops[${i}]`
    const op = jsonObject(item, what, ['op', 'path', 'encoding'])
    if (op['op'] !== 'getData' && op['op'] !== 'getChildren') throw new HerdError('BadArguments', `${what}.op must be getData or getChildren`)
    const path = checkZnodePath(jsonString(op, 'path', what) ?? missing(what, 'path'), deps.config.pathBytesMax, false)
    const encoding = encodingOf(op, what)
    if (op['op'] === 'getChildren' && op['encoding'] !== undefined) throw new HerdError('BadArguments', `${what}.encoding goes with getData`)
    return { op: op['op'], path, encoding }
  })
  await readBarrier(query, deps)
  const tree = deps.replica.tree
  const pageMax = deps.config.childrenPageMax
  const results = reads.map(({ op, path, encoding }) => {
    if (op === 'getData') {
      const znode = tree.getData(path)
      if (znode === undefined) return { op, path, code: 'NoNode', detail: `${path} does not exist` }
      return { op, path, ...encodeData(znode.data, encoding), stat: znode.stat }
    }
    const page = tree.getChildren(path, null, pageMax)
    if (page === undefined) return { op, path, code: 'NoNode', detail: `${path} does not exist` }
    if (page.next !== null) {
      return { op, path, code: 'PayloadTooLarge', detail: `${path} has more than ${pageMax} children; page through GET ?children` }
    }
    return { op, path, children: page.children, stat: page.stat }
  })
  return json(deps, 200, { results })
}

function opList(body: Record<string, unknown>, deps: ApiDeps): readonly unknown[] {
  const ops = body['ops']
  if (!Array.isArray(ops)) throw new HerdError('BadArguments', 'the body needs "ops", an array')
  if (ops.length > deps.config.multiOpsMax) {
    throw new HerdError('PayloadTooLarge', `at most ${deps.config.multiOpsMax} operations in one request`, { limit: deps.config.multiOpsMax })
  }
  return ops
}

function parseOp(item: unknown, what: string, deps: ApiDeps): MultiOp {
  const type = typeof item === 'object' && item !== null ? (item as Record<string, unknown>)['op'] : undefined
  if (type !== 'create' && type !== 'delete' && type !== 'setData' && type !== 'check') {
    throw new HerdError('BadArguments', `${what}.op must be create, delete, setData or check`)
  }
  const op = jsonObject(item, what, opKeys[type])
  const { pathBytesMax, dataBytesMax } = deps.config
  const text = jsonString(op, 'path', what) ?? missing(what, 'path')
  const version = jsonInteger(op, 'version', what, -1, versionMax) ?? -1
  switch (type) {
    case 'create': {
      const isSequential = jsonBoolean(op, 'sequential', what)
      const isEphemeral = jsonBoolean(op, 'ephemeral', what)
      const isContainer = jsonBoolean(op, 'container', what)
      const ttlMs = jsonInteger(op, 'ttl', what, 1, ttlMsMax)
      if ([isEphemeral, isContainer, ttlMs !== undefined].filter(Boolean).length > 1) {
        throw new HerdError('BadArguments', `${what}: ephemeral, container and ttl exclude each other`)
      }
      if (isContainer && isSequential) throw new HerdError('BadArguments', `${what}: a container cannot be sequential`)
      if (ttlMs !== undefined && !deps.config.ttlEnabled) throw new HerdError('Unimplemented', 'TTL znodes are disabled on this server')
      const kind = isEphemeral ? 'ephemeral' : isContainer ? 'container' : ttlMs !== undefined ? 'ttl' : 'persistent'
      const acl = op['acl'] === undefined ? openAcl : parseAclJson(op['acl'], deps.config.aclEntriesMax, `${what}.acl`)
      return {
        type,
        path: checkWritable(checkZnodePath(text, pathBytesMax, isSequential), isSequential),
        data: dataOf(op, what, dataBytesMax),
        acl,
        kind,
        isSequential,
        ttlMs: ttlMs ?? 0,
      }
    }
    case 'delete':
      return { type, path: checkWritable(checkZnodePath(text, pathBytesMax, false), false), version }
    case 'setData':
      return { type, path: checkWritable(checkZnodePath(text, pathBytesMax, false), false), data: dataOf(op, what, dataBytesMax), version }
    case 'check':
      return { type, path: checkZnodePath(text, pathBytesMax, false), version }
  }
}

function dataOf(op: Record<string, unknown>, what: string, dataBytesMax: number): Uint8Array {
  const data = decodeData(jsonString(op, 'data', what) ?? '', encodingOf(op, what) ?? 'utf8', `${what}.data`)
  if (data.byteLength > dataBytesMax) {
    throw new HerdError('PayloadTooLarge', `${what}: znode data is limited to ${dataBytesMax} bytes`, { limit: dataBytesMax })
  }
  return data
}

function encodingOf(op: Record<string, unknown>, what: string): DataEncoding | undefined {
  const encoding = op['encoding']
  if (encoding === undefined || encoding === 'utf8' || encoding === 'base64') return encoding
  throw new HerdError('BadArguments', `${what}.encoding is utf8 or base64`)
}

function missing(what: string, field: string): never {
  throw new HerdError('BadArguments', `${what}.${field} is required`)
}
