// The linearizability checker (RELIABILITY.md, "A linearizability checker,
// sketched") against histories whose answer is known: hand-written ones that
// are linearizable only in one order or not at all, and random ones recorded
// from a simulated register, linearizable by construction until one read is
// corrupted into something no order explains. Checkers need tests too.
import { describe, expect, it } from 'vitest'
import type { Operation, ZnodeInput, ZnodeOutput } from '../../faults/lib/history.ts'
import { checkLinearizability, checkZxids, formatReport, type CheckResult, type PathResult, type ZnodeState } from '../../faults/lib/linearizability.ts'
import { Prng } from '../../support/raft-sim-prng.ts'

// ------------------------------------------------------------ writing histories by hand

const read: ZnodeInput = { kind: 'read' }
const write = (data: string): ZnodeInput => ({ kind: 'write', data })
const create = (data: string): ZnodeInput => ({ kind: 'create', data })
const set = (data: string, version: number): ZnodeInput => ({ kind: 'set', data, version })
const del = (version: number): ZnodeInput => ({ kind: 'delete', version })

const seen = (data: string, version: number): ZnodeOutput => ({ exists: true, data, version })
const absent: ZnodeOutput = { exists: false }
/** A successful write, with the version it produced and its zxid when the test cares. */
const wrote = (version?: number, zxid?: number): ZnodeOutput => ({ exists: true, ...(version !== undefined ? { version } : {}), ...(zxid !== undefined ? { zxid } : {}) })
const deleted: ZnodeOutput = { exists: false }

type Span = readonly [invokeMs: number, completeMs: number]

/** Records operations on /r (or another path) with dense ids, as the fault runner does. */
class Recorder {
  readonly ops: Operation[] = []

  ok(client: number, [invokeMs, completeMs]: Span, input: ZnodeInput, output: ZnodeOutput, path = '/r'): number {
    return this.#add({ client, path, input, invokeMs, completeMs, outcome: 'ok', output })
  }

  fail(client: number, [invokeMs, completeMs]: Span, input: ZnodeInput, code: string, path = '/r'): number {
    return this.#add({ client, path, input, invokeMs, completeMs, outcome: 'fail', code })
  }

  unknown(client: number, invokeMs: number, input: ZnodeInput, path = '/r'): number {
    return this.#add({ client, path, input, invokeMs, completeMs: null, outcome: 'unknown' })
  }

  #add(op: Omit<Operation, 'id'>): number {
    const id = this.ops.length
    this.ops.push({ ...op, id })
    return id
  }
}

function verdictOf(ops: readonly Operation[], initial?: ReadonlyMap<string, ZnodeState>): CheckResult['verdict'] {
  return checkLinearizability(ops, initial === undefined ? {} : { initial }).verdict
}

function pathResult(result: CheckResult, path: string): PathResult {
  const found = result.paths.find((candidate) => candidate.path === path)
  if (found === undefined) throw new Error(`no result for ${path}`)
  return found
}

// ------------------------------------------------------------ linearizable histories

