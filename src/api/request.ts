// Reading a request without trusting it. Everything that does not depend on
// tree state is checked here, before anything is proposed, so that bad input
// never costs a log entry and never changes anything:
//   * the target is taken from the raw request line and decoded once; a URL
//     parser's normalisation (`..`, `%2e%2e`, `\`) is never used to find a znode;
//   * query parameters are an allow-list per route, flags are strict;
//   * bodies are counted while they stream and cut off at the limit;
//   * numbers are integers in range, never coerced from other types.
import { createHash } from 'node:crypto'
import { HerdError } from '../errors.ts'
import { isReservedPath, validatePath, type AuthId, type Caller, type IdempotencyClaim } from '../tree/index.ts'
import type { ApiDeps } from './deps.ts'
import type { HttpRequest, Target } from '../http/index.ts'

/**
 * Rejects targets that a URL parser would rewrite (dot segments, encoded or
 * not, and backslashes), so that routing on the parsed URL and reading the
 * raw one can never disagree.
 */
export function checkTarget(target: Target): void {
  if (!target.pathname.startsWith('/')) throw new HerdError('BadArguments', 'the request target must be an absolute path')
  if (target.pathname.includes('\\')) throw new HerdError('BadArguments', 'backslashes are not allowed in the path')
  for (const segment of target.pathname.split('/')) {
    if (segment.length > 0 && segment.length <= 6 && /^(?:\.|%2e){1,2}$/i.test(segment)) {
      throw new HerdError('BadArguments', `path segment "${segment}" is not allowed: paths are never normalised`)
    }
  }
}

export type Query = ReadonlyMap<string, readonly string[]>

/** Parses the query, allowing only the named parameters; only `repeatable` ones may appear twice. */
export function parseQuery(search: string, allowed: readonly string[], repeatable: readonly string[] = []): Query {
  const query = new Map<string, string[]>()
  if (search === '') return query
  for (const part of search.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = decodeComponent(eq < 0 ? part : part.slice(0, eq), 'query parameter name')
    const value = eq < 0 ? '' : decodeComponent(part.slice(eq + 1).replaceAll('+', ' '), `query parameter ${name}`)
    if (!allowed.includes(name)) {
      throw new HerdError('BadArguments', `unknown query parameter "${name}" (allowed here: ${allowed.join(', ') || 'none'})`)
    }
    const values = query.get(name)
    if (values === undefined) query.set(name, [value])
    else if (repeatable.includes(name)) values.push(value)
    else throw new HerdError('BadArguments', `query parameter "${name}" given twice`)
  }
  return query
}

export function queryValue(query: Query, name: string): string | undefined {
  return query.get(name)?.[0]
}

/** A flag: absent = false; bare, `true` or `1` = true; `false` or `0` = false. */
export function flag(query: Query, name: string): boolean {
  const value = queryValue(query, name)
  if (value === undefined || value === 'false' || value === '0') return false
  if (value === '' || value === 'true' || value === '1') return true
  throw new HerdError('BadArguments', `flag "${name}" takes no value, or true/false (got "${value}")`)
}

export function integer(text: string, name: string, min: number, max: number): number {
  if (!/^-?\d{1,16}$/.test(text)) throw new HerdError('BadArguments', `${name} must be an integer, got "${truncate(text)}"`)
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new HerdError('BadArguments', `${name} must be between ${min} and ${max}, got ${text}`)
  return n
}

export function integerParam(query: Query, name: string, min: number, max: number): number | undefined {
  const value = queryValue(query, name)
  return value === undefined ? undefined : integer(value, name, min, max)
}

export const versionMax = 2_147_483_647

/**
 * The znode path named by the request target after `prefix` (e.g. "/znodes"):
 * each segment percent-decoded once; an encoded slash, invalid UTF-8, and
 * anything ZooKeeper's path rules forbid are BadArguments.
 */
export function znodePath(pathname: string, prefix: string, pathBytesMax: number, isSequential: boolean): string {
  const rest = pathname.slice(prefix.length)
  const segments = rest === '' ? [''] : rest.split('/')
  let path = ''
  for (let i = 1; i < segments.length; i++) {
    const segment = decodeComponent(segments[i] as string, 'znode path')
    if (segment.includes('/')) throw new HerdError('BadArguments', 'an encoded slash (%2F) cannot be part of a znode name')
    path += '/' + segment
  }
  if (path === '') path = '/'
  return checkZnodePath(path, pathBytesMax, isSequential)
}

