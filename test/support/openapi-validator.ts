// Checks real HTTP responses against openapi.yaml, the contract (DESIGN.md,
// decision 8). Given what a request got back, it finds the operation the
// request addressed, and reports every way the response strays from what
// that operation declares: an undeclared status, a content type not declared
// for that status, a JSON body that does not validate against its schema
// (OpenAPI 3.1 schemas are JSON Schema 2020-12, compiled with Ajv), SSE
// events whose data does not match `x-event-schema`, and missing or
// malformed headers.
//
// Conventions the contract states in prose, and that no OpenAPI keyword can
// express, are checked here too:
//   * every response carries `Herd-Zxid` (info.description);
//   * problem+json bodies say the HTTP status they came with (RFC 9457);
//   * a target that matches no path is 404 `NotFound`, a known path with an
//     undeclared method is 405 `MethodNotAllowed` with `Allow`, and OPTIONS
//     on a known path is 204 with `Allow` (or a CORS preflight answer).
import { appendFileSync, readFileSync } from 'node:fs'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import { expect } from 'vitest'
import { parse } from 'yaml'
import { parseSse, type SseEvent } from './sse.ts'

export const specPath = new URL('../../openapi.yaml', import.meta.url).pathname

export interface ResponseToCheck {
  readonly method: string
  /** The request target, e.g. `/znodes/a/b?stat` (the query is ignored). */
  readonly path: string
  readonly status: number
  readonly headers: Headers | Readonly<Record<string, string | undefined>>
  /** Parsed JSON, raw text (JSON is parsed from it), bytes, or undefined/null/'' for no body. */
  readonly body?: unknown
}

type Json = Record<string, unknown>

const httpMethods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const

interface Route {
  readonly template: string
  readonly pattern: RegExp
  readonly item: Json
  /** The JSON pointer of the path item, for compiling its inline schemas. */
  readonly pointer: string
}

const docId = 'openapi.yaml'

export class OpenApiValidator {
  readonly spec: Json
  readonly #ajv: Ajv2020
  readonly #routes: readonly Route[]
  readonly #compiled = new Map<string, ValidateFunction>()