describe('linearizable histories pass', () => {
  it('a sequential history of every kind of operation', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], read, absent)
    h.ok(0, [2, 3], write('a'), wrote(0))
    h.ok(1, [4, 5], read, seen('a', 0))
    h.ok(0, [6, 7], set('b', 0), wrote(1))
    h.ok(1, [8, 9], write('c'), wrote(2))
    h.ok(1, [10, 11], read, seen('c', 2))
    h.ok(0, [12, 13], del(2), deleted)
    h.ok(1, [14, 15], read, absent)
    h.ok(0, [16, 17], create('d'), wrote(0))
    h.ok(1, [18, 19], read, seen('d', 0))
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('concurrent writes whose reported versions allow only one order, which is not the order of invocation', () => {
    const h = new Recorder()
    h.ok(0, [0, 100], write('x'), wrote(2))
    h.ok(1, [1, 100], write('y'), wrote(0))
    h.ok(2, [2, 100], write('z'), wrote(1))
    h.ok(3, [50, 60], read, seen('z', 1))
    h.ok(3, [101, 102], read, seen('x', 2))
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('reads overlapping two writes see them in one order consistent with both', () => {
    const h = new Recorder()
    h.ok(0, [0, 10], write('a'), wrote())
    h.ok(1, [0, 10], write('b'), wrote())
    h.ok(2, [1, 2], read, seen('b', 0))
    h.ok(3, [3, 9], read, seen('a', 1))
    h.ok(2, [11, 12], read, seen('a', 1))
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('an unknown write that must take effect late, after later reads saw the znode without it', () => {
    const h = new Recorder()
    h.unknown(0, 0, write('u'))
    h.ok(1, [1, 2], read, absent)
    h.ok(2, [5, 6], write('a'), wrote(0))
    h.ok(1, [7, 8], read, seen('a', 0))
    h.ok(1, [20, 21], read, seen('u', 1))
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('an unknown delete that must have taken effect between two reads', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], create('a'), wrote(0))
    h.unknown(1, 2, del(0))
    h.ok(2, [3, 4], read, seen('a', 0))
    h.ok(2, [10, 11], read, absent)
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('unknown writes that can never have taken effect (every version is accounted for)', () => {
    const h = new Recorder()
    h.unknown(0, 0, write('u'))
    h.unknown(1, 1, set('v', -1))
    h.ok(2, [2, 3], write('a'), wrote(0))
    h.ok(3, [4, 5], read, seen('a', 0))
    h.ok(2, [6, 7], write('b'), wrote(1))
    h.ok(3, [8, 9], read, seen('b', 1))
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('an unknown conditional write whose condition never held', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], create('a'), wrote(0))
    h.unknown(1, 2, set('u', 7))
    h.unknown(2, 2, create('v'))
    h.ok(0, [3, 4], set('b', 0), wrote(1))
    h.ok(0, [5, 6], read, seen('b', 1))
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('delete and re-create cycles, with versions starting again at 0', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], create('a'), wrote(0))
    h.ok(0, [2, 3], del(0), deleted)
    h.ok(1, [4, 5], create('b'), wrote(0))
    h.ok(1, [6, 7], read, seen('b', 0))
    h.ok(0, [8, 9], set('c', 0), wrote(1))
    h.ok(0, [10, 11], del(-1), deleted)
    h.ok(1, [12, 13], read, absent)
    h.ok(1, [14, 15], write('d'), wrote(0))
    h.ok(0, [16, 17], read, seen('d', 0))
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('BadVersion, NodeExists and NoNode failures where they are the right answer', () => {
    const h = new Recorder()
    h.fail(0, [0, 1], set('x', -1), 'NoNode')
    h.fail(0, [2, 3], del(0), 'NoNode')
    h.fail(1, [2, 3], read, 'NoNode')
    h.ok(0, [4, 5], create('a'), wrote(0))
    h.fail(1, [6, 7], create('y'), 'NodeExists')
    h.fail(1, [8, 9], set('y', 3), 'BadVersion')
    h.fail(1, [10, 11], del(1), 'BadVersion')
    h.ok(0, [12, 13], read, seen('a', 0))
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('a BadVersion that is right only if a concurrent write went first', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], create('a'), wrote(0))
    h.ok(1, [2, 10], write('b'), wrote(1))
    h.fail(2, [3, 9], set('x', 0), 'BadVersion')
    h.ok(1, [11, 12], read, seen('b', 1))
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('failures that say nothing about the znode, and unknown reads, constrain nothing', () => {
    const h = new Recorder()
    h.fail(0, [0, 1], create('a'), 'Throttled')
    h.fail(0, [2, 3], set('b', 5), 'ConnectionLoss')
    h.fail(0, [2, 3], write('c'), 'NoNode')
    h.unknown(1, 0, read)
    h.ok(2, [4, 5], read, absent)
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('starts from the initial state the caller gives, absent otherwise', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], read, seen('before', 3))
    h.ok(0, [2, 3], set('a', 3), wrote(4))
    expect(verdictOf(h.ops, new Map([['/r', { data: 'before', version: 3 }]]))).toBe('ok')
    expect(verdictOf(h.ops)).toBe('illegal')
  })
})

// ------------------------------------------------------------ histories no order explains

describe('non-linearizable histories are rejected', () => {
  it('a stale read after a completed write', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], write('a'), wrote(0))
    h.ok(0, [2, 3], write('b'), wrote(1))
    h.ok(1, [4, 5], read, seen('a', 0))
    expect(verdictOf(h.ops)).toBe('illegal')
  })

  it('a read that sees a value whose write was invoked after the read completed', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], read, seen('a', 0))
    h.ok(1, [2, 3], write('a'), wrote(0))
    expect(verdictOf(h.ops)).toBe('illegal')
  })

  it('a lost write: after a newer write completed, concurrent reads go back to the older value', () => {
    const h = new Recorder()
    h.ok(0, [0, 10], write('a'), wrote())
    h.ok(1, [12, 20], write('b'), wrote())
    h.ok(2, [15, 16], read, seen('a', 0))
    h.ok(2, [21, 30], read, seen('a', 0))
    expect(verdictOf(h.ops)).toBe('illegal')
  })

  it('two creates both acknowledged on an absent znode with no delete between', () => {
    const h = new Recorder()
    h.ok(0, [0, 5], create('a'), wrote(0))
    h.ok(1, [1, 6], create('b'), wrote(0))
    expect(verdictOf(h.ops)).toBe('illegal')
  })

  it('a BadVersion although the version matched in every possible order', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], write('a'), wrote(0))
    h.fail(1, [2, 10], set('x', 0), 'BadVersion')
    h.ok(2, [3, 4], read, seen('a', 0))
    h.ok(2, [11, 12], read, seen('a', 0))
    expect(verdictOf(h.ops)).toBe('illegal')
  })

  it('BadVersion for a setData that named no version', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], write('a'), wrote(0))
    h.fail(1, [2, 3], set('x', -1), 'BadVersion')
    expect(verdictOf(h.ops)).toBe('illegal')
  })

  it('NodeExists and NoNode where the znode was certainly absent and present', () => {
    const exists = new Recorder()
    exists.fail(0, [0, 1], create('a'), 'NodeExists')
    expect(verdictOf(exists.ops)).toBe('illegal')
    const missing = new Recorder()
    missing.ok(0, [0, 1], create('a'), wrote(0))
    missing.fail(0, [2, 3], del(-1), 'NoNode')
    expect(verdictOf(missing.ops)).toBe('illegal')
  })

  it('a phantom: a definitely failed write whose value is later read', () => {
    const refused = new Recorder()
    refused.fail(0, [0, 1], write('x'), 'Throttled')
    refused.ok(1, [2, 3], read, seen('x', 0))
    expect(verdictOf(refused.ops)).toBe('illegal')
    const badVersion = new Recorder()
    badVersion.ok(0, [0, 1], create('a'), wrote(0))
    badVersion.fail(0, [2, 3], set('x', 5), 'BadVersion')
    badVersion.ok(1, [4, 5], read, seen('x', 1))
    expect(verdictOf(badVersion.ops)).toBe('illegal')
  })

  it('a version going backwards', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], write('a'), wrote(0))
    h.ok(0, [2, 3], write('b'), wrote(1))
    h.ok(1, [4, 5], set('c', -1), wrote(1))
    expect(verdictOf(h.ops)).toBe('illegal')
  })

  it('a read that sees the right data at the wrong version', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], write('a'), wrote(0))
    h.ok(0, [2, 3], read, seen('a', 1))
    expect(verdictOf(h.ops)).toBe('illegal')
  })

  it('an unknown write cannot explain a read that completed before the write was invoked', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], read, seen('u', 0))
    h.unknown(1, 2, write('u'))
    expect(verdictOf(h.ops)).toBe('illegal')
  })

  it('a stale read that no single write explains, only the order two reads force on concurrent writes', () => {
    const h = new Recorder()
    h.ok(0, [0, 10], write('a'), wrote())
    h.ok(1, [5, 12], write('x'), wrote())
    h.ok(2, [11, 13], read, { exists: true, data: 'x' })
    h.ok(2, [14, 15], read, { exists: true, data: 'a' })
    expect(verdictOf(h.ops)).toBe('illegal')
  })
})

