// The sequential specification of one znode path, as the linearizability
// checker sees it: a register that is either absent or holds data at a
// version. One function says what an operation, with the outcome it was
// recorded with, does to that state, or that it could not have happened in it.
import type { Operation, ZnodeInput, ZnodeOutput } from './history.ts'

/** A znode's state: null when it does not exist. */
export type ZnodeState = { readonly data: string; readonly version: number } | null

/**
 * Failure codes that say something about this path's state, per kind of
 * operation. Any other definite failure (Throttled, a refused request, a
 * create or upsert that found no parent) left the znode as it was and tells
 * nothing about it, so the search leaves those operations out. An upsert is
 * atomic in the tree, so no code of its says anything about the znode.
 */
const stateCodes: Record<ZnodeInput['kind'], readonly string[]> = {
  read: ['NoNode'],
  write: [],
  create: ['NodeExists'],
  set: ['NoNode', 'BadVersion'],
  delete: ['NoNode', 'BadVersion'],
}

/** Whether the operation constrains the search at all; unknown reads and uninformative failures do not. */
export function isInformative(op: Operation): boolean {
  switch (op.outcome) {
    case 'ok':
      return true
    case 'fail':
      return op.code !== undefined && stateCodes[op.input.kind].includes(op.code)
    case 'unknown':
      return op.input.kind !== 'read'
  }
}

/**
 * The state after `op` takes effect in `state`, or undefined when it could
 * not have taken effect there with the outcome that was recorded. An unknown
 * write whose condition does not hold is a no-op (the state itself comes back).
 */
export function stepZnode(state: ZnodeState, op: Operation): ZnodeState | undefined {
  switch (op.outcome) {
    case 'ok':
      return stepOk(state, op.input, outputOf(op))
    case 'fail':
      return holdsFailure(state, op.input, op.code) ? state : undefined
    case 'unknown': {
      // Not `??`: null is a state (absent), undefined is "condition failed".
      const next = effectOf(state, op.input)
      return next === undefined ? state : next
    }
  }
}

/** Stands in for every value no read returned (see forgetUnreadData); no read can return it. */
const unreadData = '\u0000unread'

/**
 * The same operations with every written value that no read returned replaced
 * by one placeholder. Data are only ever compared by reads, so states that
 * differ only in such values behave alike in every future; made equal, they
 * let the search's memo merge them (the orders of concurrent writes that
 * nobody read collapse into one), and unknown writes with equal inputs become
 * interchangeable.
 */
export function forgetUnreadData(ops: readonly Operation[]): Operation[] {
  const read = new Set(ops.flatMap((op) => (op.outcome === 'ok' && op.output?.data !== undefined ? [op.output.data] : [])))
  if (read.has(unreadData)) return [...ops]
  return ops.map((op) => ('data' in op.input && !read.has(op.input.data) ? { ...op, input: { ...op.input, data: unreadData } } : op))
}

/** A canonical text for an input, equal for operations that do the same thing. */
export function encodeInput(input: ZnodeInput): string {
  return JSON.stringify([input.kind, 'data' in input ? input.data : null, 'version' in input ? input.version : null])
}

/** A canonical text for a state, for the search's memo. */
export function encodeState(state: ZnodeState): string {
  return state === null ? '-' : `${state.version}:${state.data}`
}

/** A state as the report shows it. */
export function describeState(state: ZnodeState): string {
  if (state === null) return 'absent'
  return `${state.data === unreadData ? 'data no read returned' : JSON.stringify(state.data)} at version ${state.version}`
}

function outputOf(op: Operation): ZnodeOutput {
  if (op.output === undefined) throw new Error(`history: operation ${op.id} is ok but has no output`)
  return op.output
}

/**
 * What a successful operation does: the new state, or undefined when its
 * precondition does not hold. A read changes nothing.
 */
function effectOf(state: ZnodeState, input: ZnodeInput): ZnodeState | undefined {
  switch (input.kind) {
    case 'read':
      return state
    case 'write':
      return { data: input.data, version: state === null ? 0 : state.version + 1 }
    case 'create':
      return state === null ? { data: input.data, version: 0 } : undefined
    case 'set':
      return state !== null && matchesVersion(state, input.version) ? { data: input.data, version: state.version + 1 } : undefined
    case 'delete':
      return state !== null && matchesVersion(state, input.version) ? null : undefined
  }
}

function stepOk(state: ZnodeState, input: ZnodeInput, output: ZnodeOutput): ZnodeState | undefined {
  const next = effectOf(state, input)
  if (next === undefined) return undefined
  if (input.kind === 'read') return readMatches(state, output) ? state : undefined
  // A node that reported the version it wrote must have written that one.
  if (next !== null && output.version !== undefined && output.version !== next.version) return undefined
  return next
}

/** Fields the node left out of its answer constrain nothing; the ones it gave must match exactly. */
function readMatches(state: ZnodeState, output: ZnodeOutput): boolean {
  if (state === null) return !output.exists
  return output.exists && (output.data === undefined || output.data === state.data) && (output.version === undefined || output.version === state.version)
}

/** Whether a definite failure with `code` is what `input` gets in `state`. */
function holdsFailure(state: ZnodeState, input: ZnodeInput, code: string | undefined): boolean {
  switch (code) {
    case 'NoNode':
      return state === null
    case 'NodeExists':
      return state !== null
    case 'BadVersion':
      return state !== null && 'version' in input && !matchesVersion(state, input.version)
    default:
      throw new Error(`znode model: failure code ${String(code)} says nothing about the state; it should have been left out`)
  }
}

function matchesVersion(state: NonNullable<ZnodeState>, expected: number): boolean {
  return expected === -1 || expected === state.version
}
