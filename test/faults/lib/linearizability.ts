// The linearizability checker for fault-run histories (RELIABILITY.md, "A
// linearizability checker, sketched"): is there one order of the operations,
// consistent with real time, in which every znode behaves like the sequential
// model of znode-model.ts and every answer is the one the model gives?
//
// - Locality (Herlihy & Wing): a history is linearizable iff each object's
//   sub-history is, so every path is checked on its own. Each operation here
//   touches one path, so the partition is simply by path.
// - Per path, Wing & Gong's search with Lowe's memoization: walk a linked list
//   of call and return entries in time order; linearize a pending call when
//   the model allows it, backtrack on reaching the return of an operation not
//   yet linearized, and never explore the same (set of linearized operations,
//   model state) twice.
// - An operation with an unknown outcome has its return at +infinity: it may
//   take effect anywhere after its call, or never. Such operations are what
//   makes the search expensive, so it leans on data being unique per write:
//   values nobody read are forgotten, unknown operations with equal inputs
//   are counted rather than told apart, and a move that leaves a read's value
//   unreachable is cut at once. Reads that no order can explain (the usual
//   lost write) are found before searching at all.
// - Everything has a limit: a path whose search runs out of time or memo
//   space gets 'unknown', which callers count as a failure.
// - A cheap zxid check runs beside the search: acknowledged writes get unique
//   zxids that increase in real-time order.
import type { Operation, ZnodeInput } from './history.ts'
import { describeState, encodeInput, encodeState, forgetUnreadData, isInformative, stepZnode, type ZnodeState } from './znode-model.ts'
import { splitmix32 } from '../../support/raft-sim-prng.ts'

export type { ZnodeState } from './znode-model.ts'

export type Verdict = 'ok' | 'illegal' | 'unknown'

interface PathSummary {
  readonly path: string
  /** Operations the search considered: the path's operations less unknown reads and failures that say nothing. */
  readonly operations: number
  readonly elapsedMs: number
}

export type PathResult =
  | (PathSummary & { readonly verdict: 'ok' })
  | (PathSummary & {
      readonly verdict: 'illegal'
      /**
       * Ids of the longest sequence of operations the search could linearize,
       * in that order; empty when a read was found impossible before searching.
       */
      readonly longestPrefix: readonly number[]
      /** Id of the operation that could not be linearized after that prefix. */
      readonly unlinearizableOp: number
      readonly stateAfterPrefix: ZnodeState
      /** Why, in a sentence. */
      readonly reason: string
      /** Ids of other operations the reason names. */
      readonly related: readonly number[]
    })
  | (PathSummary & { readonly verdict: 'unknown'; readonly limit: 'searchMsMax' | 'memoEntriesMax' })

/**
 * 'not-increasing': write `earlier` completed before write `later` was invoked,
 * yet its zxid is not smaller. 'duplicate': two writes were acknowledged with
 * the same zxid (`earlier` was invoked first).
 */
export interface ZxidViolation {
  readonly kind: 'not-increasing' | 'duplicate'
  readonly earlier: number
  readonly later: number
}

export interface CheckResult {
  /** 'illegal' if any path is or any zxid is out of order; else 'unknown' if any path is; else 'ok'. */
  readonly verdict: Verdict
  readonly paths: readonly PathResult[]
  readonly zxidViolations: readonly ZxidViolation[]
}

export interface CheckOptions {
  /** Each path's state before the history began; absent when not given. */
  readonly initial?: ReadonlyMap<string, ZnodeState>
  /** Wall-clock time the search may spend on one path. */
  readonly searchMsMax?: number
  /** Memo entries one path's search may keep; bounds its memory (a million take a few hundred MB at 2,000 operations). */
  readonly memoEntriesMax?: number
}

export const checkLimitsDefault = { searchMsMax: 10_000, memoEntriesMax: 1_000_000 } as const

/** Reading the clock on every step would cost more than the step. */
const stepsPerClockCheck = 4096

export function checkLinearizability(history: readonly Operation[], options: CheckOptions = {}): CheckResult {
  history.forEach(assertWellFormed)
  const limits = { ...checkLimitsDefault, ...options }
  const paths = [...Map.groupBy(history, (op) => op.path)].map(([path, ops]) => checkPath(path, ops, options.initial?.get(path) ?? null, limits))
  const zxidViolations = checkZxids(history)
  return { verdict: overallVerdict(paths, zxidViolations), paths, zxidViolations }
}