describe('what an illegal path reports', () => {
  it('the longest prefix the search linearized, the operation that could not follow it, and the state between', () => {
    const h = new Recorder()
    const first = h.ok(0, [0, 1], write('a'), wrote(0))
    const second = h.ok(0, [2, 3], write('b'), wrote(1))
    const wrongVersion = h.ok(1, [4, 5], read, seen('b', 0))
    const result = pathResult(checkLinearizability(h.ops), '/r')
    expect(result).toMatchObject({ verdict: 'illegal', operations: 3, longestPrefix: [first, second], unlinearizableOp: wrongVersion, stateAfterPrefix: { data: 'b', version: 1 } })
  })

  it('a stale read found before searching, with the write it saw and the change that came between', () => {
    const h = new Recorder()
    const writer = h.ok(0, [0, 1], write('a'), wrote(0))
    const overwriter = h.ok(0, [2, 3], write('b'), wrote(1))
    const stale = h.ok(1, [4, 5], read, seen('a', 0))
    const result = pathResult(checkLinearizability(h.ops), '/r')
    expect(result).toMatchObject({ verdict: 'illegal', longestPrefix: [], unlinearizableOp: stale, related: [writer, overwriter] })
  })

  it('a stale read found by the search is blamed after the write that overwrote what it saw', () => {
    const h = new Recorder()
    const a = h.ok(0, [0, 10], write('a'), wrote())
    const x = h.ok(1, [5, 12], write('x'), wrote())
    const readX = h.ok(2, [11, 13], read, { exists: true, data: 'x' })
    const readA = h.ok(2, [14, 15], read, { exists: true, data: 'a' })
    const result = pathResult(checkLinearizability(h.ops), '/r')
    expect(result.verdict).toBe('illegal')
    if (result.verdict !== 'illegal') return
    expect([[a, x, readA], [x, a, readX]]).toContainEqual([...result.longestPrefix, result.unlinearizableOp])
  })
})

