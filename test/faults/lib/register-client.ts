// Workload W1 (RELIABILITY.md): logical clients doing create / linearizable
// getData / setData(version) / delete(version) / unconditional writes on a
// few znodes at a time, each with one operation outstanding, recording every
// operation into a history for the linearizability checker.
//
// What counts as what:
// - an answer with a ZooKeeper code that is about the znode's state
//   (NoNode, NodeExists, BadVersion) is a definite failure, checked;
// - Throttled and a refused request (4xx other than those) did nothing: a
//   definite failure the model ignores;
// - no answer, a timeout, a reset, any 5xx (ConnectionLoss after the write
//   was handed to a leader, OperationTimeout) is unknown: it may have taken
//   effect at any time after it was sent. A write carries an Idempotency-Key,
//   so the client asks again with the same key (through any replica) until it
//   gets a definite answer: the first attempt's result if it happened, or
//   this attempt's if it did not, either way within the operation's interval.
//   Only a write still unknown after `resolveMs` stays unknown; the client
//   then retires its identity and goes on under a new one, as a Jepsen
//   client does. An unknown read is simply dropped by the checker.
import type { Prng } from '../../support/raft-sim-prng.ts'
import type { Operation, ZnodeInput, ZnodeOutput } from './history.ts'
import { sleep } from './znode-reads.ts'

/** Codes that say something about the znode's state when a write fails. */
const stateCodes = new Set(['NoNode', 'NodeExists', 'BadVersion'])

export interface RegisterWorkload {
  /** Where the keys live (created by the runner beforehand). */
  readonly root: string
  /** Keys in use at once; the set rotates to fresh keys every `opsPerKeySet` operations (keeps WGL components small). */
  readonly keys: number
  readonly opsPerKeySet: number
  readonly requestTimeoutMs: number
  /** How long a client keeps asking (with the same Idempotency-Key) to learn an unknown write's outcome. */
  readonly resolveMs: number
}

export class History {
  readonly operations: Operation[] = []
  #nextClient = 0
  #keySet = 0
  #opsInKeySet = 0

  newClient(): number {
    return this.#nextClient++
  }

  /** The key a new operation goes to; rotates to a fresh key set now and then. */
  pickKey(workload: RegisterWorkload, random: Prng): string {
    if (++this.#opsInKeySet > workload.opsPerKeySet) {
      this.#keySet++
      this.#opsInKeySet = 0
    }
    return `${workload.root}/s${this.#keySet}-k${random.int(workload.keys)}`
  }

  record(operation: Omit<Operation, 'id'>): void {
    this.operations.push({ ...operation, id: this.operations.length })
  }
}

/**
 * One logical client: until `isDone()`, picks a replica from `targets()` and
 * a key and an operation, and records what happened. Values are unique per
 * write (`<client>-<n>`), so a read tells exactly which write it saw.
 */
export async function registerClient(history: History, workload: RegisterWorkload, random: Prng, targets: () => readonly string[], isDone: () => boolean): Promise<void> {
  let client = history.newClient()
  let lastVersion = 0
  for (let n = 0; !isDone(); n++) {
    const urls = targets()
    if (urls.length === 0) {
      await sleep(50)
      continue
    }
    const path = history.pickKey(workload, random)
    const input = pickInput(random, `${client}-${n}`, lastVersion)
    const key = `${client}-${n}`
    const invokeMs = performance.now()
    let answer = await perform(random.pick(urls), path, input, key, workload.requestTimeoutMs)
    while (answer.outcome === 'unknown' && input.kind !== 'read' && performance.now() - invokeMs < workload.resolveMs) {
      await sleep(100 + random.int(200))
      const now = targets()
      if (now.length > 0) answer = await perform(random.pick(now), path, input, key, workload.requestTimeoutMs)
    }
    const completeMs = answer.outcome === 'unknown' ? null : performance.now()
    if (answer.output?.version !== undefined) lastVersion = answer.output.version
    history.record({ client, path, input, invokeMs, completeMs, ...answer })
    if (answer.outcome === 'unknown') {
      client = history.newClient()
      // The replica may be down: give the others a moment before the next try.
      await sleep(random.int(20))
    }
  }
}

function pickInput(random: Prng, data: string, lastVersion: number): ZnodeInput {
  const roll = random.int(100)
  // Versions near the last one seen, so conditional writes both succeed and fail.
  const version = random.chance(0.2) ? -1 : Math.max(0, lastVersion + random.int(3) - 1)
  if (roll < 40) return { kind: 'read' }
  if (roll < 60) return { kind: 'write', data }
  if (roll < 72) return { kind: 'create', data }
  if (roll < 90) return { kind: 'set', data, version }
  return { kind: 'delete', version }
}

type Answer = Pick<Operation, 'outcome' | 'output' | 'code'>

/** The fields of a znode answer or a problem that the history needs. */
interface ResponseBody {
  readonly code?: unknown
  readonly data?: unknown
  readonly zxid?: unknown
  readonly stat?: { readonly version?: unknown }
}

/** One request for `input`, and what it tells: ok with the output, a definite failure with its code, or unknown. */
export async function perform(url: string, path: string, input: ZnodeInput, idempotencyKey: string, timeoutMs: number): Promise<Answer> {
  const request = requestOf(url, path, input)
  const headers = { ...(request.init.headers as Record<string, string> | undefined), ...(input.kind === 'read' ? {} : { 'idempotency-key': idempotencyKey }) }
  let response: Response
  let body: ResponseBody
  try {
    response = await fetch(request.url, { ...request.init, headers, signal: AbortSignal.timeout(timeoutMs) })
    body = (await response.json()) as ResponseBody
  } catch {
    return { outcome: 'unknown' }
  }
  if (response.status >= 500) return { outcome: 'unknown' }
  const code = typeof body.code === 'string' ? body.code : undefined
  if (response.status >= 400) {
    if (input.kind === 'read' && code === 'NoNode') return { outcome: 'ok', output: { exists: false } }
    return { outcome: 'fail', code: code !== undefined && stateCodes.has(code) ? code : `refused:${code ?? response.status}` }
  }
  return { outcome: 'ok', output: outputOf(input, body) }
}

function requestOf(url: string, path: string, input: ZnodeInput): { url: string; init: RequestInit } {
  const at = `${url}/znodes${path}`
  switch (input.kind) {
    case 'read':
      return { url: `${at}?linearizable`, init: {} }
    case 'write':
      return { url: at, init: { method: 'PUT', body: input.data } }
    case 'create':
      return { url: at, init: { method: 'PUT', body: input.data, headers: { 'if-none-match': '*' } } }
    case 'set':
      return { url: `${at}?version=${input.version}`, init: { method: 'PUT', body: input.data } }
    case 'delete':
      return { url: `${at}?version=${input.version}`, init: { method: 'DELETE' } }
  }
}

function outputOf(input: ZnodeInput, body: ResponseBody): ZnodeOutput {
  const stat = body.stat
  const version = typeof stat?.version === 'number' ? stat.version : undefined
  const zxid = typeof body.zxid === 'number' ? body.zxid : undefined
  if (input.kind === 'read') {
    return { exists: true, data: String(body.data), ...(version !== undefined ? { version } : {}) }
  }
  return { exists: input.kind !== 'delete', ...(version !== undefined ? { version } : {}), ...(zxid !== undefined ? { zxid } : {}) }
}