function assertWellFormed(op: Operation): void {
  const fault =
    op.outcome !== 'unknown' && (op.completeMs === null || op.completeMs < op.invokeMs)
      ? 'a definite outcome needs a completion time no earlier than its invocation'
      : op.outcome === 'ok' && op.output === undefined
        ? 'an ok operation needs an output'
        : op.outcome === 'fail' && op.code === undefined
          ? 'a failed operation needs a code'
          : null
  if (fault !== null) throw new Error(`history: operation ${op.id}: ${fault}`)
}

function overallVerdict(paths: readonly PathResult[], zxidViolations: readonly ZxidViolation[]): Verdict {
  if (zxidViolations.length > 0 || paths.some((path) => path.verdict === 'illegal')) return 'illegal'
  return paths.some((path) => path.verdict === 'unknown') ? 'unknown' : 'ok'
}

interface Limits {
  readonly searchMsMax: number
  readonly memoEntriesMax: number
}

type IllegalOutcome = Omit<Extract<PathResult, { verdict: 'illegal' }>, keyof PathSummary>

function checkPath(path: string, pathOps: readonly Operation[], initial: ZnodeState, limits: Limits): PathResult {
  const startMs = performance.now()
  const ops = pathOps.filter(isInformative)
  const outcome = findImpossibleRead(ops, initial) ?? search(forgetUnreadData(ops), initial, limits, startMs)
  const summary = { path, operations: ops.length, elapsedMs: performance.now() - startMs }
  if (outcome.verdict !== 'illegal') return { ...summary, ...outcome }
  // The search saw placeholders for values nobody read; the report shows the real ones.
  return { ...summary, ...outcome, stateAfterPrefix: replay(outcome.longestPrefix, ops, initial) }
}

function replay(prefix: readonly number[], ops: readonly Operation[], initial: ZnodeState): ZnodeState {
  const byId = new Map(ops.map((op) => [op.id, op]))
  return prefix.reduce<ZnodeState>((state, id) => {
    const next = stepZnode(state, byId.get(id) as Operation)
    if (next === undefined) throw new Error(`linearizability: the prefix the search found does not replay at operation ${id}`)
    return next
  }, initial)
}

// ------------------------------------------------------------ reads no order explains

/**
 * A read that no order can explain, found without searching. Data are unique
 * per write, so a read of value v needs v's writer to be the last change
 * before it. It cannot be when nothing that may have taken effect wrote v,
 * when the writer began only after the read completed, or when an
 * acknowledged change (a write of another value, a delete) began after the
 * writer completed and completed before the read began. These are the usual
 * symptoms of lost writes and stale reads, and finding them here matters:
 * the search would have to try every order of everything before the read to
 * conclude the same, and with unknown operations pending that can take longer
 * than any budget.
 */
function findImpossibleRead(ops: readonly Operation[], initial: ZnodeState): IllegalOutcome | undefined {
  const writers = Map.groupBy(
    ops.filter((op) => writtenValueOf(op) !== undefined),
    (op) => writtenValueOf(op) as string,
  )
  const changes = new AcknowledgedChanges(ops)
  const reads = ops.filter((op) => readValueOf(op) !== undefined).toSorted((a, b) => a.invokeMs - b.invokeMs)
  for (const read of reads) {
    const value = readValueOf(read) as string
    if (value === initial?.data) continue
    const [writer, ...others] = writers.get(value) ?? []
    const impossible = (reason: string, related: readonly number[]): IllegalOutcome => ({ verdict: 'illegal', longestPrefix: [], unlinearizableOp: read.id, stateAfterPrefix: initial, reason, related })
    if (writer === undefined) return impossible(`it returned ${JSON.stringify(value)}, which no operation that may have taken effect wrote`, [])
    if (others.length > 0 || writer.completeMs === null) continue
    if (writer.invokeMs > (read.completeMs as number)) return impossible(`it returned ${JSON.stringify(value)}, written by op ${writer.id}, which began after this read completed`, [writer.id])
    const overwriter = changes.firstBetween(writer.completeMs, read.invokeMs)
    if (overwriter !== undefined) {
      return impossible(`it returned ${JSON.stringify(value)}, written by op ${writer.id}, but op ${overwriter.id} changed the znode after that write completed and before this read began`, [writer.id, overwriter.id])
    }
  }
  return undefined
}

/** Acknowledged writes and deletes, for "did one begin after t0 and complete before t1?" in O(log n). */
class AcknowledgedChanges {
  readonly #byInvoke: readonly Operation[]
  /** For each position, the change from there on that completed first. */
  readonly #firstCompletedFrom: readonly (Operation | undefined)[]