// ------------------------------------------------------------ partitions, limits, report

describe('malformed histories', () => {
  it('are refused rather than checked', () => {
    const okWithoutOutput: Operation = { id: 0, client: 0, path: '/r', input: read, invokeMs: 0, completeMs: 1, outcome: 'ok' }
    const failWithoutCode: Operation = { id: 0, client: 0, path: '/r', input: read, invokeMs: 0, completeMs: 1, outcome: 'fail' }
    const definiteWithoutCompletion: Operation = { id: 0, client: 0, path: '/r', input: read, invokeMs: 0, completeMs: null, outcome: 'ok', output: absent }
    expect(() => checkLinearizability([okWithoutOutput])).toThrow(/operation 0: an ok operation needs an output/)
    expect(() => checkLinearizability([failWithoutCode])).toThrow(/a failed operation needs a code/)
    expect(() => checkLinearizability([definiteWithoutCompletion])).toThrow(/needs a completion time/)
  })
})

describe('partitioning by path', () => {
  it('an illegal path does not make another illegal, and the history as a whole is illegal', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], write('a'), wrote(0), '/bad')
    h.ok(0, [2, 3], write('b'), wrote(1), '/bad')
    h.ok(1, [0, 1], write('c'), wrote(0), '/good')
    h.ok(1, [4, 5], read, seen('a', 0), '/bad')
    h.ok(2, [4, 5], read, seen('c', 0), '/good')
    const result = checkLinearizability(h.ops)
    expect(result.verdict).toBe('illegal')
    expect(pathResult(result, '/bad').verdict).toBe('illegal')
    expect(pathResult(result, '/good')).toMatchObject({ verdict: 'ok', operations: 2 })
  })

  it('each path starts from its own initial state', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], read, seen('p', 0), '/p')
    h.ok(0, [0, 1], read, absent, '/q')
    expect(verdictOf(h.ops, new Map([['/p', { data: 'p', version: 0 }]]))).toBe('ok')
  })
})

/**
 * Writes all concurrent, then a read of the first one's value at a version
 * no order gives it: proving that illegal means trying the sets of writes
 * that may precede the first, 2^(n-1) of them.
 */
function pathological(writes: number): Operation[] {
  const h = new Recorder()
  for (let i = 0; i < writes; i++) h.ok(i, [0, 100], write(`w${i}`), wrote())
  h.ok(writes, [101, 102], read, seen('w0', writes + 5))
  return h.ops
}

describe('limits', () => {
  it('a search that runs out of time gives unknown, and unknown fails the history', () => {
    const result = checkLinearizability(pathological(20), { searchMsMax: 5 })
    expect(result.verdict).toBe('unknown')
    expect(result.paths[0]).toMatchObject({ verdict: 'unknown', limit: 'searchMsMax' })
    expect(result.paths[0]?.elapsedMs).toBeLessThan(2_000)
  })

  it('a search that runs out of memo space gives unknown', () => {
    const result = checkLinearizability(pathological(20), { memoEntriesMax: 1_000 })
    expect(result.paths[0]).toMatchObject({ verdict: 'unknown', limit: 'memoEntriesMax' })
  })

  it('within its limits the same kind of history is decided', () => {
    expect(verdictOf(pathological(8))).toBe('illegal')
  })

  it('illegal outranks unknown in the overall verdict', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], read, seen('x', 0), '/illegal')
    const ops = [...pathological(20), ...h.ops.map((op) => ({ ...op, id: op.id + 100 }))]
    expect(checkLinearizability(ops, { searchMsMax: 5 }).verdict).toBe('illegal')
  })
})