  constructor(specText: string = readFileSync(specPath, 'utf8')) {
    this.spec = parse(specText) as Json
    // strict: false tolerates OpenAPI's own keywords inside schemas
    // (discriminator, contentMediaType without a format, x-*).
    this.#ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false })
    // Registered whole, so `openapi.yaml#/components/schemas/X` resolves; the
    // document itself is never compiled as a schema.
    this.#ajv.addSchema(this.spec, docId, undefined, false)
    const paths = (this.spec['paths'] ?? {}) as Record<string, Json>
    this.#routes = Object.entries(paths).map(([template, item]) => ({
      template,
      pattern: templatePattern(template),
      item,
      pointer: `/paths/${escapePointer(template)}`,
    }))
  }

  /** Every way `response` departs from the contract; empty when it conforms. */
  validateResponse(response: ResponseToCheck): string[] {
    const method = response.method.toLowerCase()
    const pathname = response.path.split('?')[0] as string
    const where = `${response.method.toUpperCase()} ${response.path} -> ${response.status}`
    const headers = headerMap(response.headers)
    const errors: string[] = []

    const zxid = headers.get('herd-zxid')
    if (zxid === undefined) errors.push('header Herd-Zxid is missing (every response must carry it)')
    else if (!/^[0-9]+$/.test(zxid)) errors.push(`header Herd-Zxid is not a zxid: ${JSON.stringify(zxid)}`)

    const route = this.#routes.find((r) => r.pattern.test(pathname))
    const operation = route === undefined ? undefined : (route.item[method === 'head' ? 'get' : method] as Json | undefined)
    if (route === undefined || operation === undefined) {
      errors.push(...this.#checkUndeclared(route, method, response, headers))
      return errors.map((e) => `${where}: ${e}`)
    }

    const opPointer = `${route.pointer}/${method === 'head' ? 'get' : method}`
    const responses = (operation['responses'] ?? {}) as Json
    const key = statusKey(responses, response.status)
    if (key === undefined || (key === 'default' && response.status < 400)) {
      // `default` is "any other error" here: a success or redirect must be declared.
      errors.push(`status ${response.status} is not declared for ${operation['operationId'] ?? method} (declared: ${Object.keys(responses).join(', ')})`)
      return errors.map((e) => `${where}: ${e}`)
    }
    recordCoverage(`${String(operation['operationId'])} ${key}`)
    const [declared, declaredPointer] = this.#deref(responses[key] as Json, `${opPointer}/responses/${escapePointer(key)}`)
    errors.push(...this.#checkHeaders(declared, declaredPointer, headers))
    errors.push(...this.#checkContent(declared, declaredPointer, response, headers, method === 'head'))
    return errors.map((e) => `${where}: ${e}`)
  }

  /** Validates a value against a named component schema (for SSE events and request bodies). */
  validateSchema(name: string, value: unknown): string[] {
    const validate = this.#compile(`/components/schemas/${escapePointer(name)}`)
    return validate(value) ? [] : ajvErrors(validate, name)
  }

  /** The pointer's target with `$ref`s (OpenAPI's, outside schemas) followed, and its own pointer. */
  #deref(node: Json, pointer: string): [Json, string] {
    let current = node
    let at = pointer
    for (let hops = 0; typeof current['$ref'] === 'string'; hops++) {
      if (hops > 16) throw new Error(`$ref loop at ${pointer}`)
      const ref = current['$ref'] as string
      if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`)
      at = ref.slice(1)
      current = resolvePointer(this.spec, at) as Json
    }
    return [current, at]
  }

  #compile(pointer: string): ValidateFunction {
    let validate = this.#compiled.get(pointer)
    if (validate === undefined) {
      // `#` escapes nothing but `%`, so braces and the like survive Ajv's URI handling.
      validate = this.#ajv.compile({ $ref: `${docId}#${pointer.split('/').map(encodeURIComponent).join('/')}` })
      this.#compiled.set(pointer, validate)
    }
    return validate
  }

  #checkHeaders(declared: Json, pointer: string, headers: ReadonlyMap<string, string>): string[] {
    const errors: string[] = []
    const declaredHeaders = (declared['headers'] ?? {}) as Json
    for (const [name, raw] of Object.entries(declaredHeaders)) {
      const [header, headerPointer] = this.#deref(raw as Json, `${pointer}/headers/${escapePointer(name)}`)
      const value = headers.get(name.toLowerCase())
      if (value === undefined) {
        if (header['required'] === true) errors.push(`header ${name} is required but missing`)
        continue
      }
      if (header['schema'] !== undefined) {
        const validate = this.#compile(`${headerPointer}/schema`)
        if (!validate(value)) errors.push(...ajvErrors(validate, `header ${name}`))
      }
    }
    return errors
  }

  #checkContent(declared: Json, pointer: string, response: ResponseToCheck, headers: ReadonlyMap<string, string>, isHead: boolean): string[] {
    const content = declared['content'] as Json | undefined
    const body = response.body
    const hasBody = !(body === undefined || body === null || body === '' || (body instanceof Uint8Array && body.byteLength === 0))
    if (content === undefined) {
      return hasBody ? [`a body was sent but status ${response.status} declares no content`] : []
    }
    const contentType = headers.get('content-type')
    if (contentType === undefined) return [`Content-Type is missing (declared: ${Object.keys(content).join(', ')})`]
    const mediaType = (contentType.split(';')[0] as string).trim().toLowerCase()
    const mediaKey = Object.keys(content).find((declaredType) => mediaMatches(declaredType, mediaType))
    if (mediaKey === undefined) return [`Content-Type ${mediaType} is not declared for status ${response.status} (declared: ${Object.keys(content).join(', ')})`]
    if (isHead) return hasBody ? ['a HEAD response must have no body'] : []
    const media = content[mediaKey] as Json
    const mediaPointer = `${pointer}/content/${escapePointer(mediaKey)}`
    if (isJsonType(mediaType)) {
      let value = body
      if (typeof body === 'string' || body instanceof Uint8Array) {
        const text = typeof body === 'string' ? body : new TextDecoder().decode(body)
        try {
          value = JSON.parse(text)
        } catch {
          return [`the body is not JSON: ${JSON.stringify(text.slice(0, 200))}`]
        }
      }
      if (!hasBody) return ['the JSON body is empty']
      const errors: string[] = []
      if (media['schema'] !== undefined) errors.push(...this.#checkSchema(`${mediaPointer}/schema`, value, 'body'))
      if (mediaType === 'application/problem+json' && typeof value === 'object' && value !== null) {
        const problemStatus = (value as Json)['status']
        if (problemStatus !== response.status) errors.push(`problem status ${String(problemStatus)} differs from the HTTP status ${response.status}`)
      }
      return errors
    }
    if (mediaType === 'text/event-stream' && media['x-event-schema'] !== undefined && typeof body === 'string') {
      const validate = this.#compile(`${mediaPointer}/x-event-schema`)
      const errors: string[] = []
      for (const [i, event] of parseSse(body).events.entries()) {
        let data: unknown
        try {
          data = JSON.parse(event.data)
        } catch {
          errors.push(`event ${i}: data is not JSON: ${JSON.stringify(event.data.slice(0, 200))}`)
          continue
        }
        if (!validate(data)) errors.push(...ajvErrors(validate, `event ${i} data`))
      }
      return errors
    }
    return []
  }

  /**
   * Validates against the schema at `pointer`. For a top-level oneOf that
   * nothing matches, the errors are those of the closest alternative (the
   * one with the fewest), not the noise of every branch.
   */
  #checkSchema(pointer: string, value: unknown, what: string): string[] {
    const validate = this.#compile(pointer)
    if (validate(value)) return []
    const [schema, schemaPointer] = this.#deref(resolvePointer(this.spec, pointer) as Json, pointer)
    const branches = schema['oneOf']
    if (!Array.isArray(branches)) return ajvErrors(validate, what)
    let best: string[] | undefined
    let bestName = ''
    for (const [i, branch] of branches.entries()) {
      const branchValidate = this.#compile(`${schemaPointer}/oneOf/${i}`)
      if (branchValidate(value)) return ajvErrors(validate, what) // matched more than one
      const errors = ajvErrors(branchValidate, what)
      if (best === undefined || errors.length < best.length) {
        best = errors
        const ref = (branch as Json)['$ref']
        bestName = typeof ref === 'string' ? (ref.split('/').pop() as string) : `alternative ${i}`
      }
    }
    return (best ?? []).map((e) => `${e} (closest of ${branches.length} alternatives: ${bestName})`)
  }

  /** The routes and methods openapi.yaml leaves to its stated conventions. */
  #checkUndeclared(route: Route | undefined, method: string, response: ResponseToCheck, headers: ReadonlyMap<string, string>): string[] {
    const errors: string[] = []
    if (route === undefined) {
      errors.push(...this.#checkProblem(response, headers, 404, 'NotFound'))
      return errors
    }
    const methods = httpMethods.filter((m) => route.item[m] !== undefined)
    if (method === 'options') {
      const isPreflight = headers.has('access-control-allow-methods')
      if (response.status !== 204) errors.push(`OPTIONS must answer 204, got ${response.status}`)
      if (!isPreflight) {
        const allow = parseAllow(headers.get('allow'))
        for (const m of methods) if (!allow.includes(m.toUpperCase())) errors.push(`Allow lacks ${m.toUpperCase()} (got ${JSON.stringify(headers.get('allow'))})`)
      }
      return errors
    }
    errors.push(...this.#checkProblem(response, headers, 405, 'MethodNotAllowed'))
    const allow = parseAllow(headers.get('allow'))
    if (headers.get('allow') === undefined) errors.push('a 405 must carry Allow')
    for (const m of methods) if (!allow.includes(m.toUpperCase())) errors.push(`Allow lacks ${m.toUpperCase()} (got ${JSON.stringify(headers.get('allow'))})`)
    if (allow.includes(method.toUpperCase())) errors.push(`Allow lists ${method.toUpperCase()}, which was just refused`)
    return errors
  }

  #checkProblem(response: ResponseToCheck, headers: ReadonlyMap<string, string>, status: number, code: string): string[] {
    const errors: string[] = []
    if (response.status !== status) errors.push(`a request outside the declared operations must answer ${status} ${code}, got ${response.status}`)
    const contentType = headers.get('content-type')?.split(';')[0]?.trim()
    if (contentType !== 'application/problem+json') errors.push(`Content-Type must be application/problem+json, got ${String(contentType)}`)
    // A HEAD answer has the headers of the problem but never its body.
    if (response.method.toUpperCase() === 'HEAD') return errors
    const body = typeof response.body === 'string' ? safeJson(response.body) : response.body
    errors.push(...this.validateSchema('Problem', body).map((e) => `problem ${e}`))
    if (typeof body === 'object' && body !== null) {
      if ((body as Json)['code'] !== code) errors.push(`problem code must be ${code}, got ${String((body as Json)['code'])}`)
      if ((body as Json)['status'] !== response.status) errors.push(`problem status ${String((body as Json)['status'])} differs from the HTTP status ${response.status}`)
    }
    return errors
  }
}