  constructor(ops: readonly Operation[]) {
    this.#byInvoke = ops.filter((op) => op.outcome === 'ok' && op.input.kind !== 'read').toSorted((a, b) => a.invokeMs - b.invokeMs)
    const firsts: (Operation | undefined)[] = []
    for (let i = this.#byInvoke.length - 1, first: Operation | undefined; i >= 0; i--) {
      const op = this.#byInvoke[i] as Operation
      if (first === undefined || (op.completeMs as number) < (first.completeMs as number)) first = op
      firsts[i] = first
    }
    this.#firstCompletedFrom = firsts
  }

  /** A change invoked after `afterMs` that completed before `beforeMs`, if there is one. */
  firstBetween(afterMs: number, beforeMs: number): Operation | undefined {
    let low = 0
    let high = this.#byInvoke.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if ((this.#byInvoke[middle] as Operation).invokeMs > afterMs) high = middle
      else low = middle + 1
    }
    const first = this.#firstCompletedFrom[low]
    return first !== undefined && (first.completeMs as number) < beforeMs ? first : undefined
  }
}

// ------------------------------------------------------------ the search

type SearchOutcome = { readonly verdict: 'ok' } | { readonly verdict: 'unknown'; readonly limit: 'searchMsMax' | 'memoEntriesMax' } | IllegalOutcome

/**
 * Where the search is among the candidates for the next operation to
 * linearize: the calls in the entry list and the unknown operations, merged
 * in time order, up to the first return still pending.
 */
interface Cursor {
  /** The next entry of the list to look at. */
  readonly entry: number
  /** The next unknown operation to consider. */
  readonly next: number
}

/** An operation to linearize: definite (an index into the entry list's operations) or unknown (into the unknown ones). */
interface Move {
  readonly isUnknown: boolean
  readonly index: number
  readonly op: Operation
}

/** A linearized operation, the state before it, and where to go on once it is undone. */
interface Frame extends Move {
  readonly stateBefore: ZnodeState
  readonly resume: Cursor
}

function search(ops: readonly Operation[], initial: ZnodeState, limits: Limits, startMs: number): SearchOutcome {
  return new PathSearch(ops, initial).run(limits, startMs)
}

/**
 * Wing & Gong's depth-first search. Definite operations sit in the entry
 * list; unknown ones have no return to wait for (it is at +infinity), so they
 * are kept apart, sorted by invocation, and offered in time order among the
 * calls. When no definite operation is left the history is linearizable:
 * unknown operations still pending may never have happened.
 *
 * Unknown operations with equal inputs are interchangeable once invoked:
 * from then on, any point where one may take effect suits the others too.
 * So the memo records how many of each such class have been applied, not
 * which, and does not explore every choice among equals.
 */
class PathSearch {
  readonly #definite: readonly Operation[]
  readonly #unknown: readonly Operation[]
  readonly #classOf: Int32Array
  readonly #list: EntryList
  readonly #linearized: OpSet
  readonly #applied: OpSet
  readonly #appliedPerClass: Uint32Array
  readonly #memo: Memo
  readonly #owed: OwedReads
  readonly #stateIds = new StateIds()
  readonly #stack: Frame[] = []
  #state: ZnodeState
  #deepest: IllegalOutcome | null = null

  constructor(ops: readonly Operation[], initial: ZnodeState) {
    // In invocation order, which keeps linearized sets compact in the memo.
    this.#definite = ops.filter((op) => op.outcome !== 'unknown').toSorted((a, b) => a.invokeMs - b.invokeMs)
    this.#unknown = ops.filter((op) => op.outcome === 'unknown').toSorted((a, b) => a.invokeMs - b.invokeMs)
    this.#classOf = classesOf(this.#unknown)
    this.#list = new EntryList(this.#definite)
    this.#linearized = new OpSet(this.#definite.length)
    this.#applied = new OpSet(this.#unknown.length)
    this.#appliedPerClass = new Uint32Array(this.#classOf.reduce((max, id) => Math.max(max, id), -1) + 1)
    this.#memo = new Memo()
    this.#owed = new OwedReads(ops)
    this.#state = initial
  }