// Unknown operations may take effect anywhere after their call or never; these
// fail (time out) if the search tried every subset of them.
describe('unknown operations stay affordable', () => {
  it('many unknown writes, never seen and then wiped out by deletes, do not make the search try every subset of them', () => {
    const h = new Recorder()
    for (let i = 0; i < 40; i++) h.unknown(100 + i, i * 0.1, write(`u${i}`))
    for (let cycle = 0; cycle < 20; cycle++) {
      const t = 10 + cycle * 10
      h.ok(0, [t, t + 1], create(`c${cycle}`), wrote(0))
      h.ok(1, [t + 2, t + 3], read, seen(`c${cycle}`, 0))
      h.ok(0, [t + 4, t + 5], del(-1), deleted)
    }
    // Version 1 of "last" cannot be: only its create wrote it, at version 0.
    h.ok(0, [300, 301], create('last'), wrote(0))
    h.ok(1, [302, 303], read, seen('last', 1))
    const result = checkLinearizability(h.ops, { searchMsMax: 5_000 })
    expect(result.verdict).toBe('illegal')
    expect(result.paths[0]?.elapsedMs).toBeLessThan(1_000)
  })

  it('unknown writes wiped out by a delete they overlapped count as never having happened, whichever they are', () => {
    const h = new Recorder()
    for (let cycle = 0; cycle < 16; cycle++) {
      const t = cycle * 100
      h.ok(0, [t, t + 1], create(`c${cycle}`), wrote(0))
      for (let version = 1; version <= cycle; version++) h.ok(0, [t + 1 + version, t + 1.5 + version], set(`c${cycle}v${version}`, version - 1), wrote(version))
      h.ok(0, [t + 50, t + 60], del(-1), deleted)
      // Each cycle's unknown write has a condition of its own, so no two are interchangeable.
      h.unknown(100 + cycle, t + 55, set(`u${cycle}`, cycle))
    }
    h.ok(0, [2000, 2001], create('last'), wrote(0))
    h.ok(1, [2002, 2003], read, seen('last', 1))
    const result = checkLinearizability(h.ops, { searchMsMax: 5_000 })
    expect(result.verdict).toBe('illegal')
    expect(result.paths[0]?.elapsedMs).toBeLessThan(1_000)
  })
})

describe('zxid pre-check', () => {
  it('accepts zxids that increase in real-time order, across paths, with concurrent writes in any order', () => {
    const h = new Recorder()
    h.ok(0, [0, 10], write('a'), wrote(0, 2), '/p')
    h.ok(1, [0, 10], write('b'), wrote(0, 1), '/q')
    h.ok(0, [11, 12], write('c'), wrote(1, 3), '/p')
    h.ok(1, [13, 14], del(-1), { exists: false, zxid: 4 }, '/q')
    h.ok(2, [15, 16], read, { ...seen('c', 1), zxid: 1 }, '/p')
    h.unknown(3, 15, write('d'), '/q')
    expect(checkZxids(h.ops)).toEqual([])
    expect(verdictOf(h.ops)).toBe('ok')
  })

  it('reports a write that completed first but got the larger zxid, and fails the history', () => {
    const h = new Recorder()
    const earlier = h.ok(0, [0, 1], write('a'), wrote(0, 5), '/p')
    const later = h.ok(1, [2, 3], write('b'), wrote(0, 4), '/q')
    const result = checkLinearizability(h.ops)
    expect(result.zxidViolations).toEqual([{ kind: 'not-increasing', earlier, later }])
    expect(result.paths.every((path) => path.verdict === 'ok')).toBe(true)
    expect(result.verdict).toBe('illegal')
  })

  it('reports two writes acknowledged with the same zxid, even when concurrent', () => {
    const h = new Recorder()
    const earlier = h.ok(0, [0, 10], write('a'), wrote(0, 7), '/p')
    const later = h.ok(1, [1, 10], write('b'), wrote(0, 7), '/q')
    expect(checkZxids(h.ops)).toEqual([{ kind: 'duplicate', earlier, later }])
  })
})