let shared: OpenApiValidator | undefined

/** The validator over the repository's openapi.yaml, built once. */
export function validator(): OpenApiValidator {
  shared ??= new OpenApiValidator()
  return shared
}

export function validateResponse(response: ResponseToCheck): string[] {
  return validator().validateResponse(response)
}

/** Fails the test with every contract violation of `response`. */
export function expectValid(response: ResponseToCheck): void {
  expect(validateResponse(response), `response strays from openapi.yaml`).toEqual([])
}

// ---------------------------------------------------------------- SSE

export { parseSse, type SseEvent }

// ---------------------------------------------------------------- coverage

/**
 * With HERD_CONTRACT_COVERAGE=<file>, every validated response appends
 * "<operationId> <status key>" to the file, so that a run of the process
 * tests can be compared with what openapi.yaml declares
 * (`declaredResponses()` lists those).
 */
function recordCoverage(line: string): void {
  const file = process.env['HERD_CONTRACT_COVERAGE']
  if (file !== undefined && file !== '') appendFileSync(file, line + '\n')
}

/** "<operationId> <status key>" for every response openapi.yaml declares. */
export function declaredResponses(spec: Json = validator().spec): string[] {
  const lines: string[] = []
  for (const item of Object.values((spec['paths'] ?? {}) as Record<string, Json>)) {
    for (const method of httpMethods) {
      const operation = item[method] as Json | undefined
      if (operation === undefined) continue
      for (const key of Object.keys((operation['responses'] ?? {}) as Json)) lines.push(`${String(operation['operationId'])} ${key}`)
    }
  }
  return lines
}