export function checkZnodePath(path: string, pathBytesMax: number, isSequential: boolean): string {
  if (typeof path !== 'string') throw new HerdError('BadArguments', 'a znode path must be a string')
  if (Buffer.byteLength(path) > pathBytesMax) throw new HerdError('BadArguments', `znode paths are limited to ${pathBytesMax} bytes`)
  const reason = validatePath(path, isSequential)
  if (reason !== null) throw new HerdError('BadArguments', `invalid znode path: ${reason}`, { path: printable(path) })
  return path
}

/**
 * Refuses a write under /zookeeper here, as the tree would when applying it:
 * the answer is the same, but the refusal costs no log entry (a sequential
 * create is checked with a digit appended, the way the tree names it).
 */
export function checkWritable(path: string, isSequential: boolean): string {
  if (isReservedPath(isSequential ? path + '0' : path)) throw new HerdError('BadArguments', `${path} is under the reserved /zookeeper`, { path })
  return path
}

/** Reads the whole body, refusing more than `bytesMax` (before reading, when Content-Length says so). */
export async function readBody(req: HttpRequest, bytesMax: number): Promise<Uint8Array> {
  const declared = req.header('content-length')
  if (declared !== undefined && Number(declared) > bytesMax) {
    throw new HerdError('PayloadTooLarge', `the body is limited to ${bytesMax} bytes`, { limit: bytesMax })
  }
  const incoming = req.incoming
  if (incoming === null) {
    const bytes = new Uint8Array(await req.arrayBuffer())
    if (bytes.byteLength > bytesMax) throw new HerdError('PayloadTooLarge', `the body is limited to ${bytesMax} bytes`, { limit: bytesMax })
    return bytes
  }
  if (incoming.readableEnded) return new Uint8Array(0)
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const cleanup = (): void => {
      incoming.off('data', onData)
      incoming.off('end', onEnd)
      incoming.off('error', onError)
      incoming.off('close', onClose)
    }
    const onData = (chunk: Buffer): void => {
      total += chunk.length
      if (total > bytesMax) {
        cleanup()
        incoming.pause()
        reject(new HerdError('PayloadTooLarge', `the body is limited to ${bytesMax} bytes`, { limit: bytesMax }))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      cleanup()
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total))
    }
    const onError = (error: Error): void => {
      cleanup()
      reject(new HerdError('BadArguments', `the request body could not be read: ${error.message}`))
    }
    const onClose = (): void => {
      cleanup()
      reject(new HerdError('BadArguments', 'the connection closed before the body was complete'))
    }
    incoming.on('data', onData)
    incoming.on('end', onEnd)
    incoming.on('error', onError)
    incoming.on('close', onClose)
  })
}

const jsonType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

/** A JSON body with its raw bytes: Content-Type must say JSON when there is a body; an empty body is `undefined`. */
export async function readJson(req: HttpRequest, bytesMax: number): Promise<{ readonly value: unknown; readonly bytes: Uint8Array }> {
  const bytes = await readBody(req, bytesMax)
  if (bytes.byteLength === 0) return { value: undefined, bytes }
  const type = req.header('content-type')
  if (type === undefined || !jsonType.test(type)) {
    throw new HerdError('UnsupportedMediaType', `send the body as JSON with Content-Type: application/json (got ${type === undefined ? 'none' : JSON.stringify(truncate(type))})`)
  }
  let text: string
  let value: unknown
  try {
    text = utf8.decode(bytes)
    value = JSON.parse(text)
  } catch (error) {
    throw new HerdError('MarshallingError', `the body is not valid JSON: ${(error as Error).message}`)
  }
  // JSON.parse keeps the last of a repeated key; a proxy or another parser may keep the first.
  const duplicate = duplicateKey(text)
  if (duplicate !== null) throw new HerdError('MarshallingError', `the body names the key ${JSON.stringify(truncate(duplicate))} twice in one object`)
  return { value, bytes }
}