describe('formatReport', () => {
  it('names the illegal path, the stuck operation with its times, input and output, the state it met, and zxid violations', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], write('a'), wrote(0, 5))
    h.ok(0, [2, 3], write('b'), wrote(1, 4))
    const wrongVersion = h.ok(1, [4, 5.5], read, seen('b', 0))
    const report = formatReport(checkLinearizability(h.ops), h.ops)
    expect(report).toContain('linearizability: illegal (1 paths: 0 ok, 1 illegal, 0 unknown; 1 zxid violations)')
    expect(report).toContain(`path /r: illegal; op ${wrongVersion} (!) could not be linearized: no order of the operations before it gives the outcome it had`)
    expect(report).toContain('after linearizing 2 of 3 operations (+), reaching "b" at version 1')
    expect(report).toContain(`  ! #${wrongVersion} client 1 [4.000, 5.500] ms read -> ok "b" version 0`)
    expect(report).toContain('  + #1 client 0 [2.000, 3.000] ms write "b" -> ok version 1 zxid 4')
    expect(report).toContain('zxid: ops 0 and 1 completed in this order but the zxids do not increase')
  })

  it('gives the reason a read is impossible and shows the operations it names', () => {
    const h = new Recorder()
    h.ok(0, [0, 1], write('a'), wrote(0))
    h.ok(0, [2, 3], write('b'), wrote(1))
    h.ok(1, [4, 5], read, seen('a', 0))
    const report = formatReport(checkLinearizability(h.ops), h.ops)
    expect(report).toContain('op 2 (!) could not be linearized: it returned "a", written by op 0, but op 1 changed the znode after that write completed and before this read began')
    expect(report).toContain('    #0 client 0 [0.000, 1.000] ms write "a" -> ok version 0')
    expect(report).toContain('    #1 client 0 [2.000, 3.000] ms write "b" -> ok version 1')
  })

  it('says which limit an unknown path hit', () => {
    const ops = pathological(20)
    expect(formatReport(checkLinearizability(ops, { searchMsMax: 5 }), ops)).toContain('path /r: unknown, the search hit searchMsMax')
  })
})

// ------------------------------------------------------------ random histories from a simulated register

interface Simulation {
  readonly seed: number
  readonly clients: number
  readonly opsPerClient: number
  readonly paths: readonly string[]
  /** Chance that an operation's outcome is unknown (it then takes effect, possibly much later, or never). */
  readonly unknownRate: number
}

/** An operation as planned: who, where, when it was invoked, when it takes effect (if ever) and when it was answered. */
interface Planned {
  readonly client: number
  readonly path: string
  readonly invokeMs: number
  readonly effectMs: number | null
  readonly completeMs: number | null
  readonly isThrottled: boolean
}

/**
 * Clients with one operation outstanding each run against a real register
 * per path. Each operation takes effect at one instant between its
 * invocation and its answer (an unknown one at any later instant, or never),
 * and the answer is what the register said then: linearizable by construction.
 * Inputs are chosen when the operation takes effect, so conditional ones
 * succeed often enough to matter.
 */
function simulate(simulation: Simulation): Operation[] {
  const random = new Prng(simulation.seed)
  const planned = planTimelines(simulation, random)
  const registers = new Map<string, ZnodeState>()
  const ops = new Map<Planned, Omit<Operation, 'id'>>()
  let zxid = 0
  let dataCounter = 0
  const inEffectOrder = planned.filter((plan) => plan.effectMs !== null).toSorted((a, b) => (a.effectMs as number) - (b.effectMs as number))
  for (const plan of [...inEffectOrder, ...planned.filter((plan) => plan.effectMs === null)]) {
    const state = registers.get(plan.path) ?? null
    const input = pickInput(random, state, `${plan.path}#${dataCounter++}`)
    const answer = plan.effectMs === null ? null : applyToRegister(state, input)
    if (answer !== null && answer.outcome === 'ok') {
      registers.set(plan.path, answer.state)
      if (input.kind !== 'read') zxid++
    }
    const base = { client: plan.client, path: plan.path, input, invokeMs: plan.invokeMs, completeMs: plan.completeMs }
    if (plan.completeMs === null) ops.set(plan, { ...base, outcome: 'unknown' })
    else if (plan.isThrottled || answer === null) ops.set(plan, { ...base, outcome: 'fail', code: 'Throttled' })
    else if (answer.outcome === 'fail') ops.set(plan, { ...base, outcome: 'fail', code: answer.code })
    else ops.set(plan, { ...base, outcome: 'ok', output: input.kind === 'read' ? answer.output : { ...answer.output, zxid } })
  }
  return planned.map((plan, id) => ({ ...(ops.get(plan) as Omit<Operation, 'id'>), id }))
}