  run(limits: Limits, startMs: number): SearchOutcome {
    let cursor = this.#restart()
    for (let steps = 0; ; steps++) {
      if (steps % stepsPerClockCheck === 0 && performance.now() - startMs > limits.searchMsMax) return { verdict: 'unknown', limit: 'searchMsMax' }
      if (this.#memo.size > limits.memoEntriesMax) return { verdict: 'unknown', limit: 'memoEntriesMax' }
      if (cursor.entry === none) return { verdict: 'ok' }
      const entryMs = this.#list.timeAt(cursor.entry)
      const unknownMs = this.#unknown[cursor.next]?.invokeMs ?? Infinity
      if (this.#list.isCall(cursor.entry) && entryMs <= unknownMs) {
        cursor = this.#tryDefinite(cursor)
      } else if (unknownMs <= entryMs) {
        cursor = this.#tryUnknown(cursor)
      } else {
        const resume = this.#backtrack(cursor.entry)
        if (resume === null) return this.#deepest as IllegalOutcome
        cursor = resume
      }
    }
  }

  #restart(): Cursor {
    return { entry: this.#list.first(), next: 0 }
  }

  /** Linearizes the definite operation called at the cursor's entry if it can; answers where to look next. */
  #tryDefinite(cursor: Cursor): Cursor {
    const index = this.#list.opAt(cursor.entry)
    const op = this.#definite[index] as Operation
    const skip: Cursor = { ...cursor, entry: this.#list.after(cursor.entry) }
    const next = stepZnode(this.#state, op)
    return next === undefined ? skip : this.#advance({ isUnknown: false, index, op }, next, skip)
  }

  /** Applies the cursor's next unknown operation if it can; answers where to look next. */
  #tryUnknown(cursor: Cursor): Cursor {
    const index = cursor.next
    const op = this.#unknown[index] as Operation
    const skip: Cursor = { ...cursor, next: index + 1 }
    if (this.#applied.has(index)) return skip
    const next = stepZnode(this.#state, op)
    // A write whose condition fails here is a no-op (the model hands back the
    // very same state): no different from not happening yet, which leaving
    // it pending already covers.
    if (next === undefined || next === this.#state) return skip
    return this.#advance({ isUnknown: true, index, op }, next, skip)
  }

  /**
   * Takes the move to `next` unless it leaves some read's value unreachable
   * or the memo has covered the configuration it leads to; answers where to
   * look next: from the start of the list after a move, `skip` otherwise.
   */
  #advance(move: Move, next: ZnodeState, skip: Cursor): Cursor {
    this.#mark(move, true)
    if (this.#owed.isStranded(this.#state, next) || !this.#memo.remember(this.#linearized, this.#appliedPerClass, this.#stateIds.of(next))) {
      this.#mark(move, false)
      return skip
    }
    this.#stack.push({ ...move, stateBefore: this.#state, resume: skip })
    this.#state = next
    if (!move.isUnknown) this.#list.lift(move.index)
    return this.#restart()
  }

  /** Records the move as taken or undone in every set that counts moves. */
  #mark(move: Move, isTaken: boolean): void {
    this.#owed.count(move.op, isTaken ? -1 : 1)
    if (!move.isUnknown) {
      this.#linearized.toggle(move.index)
      return
    }
    this.#applied.toggle(move.index)
    const cls = this.#classOf[move.index] as number
    this.#appliedPerClass[cls] = (this.#appliedPerClass[cls] as number) + (isTaken ? 1 : -1)
  }

  /** At a dead end (the operation returning at `pendingReturn` cannot be linearized next): undoes the last step, or answers null when there is none. */
  #backtrack(pendingReturn: number): Cursor | null {
    this.#recordDeadEnd(this.#list.opAt(pendingReturn))
    const frame = this.#stack.pop()
    if (frame === undefined) return null
    this.#state = frame.stateBefore
    this.#mark(frame, false)
    if (!frame.isUnknown) this.#list.unlift(frame.index)
    return frame.resume
  }

  /**
   * Keeps the deepest dead end for the report. When the stuck operation was
   * refused only because it would strand a read, the read is the one to
   * blame, right after it: that is where a search without this shortcut
   * would have stopped.
   */
  #recordDeadEnd(index: number): void {
    // Cheap test first: dead ends are as common as steps, and most are shallower.
    if (this.#deepest !== null && this.#stack.length + 1 <= this.#deepest.longestPrefix.length) return
    const prefix = this.#stack.map((frame) => frame.op.id)
    const stuck = this.#definite[index] as Operation
    const stranded = this.#strandedRead({ isUnknown: false, index, op: stuck })
    const deadEnd: IllegalOutcome =
      stranded === undefined
        ? { verdict: 'illegal', longestPrefix: prefix, unlinearizableOp: stuck.id, stateAfterPrefix: this.#state, reason: 'no order of the operations before it gives the outcome it had', related: [] }
        : {
            verdict: 'illegal',
            longestPrefix: [...prefix, stuck.id],
            unlinearizableOp: stranded.read.id,
            stateAfterPrefix: stranded.state,
            reason: `no order lets it take effect, with the outcome it had, before op ${stuck.id} overwrites the value it returned`,
            related: [stuck.id],
          }
    if (this.#deepest === null || deadEnd.longestPrefix.length > this.#deepest.longestPrefix.length) this.#deepest = deadEnd
  }

  /** The first read that taking `move` now would strand, with the state after it, if it would strand one. */
  #strandedRead(move: Move): { readonly read: Operation; readonly state: ZnodeState } | undefined {
    const next = stepZnode(this.#state, move.op)
    if (next === undefined || this.#state === null) return undefined
    this.#mark(move, true)
    const isStranded = this.#owed.isStranded(this.#state, next)
    this.#mark(move, false)
    if (!isStranded) return undefined
    const value = this.#state.data
    const read = this.#definite.find((op, index) => !this.#linearized.has(index) && readValueOf(op) === value)
    return read === undefined ? undefined : { read, state: next }
  }
}

/**
 * The values reads returned that are still owed to reads not yet linearized.
 * Data are unique per write, so once the state moves off a value and no
 * operation left can write it again, every read still owed it is stranded:
 * no order of what remains can linearize it. Cutting such a move at once
 * spares the search from trying every way to finish the rest first (a stale
 * read would otherwise be blamed only after all of them).
 */
class OwedReads {
  readonly #idOf = new Map<string, number>()
  readonly #readersLeft: number[] = []
  readonly #writersLeft: number[] = []

  constructor(ops: readonly Operation[]) {
    for (const op of ops) {
      const read = readValueOf(op)
      if (read !== undefined && !this.#idOf.has(read)) {
        this.#idOf.set(read, this.#idOf.size)
        this.#readersLeft.push(0)
        this.#writersLeft.push(0)
      }
    }
    for (const op of ops) this.count(op, 1)
  }

  /** Counts the operation as left (+1) or as taken (-1). */
  count(op: Operation, change: 1 | -1): void {
    const read = readValueOf(op)
    if (read !== undefined) this.#add(this.#readersLeft, read, change)
    const written = writtenValueOf(op)
    if (written !== undefined) this.#add(this.#writersLeft, written, change)
  }

  /** Whether moving from `state` to `next` (already counted) leaves reads owed a value nothing can bring back. */
  isStranded(state: ZnodeState, next: ZnodeState): boolean {
    if (state === null || next?.data === state.data) return false
    const id = this.#idOf.get(state.data)
    return id !== undefined && (this.#readersLeft[id] as number) > 0 && this.#writersLeft[id] === 0
  }

  #add(counts: number[], value: string, change: 1 | -1): void {
    const id = this.#idOf.get(value)
    if (id !== undefined) counts[id] = (counts[id] as number) + change
  }
}

/** The value an ok read returned, if it returned one. */
function readValueOf(op: Operation): string | undefined {
  return op.outcome === 'ok' && op.input.kind === 'read' ? op.output?.data : undefined
}

/** The value an operation may have written: an acknowledged or unknown write's. */
function writtenValueOf(op: Operation): string | undefined {
  return op.outcome !== 'fail' && 'data' in op.input ? op.input.data : undefined
}

/** For each operation, a small id shared by the operations with equal inputs. */
function classesOf(ops: readonly Operation[]): Int32Array {
  const ids = new Map<string, number>()
  return Int32Array.from(ops, (op) => {
    const key = encodeInput(op.input)
    const id = ids.get(key) ?? ids.size
    ids.set(key, id)
    return id
  })
}

const none = -1
const head = 0

/**
 * The call and return entries of a path's definite operations as a doubly
 * linked list in time order, calls before returns at equal times (so
 * operations that touch at one instant count as concurrent). Entry 0 is the
 * head. Lifting an operation unlinks both its entries; unlifting in the
 * reverse order of lifting puts them back where they were (dancing links).
 */
class EntryList {
  readonly #next: Int32Array
  readonly #prev: Int32Array
  readonly #opOf: Int32Array
  readonly #isCall: Uint8Array
  readonly #timeMs: Float64Array
  readonly #callOf: Int32Array
  readonly #returnOf: Int32Array

  constructor(ops: readonly Operation[]) {
    const entries = ops.flatMap((op, index) => [
      { index, isCall: true, timeMs: op.invokeMs },
      { index, isCall: false, timeMs: op.completeMs as number },
    ])
    entries.sort((a, b) => a.timeMs - b.timeMs || Number(b.isCall) - Number(a.isCall) || a.index - b.index)
    const count = entries.length + 1
    this.#next = new Int32Array(count)
    this.#prev = new Int32Array(count)
    this.#opOf = new Int32Array(count)
    this.#isCall = new Uint8Array(count)
    this.#timeMs = new Float64Array(count)
    this.#callOf = new Int32Array(ops.length)
    this.#returnOf = new Int32Array(ops.length)
    entries.forEach(({ index, isCall, timeMs }, position) => {
      const entry = position + 1
      this.#prev[entry] = entry - 1
      this.#next[entry - 1] = entry
      this.#opOf[entry] = index
      this.#isCall[entry] = isCall ? 1 : 0
      this.#timeMs[entry] = timeMs
      if (isCall) this.#callOf[index] = entry
      else this.#returnOf[index] = entry
    })
    this.#next[count - 1] = none
  }

  first(): number {
    return this.#next[head] as number
  }

  after(entry: number): number {
    return this.#next[entry] as number
  }

  opAt(entry: number): number {
    return this.#opOf[entry] as number
  }

  isCall(entry: number): boolean {
    return this.#isCall[entry] === 1
  }

  timeAt(entry: number): number {
    return this.#timeMs[entry] as number
  }

  lift(index: number): void {
    this.#unlink(this.#callOf[index] as number)
    this.#unlink(this.#returnOf[index] as number)
  }

  unlift(index: number): void {
    this.#relink(this.#returnOf[index] as number)
    this.#relink(this.#callOf[index] as number)
  }

  #unlink(entry: number): void {
    const prev = this.#prev[entry] as number
    const next = this.#next[entry] as number
    this.#next[prev] = next
    if (next !== none) this.#prev[next] = prev
  }

  #relink(entry: number): void {
    const next = this.#next[entry] as number
    this.#next[this.#prev[entry] as number] = entry
    if (next !== none) this.#prev[next] = entry
  }
}

/**
 * A set of linearized operations as a bitset, with a hash kept up to date in
 * O(1) per change (Zobrist hashing: the xor of a fixed random key per member),
 * so the memo never has to hash the whole bitset.
 */
class OpSet {
  readonly words: Uint32Array
  readonly #keys: Uint32Array
  hash = 0

  constructor(size: number) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(size / 32)))
    this.#keys = new Uint32Array(size)
    const random = splitmix32(size)
    for (let i = 0; i < size; i++) this.#keys[i] = random()
  }

  has(index: number): boolean {
    return (((this.words[index >>> 5] as number) >>> (index & 31)) & 1) === 1
  }

  /** Adds an operation that is not a member, or removes one that is. */
  toggle(index: number): void {
    this.words[index >>> 5] = ((this.words[index >>> 5] as number) ^ (1 << (index & 31))) >>> 0
    this.hash = (this.hash ^ (this.#keys[index] as number)) >>> 0
  }
}

/** Small integer ids for model states, so the memo compares numbers, not states. */
class StateIds {
  readonly #ids = new Map<string, number>()

  of(state: ZnodeState): number {
    const key = encodeState(state)
    let id = this.#ids.get(key)
    if (id === undefined) {
      id = this.#ids.size
      this.#ids.set(key, id)
    }
    return id
  }
}

/**
 * Lowe's memo of configurations already explored, a configuration being the
 * definite operations linearized, how many unknown ones of each class are
 * applied, and the state. A configuration covers another that has the same
 * definite operations and state when it has applied no more unknown
 * operations of any class: whatever the other can still do, it can too (it
 * may apply the extra ones later, or never). A configuration covered by one
 * seen already is not explored again, which keeps the search from trying
 * every subset of unknown writes that a later delete has made
 * indistinguishable.
 *
 * Definite operations are numbered in invocation order, so a linearized set
 * is all ones up to near the frontier and all zeros after it; classes too are
 * numbered in invocation order, so the counts of later ones are mostly zero.
 * A slot keeps only what lies between: the index of the first word that is
 * not full, the number of words kept, those words, the number of counts
 * kept, those counts. Slots share one growing arena, which costs far less
 * than a typed array each. Buckets are chained by the hash of (definite
 * operations, state).
 */
class Memo {
  #arena = new Uint32Array(1 << 16)
  #arenaUsed = 0
  readonly #offsets: number[] = []
  readonly #stateIds: number[] = []
  readonly #chain: number[] = []
  readonly #buckets = new Map<number, number>()

  get size(): number {
    return this.#stateIds.length
  }

  /** Remembers the configuration unless one seen already covers it; answers whether it was remembered. */
  remember(definite: OpSet, appliedPerClass: Uint32Array, stateId: number): boolean {
    const hash = (definite.hash ^ Math.imul(stateId + 1, 0x9e3779b1)) >>> 0
    const first = this.#buckets.get(hash) ?? none
    const [low, high] = significantWords(definite.words)
    const counts = appliedPerClass.subarray(0, lengthWithoutTrailingZeros(appliedPerClass))
    for (let slot = first; slot !== none; slot = this.#chain[slot] as number) {
      if (this.#stateIds[slot] === stateId && this.#covers(slot, definite.words, low, high, appliedPerClass)) return false
    }
    this.#offsets.push(this.#append(definite.words.subarray(low, high), low, counts))
    this.#stateIds.push(stateId)
    this.#chain.push(first)
    this.#buckets.set(hash, this.size - 1)
    return true
  }

  #covers(slot: number, words: Uint32Array, low: number, high: number, appliedPerClass: Uint32Array): boolean {
    const offset = this.#offsets[slot] as number
    if (this.#arena[offset] !== low || this.#arena[offset + 1] !== high - low) return false
    for (let i = low; i < high; i++) {
      if (this.#arena[offset + 2 + i - low] !== words[i]) return false
    }
    // Counts not kept are zero, and zero is no more than any count.
    const countsAt = offset + 2 + high - low
    const countsKept = this.#arena[countsAt] as number
    for (let i = 0; i < countsKept; i++) {
      if ((this.#arena[countsAt + 1 + i] as number) > (appliedPerClass[i] as number)) return false
    }
    return true
  }

  /** Copies a slot to the end of the arena; answers where it starts. */
  #append(words: Uint32Array, low: number, counts: Uint32Array): number {
    const offset = this.#arenaUsed
    const length = 3 + words.length + counts.length
    if (offset + length > this.#arena.length) {
      const larger = new Uint32Array(Math.max(offset + length, Math.ceil(this.#arena.length * 1.5)))
      larger.set(this.#arena)
      this.#arena = larger
    }
    this.#arena.set([low, words.length], offset)
    this.#arena.set(words, offset + 2)
    this.#arena[offset + 2 + words.length] = counts.length
    this.#arena.set(counts, offset + 3 + words.length)
    this.#arenaUsed += length
    return offset
  }
}

/** The range of a bitset's words less the full ones it starts with and the empty ones it ends with. */
function significantWords(words: Uint32Array): readonly [low: number, high: number] {
  let low = 0
  while (low < words.length && words[low] === 0xffffffff) low++
  return [low, lengthWithoutTrailingZeros(words)]
}

function lengthWithoutTrailingZeros(values: Uint32Array): number {
  let length = values.length
  while (length > 0 && values[length - 1] === 0) length--
  return length
}

// ------------------------------------------------------------ zxids

interface ZxidWrite {
  readonly id: number
  readonly zxid: number
  readonly invokeMs: number
  readonly completeMs: number
}

/**
 * Acknowledged writes carry unique zxids, increasing in real-time order:
 * a write that completed before another was invoked has the smaller zxid.
 * One sweep over the writes by invocation, keeping the largest zxid among
 * those that completed earlier: O(n log n). Zxids are global, so this spans paths.
 */
export function checkZxids(history: readonly Operation[]): ZxidViolation[] {
  const writes = history.flatMap(zxidWriteOf)
  const byInvoke = writes.toSorted((a, b) => a.invokeMs - b.invokeMs)
  const byComplete = writes.toSorted((a, b) => a.completeMs - b.completeMs)
  const violations: ZxidViolation[] = []
  let latest: ZxidWrite | null = null
  let completed = 0
  for (const write of byInvoke) {
    for (; completed < byComplete.length && (byComplete[completed] as ZxidWrite).completeMs < write.invokeMs; completed++) {
      const done = byComplete[completed] as ZxidWrite
      if (latest === null || done.zxid > latest.zxid) latest = done
    }
    if (latest !== null && latest.zxid >= write.zxid) violations.push({ kind: 'not-increasing', earlier: latest.id, later: write.id })
  }
  return [...violations, ...duplicateZxids(byInvoke)]
}

function zxidWriteOf(op: Operation): ZxidWrite[] {
  const zxid = op.output?.zxid
  if (op.outcome !== 'ok' || op.input.kind === 'read' || zxid === undefined || op.completeMs === null) return []
  return [{ id: op.id, zxid, invokeMs: op.invokeMs, completeMs: op.completeMs }]
}

function duplicateZxids(byInvoke: readonly ZxidWrite[]): ZxidViolation[] {
  const firstWith = new Map<number, ZxidWrite>()
  const violations: ZxidViolation[] = []
  for (const write of byInvoke) {
    const first = firstWith.get(write.zxid)
    if (first === undefined) firstWith.set(write.zxid, write)
    else violations.push({ kind: 'duplicate', earlier: first.id, later: write.id })
  }
  return violations
}

// ------------------------------------------------------------ the report

/** Operations shown around a failure, at most. */
const reportOpsMax = 15
/** Linearized operations shown before the one that could not be. */
const reportPrefixTail = 3

/** A short account for a human: every path that is not ok, with the operations around its failure, and zxid violations. */
export function formatReport(result: CheckResult, history: readonly Operation[]): string {
  const byId = new Map(history.map((op) => [op.id, op]))
  const counts = (['ok', 'illegal', 'unknown'] as const).map((verdict) => `${result.paths.filter((path) => path.verdict === verdict).length} ${verdict}`)
  const lines = [`linearizability: ${result.verdict} (${result.paths.length} paths: ${counts.join(', ')}; ${result.zxidViolations.length} zxid violations)`]
  for (const path of result.paths) {
    if (path.verdict === 'unknown') {
      lines.push(`path ${path.path}: unknown, the search hit ${path.limit} after ${path.elapsedMs.toFixed(0)} ms on ${path.operations} operations`)
    } else if (path.verdict === 'illegal') {
      lines.push(...describeIllegalPath(path, history, byId))
    }
  }
  for (const violation of result.zxidViolations) lines.push(describeZxidViolation(violation, byId))
  return lines.join('\n')
}

function describeIllegalPath(path: Extract<PathResult, { verdict: 'illegal' }>, history: readonly Operation[], byId: ReadonlyMap<number, Operation>): string[] {
  const stuck = byId.get(path.unlinearizableOp) as Operation
  const stuckEndMs = stuck.completeMs ?? Infinity
  const linearized = new Set(path.longestPrefix)
  const shown = new Set([...path.longestPrefix.slice(-reportPrefixTail), ...path.related])
  // The operations that overlap the stuck one are those it could have been ordered against.
  for (const op of history) {
    if (op.path === path.path && isInformative(op) && op.invokeMs <= stuckEndMs && (op.completeMs ?? Infinity) >= stuck.invokeMs) shown.add(op.id)
  }
  const ops = [...shown].map((id) => byId.get(id) as Operation).toSorted((a, b) => a.invokeMs - b.invokeMs)
  const prefix = path.longestPrefix.length === 0 ? 'found before searching' : `after linearizing ${path.longestPrefix.length} of ${path.operations} operations (+), reaching ${describeState(path.stateAfterPrefix)}`
  const lines = [
    `path ${path.path}: illegal; op ${stuck.id} (!) could not be linearized: ${path.reason}`,
    `    ${prefix}`,
    ...ops.slice(0, reportOpsMax).map((op) => `  ${op.id === stuck.id ? '!' : linearized.has(op.id) ? '+' : ' '} ${describeOp(op)}`),
  ]
  if (ops.length > reportOpsMax) lines.push(`    ... ${ops.length - reportOpsMax} more overlapping operations`)
  return lines
}

function describeZxidViolation(violation: ZxidViolation, byId: ReadonlyMap<number, Operation>): string {
  const earlier = byId.get(violation.earlier) as Operation
  const later = byId.get(violation.later) as Operation
  const what = violation.kind === 'duplicate' ? 'share a zxid' : 'completed in this order but the zxids do not increase'
  return [`zxid: ops ${earlier.id} and ${later.id} ${what}`, `    ${describeOp(earlier)}`, `    ${describeOp(later)}`].join('\n')
}

function describeOp(op: Operation): string {
  const completed = op.completeMs === null ? '?' : op.completeMs.toFixed(3)
  return `#${op.id} client ${op.client} [${op.invokeMs.toFixed(3)}, ${completed}] ms ${describeInput(op.input)} -> ${describeOutcome(op)}`
}

function describeInput(input: ZnodeInput): string {
  switch (input.kind) {
    case 'read':
      return 'read'
    case 'write':
    case 'create':
      return `${input.kind} ${JSON.stringify(input.data)}`
    case 'set':
      return `set ${JSON.stringify(input.data)} if version ${input.version}`
    case 'delete':
      return `delete if version ${input.version}`
  }
}

function describeOutcome(op: Operation): string {
  if (op.outcome !== 'ok') return op.outcome === 'fail' ? `fail ${op.code}` : 'unknown'
  const output = op.output
  if (output === undefined) return 'ok'
  const fields = [
    op.input.kind === 'read' && !output.exists ? 'absent' : null,
    output.data !== undefined ? JSON.stringify(output.data) : null,
    output.version !== undefined ? `version ${output.version}` : null,
    output.zxid !== undefined ? `zxid ${output.zxid}` : null,
  ]
  return ['ok', ...fields.filter((field) => field !== null)].join(' ')
}