// ---------------------------------------------------------------- helpers

function templatePattern(template: string): RegExp {
  let source = ''
  const segments = template.split('/').slice(1)
  for (const [i, segment] of segments.entries()) {
    const isLast = i === segments.length - 1
    if (isLast && segment === '{path}') {
      // A znode path: any depth, including none (`/znodes`, `/znodes/`).
      source += '(?:/.*)?'
    } else if (/^\{[^}]+\}$/.test(segment)) {
      source += '/[^/]+'
    } else {
      source += '/' + segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    }
  }
  return new RegExp(`^${source}$`)
}

function statusKey(responses: Json, status: number): string | undefined {
  const exact = String(status)
  if (responses[exact] !== undefined) return exact
  const range = `${String(status)[0]}XX`
  if (responses[range] !== undefined) return range
  return responses['default'] !== undefined ? 'default' : undefined
}

function mediaMatches(declared: string, actual: string): boolean {
  const d = declared.toLowerCase()
  if (d === actual || d === '*/*') return true
  return d.endsWith('/*') && actual.startsWith(d.slice(0, -1))
}

function isJsonType(mediaType: string): boolean {
  return mediaType === 'application/json' || mediaType.endsWith('+json')
}

function headerMap(headers: ResponseToCheck['headers']): Map<string, string> {
  const map = new Map<string, string>()
  if (headers instanceof Headers) {
    headers.forEach((value, name) => map.set(name.toLowerCase(), value))
  } else {
    for (const [name, value] of Object.entries(headers)) if (value !== undefined) map.set(name.toLowerCase(), value)
  }
  return map
}

function parseAllow(header: string | undefined): string[] {
  return (header ?? '').split(',').map((m) => m.trim().toUpperCase()).filter((m) => m !== '')
}

function escapePointer(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1')
}

function resolvePointer(document: unknown, pointer: string): unknown {
  let node = document
  for (const raw of pointer.split('/').slice(1)) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    if (typeof node !== 'object' || node === null || !(token in node)) throw new Error(`openapi.yaml has nothing at ${pointer}`)
    node = (node as Json)[token]
  }
  return node
}

function ajvErrors(validate: ValidateFunction, what: string): string[] {
  return (validate.errors ?? []).map((e) => {
    const params = e.keyword === 'additionalProperties' ? ` (${String((e.params as Json)['additionalProperty'])})` : ''
    return `${what}${e.instancePath}: ${e.message ?? e.keyword}${params}`
  })
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