function planTimelines(simulation: Simulation, random: Prng): Planned[] {
  const planned: Planned[] = []
  let nextClient = simulation.clients
  for (let logical = 0; logical < simulation.clients; logical++) {
    let client = logical
    let nowMs = random.next() * 5
    for (let n = 0; n < simulation.opsPerClient; n++) {
      const path = random.pick(simulation.paths)
      const invokeMs = nowMs + random.next() * 2
      if (random.chance(simulation.unknownRate)) {
        // The client gives up after a timeout and goes on under a new identity (as the runner does).
        planned.push({ client, path, invokeMs, effectMs: random.chance(0.5) ? invokeMs + random.next() * 60 : null, completeMs: null, isThrottled: false })
        client = nextClient++
        nowMs = invokeMs + 10
        continue
      }
      const isThrottled = random.chance(0.03)
      const effectMs = invokeMs + 0.01 + random.next() * 3
      const completeMs = effectMs + 0.01 + random.next() * 3
      planned.push({ client, path, invokeMs, effectMs: isThrottled ? null : effectMs, completeMs, isThrottled })
      nowMs = completeMs
    }
  }
  return planned.toSorted((a, b) => a.invokeMs - b.invokeMs)
}

function pickInput(random: Prng, state: ZnodeState, data: string): ZnodeInput {
  const roll = random.int(100)
  const version = random.chance(0.2) ? -1 : Math.max(0, (state?.version ?? 0) + random.int(3) - 1)
  if (roll < 40) return read
  if (roll < 60) return write(data)
  if (roll < 72) return create(data)
  if (roll < 90) return set(data, version)
  return del(version)
}

type RegisterAnswer = { readonly outcome: 'ok'; readonly state: ZnodeState; readonly output: ZnodeOutput } | { readonly outcome: 'fail'; readonly code: string }

/** The register itself, written apart from the checker's model so that the two can disagree. */
function applyToRegister(state: ZnodeState, input: ZnodeInput): RegisterAnswer {
  const versionFails = (expected: number): boolean => state !== null && expected !== -1 && expected !== state.version
  switch (input.kind) {
    case 'read':
      return { outcome: 'ok', state, output: state === null ? absent : seen(state.data, state.version) }
    case 'write': {
      const version = state === null ? 0 : state.version + 1
      return { outcome: 'ok', state: { data: input.data, version }, output: wrote(version) }
    }
    case 'create':
      return state !== null ? { outcome: 'fail', code: 'NodeExists' } : { outcome: 'ok', state: { data: input.data, version: 0 }, output: wrote(0) }
    case 'set':
      if (state === null) return { outcome: 'fail', code: 'NoNode' }
      if (versionFails(input.version)) return { outcome: 'fail', code: 'BadVersion' }
      return { outcome: 'ok', state: { data: input.data, version: state.version + 1 }, output: wrote(state.version + 1) }
    case 'delete':
      if (state === null) return { outcome: 'fail', code: 'NoNode' }
      if (versionFails(input.version)) return { outcome: 'fail', code: 'BadVersion' }
      return { outcome: 'ok', state: null, output: deleted }
  }
}

function isOkRead(op: Operation): boolean {
  return op.outcome === 'ok' && op.input.kind === 'read'
}

/** The history with one operation's output replaced. */
function withOutput(ops: readonly Operation[], id: number, output: ZnodeOutput): Operation[] {
  return ops.map((op) => (op.id === id ? { ...op, output } : op))
}

/** The value an operation wrote, if it wrote one. */
function dataOf(op: Operation): string | undefined {
  return 'data' in op.input ? op.input.data : undefined
}

type Corruption = (ops: readonly Operation[], random: Prng) => Operation[] | null

/** One read made to see a value never written. */
const neverWritten: Corruption = (ops, random) => {
  const reads = ops.filter(isOkRead)
  return reads.length === 0 ? null : withOutput(ops, random.pick(reads).id, seen('never written', 0))
}

/**
 * One read made to see data that only an operation invoked after the read
 * completed ever carried (data are unique per write).
 */