/**
 * The first key that appears twice in one object of a JSON text that
 * JSON.parse accepted, or null. A loop with its own stack, so deep nesting
 * costs no call stack.
 */
function duplicateKey(text: string): string | null {
  if (!text.includes('{')) return null
  // One entry per open container: the keys seen so far of an object, null for an array.
  const open: Array<Set<string> | null> = []
  let isKeyNext = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      let end = i + 1
      let isEscaped = false
      while (text.charCodeAt(end) !== 0x22) {
        if (text.charCodeAt(end) === 0x5c) {
          isEscaped = true
          end += 2
        } else {
          end++
        }
      }
      if (isKeyNext) {
        const key = isEscaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end)
        const keys = open[open.length - 1] as Set<string>
        if (keys.has(key)) return key
        keys.add(key)
        isKeyNext = false
      }
      i = end
    } else if (c === 0x7b) {
      open.push(new Set())
      isKeyNext = true
    } else if (c === 0x5b) {
      open.push(null)
      isKeyNext = false
    } else if (c === 0x7d || c === 0x5d) {
      open.pop()
      isKeyNext = false
    } else if (c === 0x2c) {
      isKeyNext = open.length > 0 && open[open.length - 1] !== null
    }
  }
  return null
}

/** Narrows a parsed JSON value to an object with only the given keys. */
export function jsonObject(value: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HerdError('BadArguments', `${what} must be a JSON object`)
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw new HerdError('BadArguments', `${what} has an unknown field "${truncate(key)}" (known: ${keys.join(', ')})`)
  }
  return value as Record<string, unknown>
}

/** An optional integer field of a JSON object, in range (no strings, no fractions, no nulls). */
export function jsonInteger(object: Record<string, unknown>, key: string, what: string, min: number, max: number): number | undefined {
  const value = object[key]
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new HerdError('BadArguments', `${what}.${key} must be an integer between ${min} and ${max}`)
  }
  return value
}

export function jsonBoolean(object: Record<string, unknown>, key: string, what: string): boolean {
  const value = object[key]
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw new HerdError('BadArguments', `${what}.${key} must be true or false`)
  return value
}

export function jsonString(object: Record<string, unknown>, key: string, what: string): string | undefined {
  const value = object[key]
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw new HerdError('BadArguments', `${what}.${key} must be a string`)
  return value
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The expected version from If-Match or ?version (they must agree when both are given); undefined when neither. */
export function expectedVersion(req: HttpRequest, query: Query): number | undefined {
  const fromQuery = integerParam(query, 'version', -1, versionMax)
  const header = req.header('if-match')
  if (header === undefined) return fromQuery
  const fromHeader = parseEtag(header.trim(), 'If-Match')
  if (fromQuery !== undefined && fromQuery !== fromHeader) {
    throw new HerdError('BadArguments', `If-Match (${header}) and version (${fromQuery}) disagree`)
  }
  return fromHeader
}

/** `*` -> -1; `"3"`, `3` or `W/"3"` -> 3. */
export function parseEtag(text: string, what: string): number {
  if (text === '*') return -1
  const match = /^(?:W\/)?"?(\d{1,10})"?$/.exec(text)
  if (match === null) throw new HerdError('BadArguments', `${what} must be an ETag such as "3" or *, got ${JSON.stringify(truncate(text))}`)
  return integer(match[1] as string, what, 0, versionMax)
}

/** The ETags of If-None-Match (a list, or * as -1), or undefined without the header. */
export function ifNoneMatch(req: HttpRequest): readonly string[] | undefined {
  const header = req.header('if-none-match')
  if (header === undefined) return undefined
  return header.split(',').map((tag) => tag.trim().replace(/^W\//, ''))
}

const sessionIdPattern = /^[1-9]\d{0,15}$/

export function sessionId(text: string, what: string): number {
  if (!sessionIdPattern.test(text)) throw new HerdError('BadArguments', `${what} must be a session id, got ${JSON.stringify(truncate(text))}`)
  const id = Number(text)
  if (!Number.isSafeInteger(id)) throw new HerdError('BadArguments', `${what} is out of range`)
  return id
}

/** The secret of a session route, required. */
export function sessionSecret(req: HttpRequest): string {
  const secret = req.header('herd-session-secret')
  if (secret === undefined || secret === '') throw new HerdError('AuthFailed', 'the Herd-Session-Secret header is required')
  return secret
}

/** Who is asking: the client's address, and the session named by Herd-Session (authenticated) if any. */
export function caller(req: HttpRequest, deps: ApiDeps): Caller {
  const ids: AuthId[] = [{ scheme: 'ip', id: req.remoteAddress }]
  const header = req.header('herd-session')
  if (header === undefined) return { sessionId: 0, ids }
  const id = sessionId(header, 'Herd-Session')
  deps.sessions.authenticate(id, sessionSecret(req))
  return { sessionId: id, ids }
}

const idempotencyKeyPattern = /^[\x21-\x7e]+$/

/**
 * The Idempotency-Key claim for a write, or null without the header. The
 * fingerprint covers everything that decides what the write does, so the
 * same key on a different request is detected.
 */
export function idempotencyClaim(req: HttpRequest, deps: ApiDeps, body: Uint8Array): IdempotencyClaim | null {
  const key = req.header('idempotency-key')
  if (key === undefined) return null
  if (key.length === 0 || key.length > deps.config.idempotencyKeyBytesMax || !idempotencyKeyPattern.test(key)) {
    throw new HerdError('BadArguments', `Idempotency-Key must be 1 to ${deps.config.idempotencyKeyBytesMax} visible ASCII characters`)
  }
  const hash = createHash('sha256')
  hash.update(`${req.method}\n${req.target.pathname}?${req.target.search}\n`)
  for (const name of ['if-match', 'if-none-match', 'herd-session', 'content-type']) hash.update(`${name}:${req.header(name) ?? ''}\n`)
  hash.update(body)
  return {
    key,
    fingerprint: hash.digest('base64url').slice(0, 22),
    windowMs: deps.config.idempotencyWindowMs,
  }
}

function decodeComponent(text: string, what: string): string {
  if (!text.includes('%')) return text
  try {
    return decodeURIComponent(text)
  } catch {
    throw new HerdError('BadArguments', `${what} is not valid percent-encoded UTF-8`)
  }
}

/**
 * A replica cut off from the leader may be behind by any amount (ZooKeeper's
 * servers stop serving then): its local reads fail as a lost connection
 * would, so that clients read from another replica.
 */
export function refuseIfCutOff(deps: ApiDeps): void {
  if (!deps.replica.isCutOff) return
  throw new HerdError(
    'ConnectionLoss',
    `this replica is cut off: it has heard from no leader for over ${deps.config.leaderContactMaxMs} ms, or not since it started, or has not applied what the leader had committed that long ago, or has not caught up since, so its data may be behind by any amount: read from another replica, or add ?stale to read what it has`,
  )
}

function truncate(text: string): string {
  return text.length > 64 ? text.slice(0, 64) + '…' : text
}

/** A path for an error message, with control characters made visible. */
function printable(path: string): string {
  return truncate(JSON.stringify(path).slice(1, -1))
}

/**
 * What a read waits for before it reads here: `?minZxid` applied on this
 * replica, and with `?linearizable` the leader's read index (ZooKeeper's
 * sync, then the read). Null when there is nothing to wait for, so the
 * common read stays synchronous. A local read on a replica cut off from the
 * leader is refused, unless it asks for `?stale` data.
 */
export function readBarrier(query: Query, deps: ApiDeps): Promise<unknown> | null {
  const minZxid = integerParam(query, 'minZxid', 0, Number.MAX_SAFE_INTEGER)
  const waitMs = deps.config.readWaitMsMax
  if (!flag(query, 'linearizable')) {
    if (!flag(query, 'stale')) refuseIfCutOff(deps)
    return minZxid !== undefined && minZxid > deps.replica.appliedZxid ? deps.replica.waitForApplied(minZxid, waitMs) : null
  }
  const synced = deps.replica.sync(waitMs)
  return minZxid === undefined ? synced : Promise.all([synced, deps.replica.waitForApplied(minZxid, waitMs)])
}