const readOfTheFuture: Corruption = (ops, random) => {
  const pairs = ops.filter(isOkRead).flatMap((reader) =>
    ops.filter((writer) => writer.path === reader.path && dataOf(writer) !== undefined && writer.invokeMs > (reader.completeMs as number)).map((writer) => [reader, writer] as const),
  )
  if (pairs.length === 0) return null
  const [reader, writer] = random.pick(pairs)
  return withOutput(ops, reader.id, seen(dataOf(writer) as string, 0))
}

/**
 * One read made to see a value that an acknowledged change overwrote before
 * the read began, the change having begun after that value's write completed.
 */
const staleRead: Corruption = (ops, random) => {
  const acknowledged = (op: Operation): boolean => op.outcome === 'ok' && op.input.kind !== 'read'
  const stale = ops.filter(isOkRead).flatMap((reader) =>
    ops
      .filter((writer) => writer.path === reader.path && acknowledged(writer) && dataOf(writer) !== undefined)
      .filter((writer) => ops.some((change) => change.path === reader.path && acknowledged(change) && change.invokeMs > (writer.completeMs as number) && (change.completeMs as number) < reader.invokeMs))
      .map((writer) => [reader, writer] as const),
  )
  if (stale.length === 0) return null
  const [reader, writer] = random.pick(stale)
  return withOutput(ops, reader.id, seen(dataOf(writer) as string, writer.output?.version as number))
}

/**
 * One read of a value written by an acknowledged write made to report a
 * version one higher than that write produced: the value exists only at the
 * version its write gave it. Only the search can tell.
 */
const wrongVersion: Corruption = (ops, random) => {
  const writerOf = new Map(ops.filter((op) => op.outcome === 'ok' && dataOf(op) !== undefined).map((op) => [dataOf(op), op]))
  const reads = ops.filter((op) => isOkRead(op) && writerOf.has(op.output?.data))
  if (reads.length === 0) return null
  const reader = random.pick(reads)
  const version = writerOf.get(reader.output?.data)?.output?.version as number
  return withOutput(ops, reader.id, seen(reader.output?.data as string, version + 1))
}

const small = (seed: number): Simulation => ({ seed, clients: 2 + (seed % 5), opsPerClient: 12, paths: ['/a', '/b'], unknownRate: 0.05 })
const seeds = Array.from({ length: 150 }, (_, i) => i + 1)

describe('random histories of a simulated register', () => {
  it('are linearizable, and so are their zxids', () => {
    for (const seed of seeds) {
      const ops = simulate(small(seed))
      const result = checkLinearizability(ops)
      expect(result.verdict, `seed ${seed}:\n${formatReport(result, ops)}`).toBe('ok')
    }
  })

  it.each([
    ['a value never written', neverWritten],
    ['a value from the future', readOfTheFuture],
    ['a value overwritten before it began', staleRead],
    ['a value at a version it never had', wrongVersion],
  ] as const)('become illegal when one read sees %s', (_what, corrupt) => {
    let corruptedCount = 0
    for (const seed of seeds) {
      const corrupted = corrupt(simulate(small(seed)), new Prng(seed))
      if (corrupted === null) continue
      corruptedCount++
      expect(verdictOf(corrupted), `seed ${seed}`).toBe('illegal')
    }
    expect(corruptedCount).toBeGreaterThan(seeds.length / 2)
  })

  it('of 2,000 operations by 8 clients on one path check in well under a second', () => {
    for (const seed of [1, 2, 3]) {
      const ops = simulate({ seed, clients: 8, opsPerClient: 250, paths: ['/hot'], unknownRate: 0.02 })
      const result = checkLinearizability(ops, { searchMsMax: 5_000 })
      expect(result.verdict, `seed ${seed}:\n${formatReport(result, ops)}`).toBe('ok')
      expect(result.paths[0]?.elapsedMs).toBeLessThan(1_000)
    }
  })

  it('of 2,000 operations with one read at a wrong version are found illegal by the search', () => {
    for (const seed of [1, 2, 3]) {
      const corrupted = wrongVersion(simulate({ seed, clients: 8, opsPerClient: 250, paths: ['/hot'], unknownRate: 0 }), new Prng(seed)) as Operation[]
      const result = checkLinearizability(corrupted, { searchMsMax: 5_000 })
      expect(result.verdict, `seed ${seed}`).toBe('illegal')
      const path = result.paths[0]
      expect(path?.verdict === 'illegal' && path.longestPrefix.length > 0, `seed ${seed}: found by the search`).toBe(true)
    }
  })
})
