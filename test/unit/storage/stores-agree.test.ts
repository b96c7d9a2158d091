// Model-based test: random sequences of appends (with truncations), hard
// states, snapshots (inside the log, beyond it, or in another term),
// compactions and restarts, applied to a MemoryStore and a rocks store side
// by side. After every step both must answer exactly alike. A failure prints
// fast-check's seed and the shrunk sequence of steps.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MemoryStore, openRocksStore } from '../../../src/storage/index.ts'
import type { LogStore } from '../../../src/storage/index.ts'
import { observe, plainRecord } from './log-store-contract.ts'

type StepKind = 'append' | 'hardState' | 'snapshot' | 'compact' | 'restart' | 'read'

interface Step {
  readonly kind: StepKind
  readonly a: number
  readonly b: number
  readonly sync: boolean
}

const step: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom<StepKind>('append', 'append', 'append', 'hardState', 'snapshot', 'compact', 'restart', 'read'),
  a: fc.nat(1000),
  b: fc.nat(1000),
  sync: fc.boolean(),
})

/** Turns a step into a call that is valid for the store's current state (both stores hold the same). */
async function apply(s: Step, store: LogStore, counter: { term: number; snapshots: number }): Promise<(other: LogStore) => Promise<void>> {
  const first = store.firstIndex()
  const last = store.lastIndex()
  switch (s.kind) {
    case 'append': {
      // After the newest snapshot: snapshotted entries are committed and never rewritten.
      const lowest = Math.max(first, (store.snapshotMeta()?.index ?? 0) + 1)
      const start = lowest + (s.a % Math.max(1, last - lowest + 2))
      const count = 1 + (s.b % 6)
      counter.term = Math.max(counter.term, store.term(start - 1)!) + (s.b % 3 === 0 ? 1 : 0)
      const term = Math.max(counter.term, 1)
      const entries = Array.from({ length: count }, (_, i) => ({
        index: start + i,
        term,
        data: new TextEncoder().encode(`${start + i}:${term}:${'z'.repeat(s.a % 50)}`),
      }))
      const hardState = s.b % 4 === 0 ? { term, vote: s.a % 3, commit: Math.max(0, start - 1) } : null
      return (target) => target.append(entries, hardState, s.sync)
    }
    case 'hardState': {
      const hardState = { term: s.a % 9, vote: s.b % 3, commit: s.a % 40 }
      return (target) => target.saveHardState(hardState)
    }
    case 'snapshot': {
      const newest = store.snapshotMeta()?.index ?? 0
      const index = Math.max(newest, first - 1) + 1 + (s.a % Math.max(1, last - Math.max(newest, first - 1) + 3))
      const held = store.term(index)
      // Inside the log: usually its own term, sometimes another (Raft §7: the log is then discarded).
      const term = held !== undefined && s.b % 4 !== 0 ? held : Math.max(counter.term, held ?? 0) + 1
      counter.term = Math.max(counter.term, term)
      const chunks = Array.from({ length: s.b % 4 }, (_, n) => new TextEncoder().encode(`snap ${index} ${n} ${counter.snapshots}`))
      counter.snapshots++
      const meta = { index, term, extra: new Uint8Array([s.b & 0xff]) }
      return (target) => target.saveSnapshot({ meta, chunks })
    }
    case 'compact': {
      const newest = store.snapshotMeta()?.index
      if (newest === undefined) return () => Promise.resolve()
      const through = s.a % (newest + 1)
      return (target) => target.compact(through)
    }
    case 'restart':
    case 'read':
      return () => Promise.resolve()
  }
}

describe('MemoryStore and the rocks store agree', () => {
  it('after every step of random histories with restarts', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-stores-agree-'))
    let run = 0
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), fc.constantFrom(0, 200, 1 << 20), fc.constantFrom(4096, 64 * 1024 * 1024), async (steps, cacheBytesMax, segmentBytes) => {
          const dir = path.join(root, `run-${run++}`)
          let memory = new MemoryStore()
          let rocks = await openRocksStore(dir, { cacheBytesMax, segmentBytes })
          try {
            const counter = { term: 1, snapshots: 0 }
            for (const s of steps) {
              if (s.kind === 'restart') {
                // A clean restart (or kill -9) keeps every write, synced or not.
                memory = memory.simulateProcessCrash()
                await rocks.close()
                rocks = await openRocksStore(dir, { cacheBytesMax, segmentBytes })
              } else if (s.kind === 'read') {
                const lo = memory.firstIndex() + (s.a % (memory.lastIndex() - memory.firstIndex() + 2))
                const hi = lo + (s.b % (memory.lastIndex() + 2 - lo))
                const bytesMax = s.a % 200
                expect(rocks.entries(lo, hi, bytesMax).map(plainRecord)).toEqual(memory.entries(lo, hi, bytesMax).map(plainRecord))
              } else {
                const call = await apply(s, memory, counter)
                await call(memory)
                await call(rocks)
              }
              expect(observe(rocks)).toEqual(observe(memory))
            }
          } finally {
            await rocks.close()
            fs.rmSync(dir, { recursive: true, force: true })
          }
        }),
        { numRuns: Number(process.env["STORES_AGREE_RUNS"] ?? 60) },
      )
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  })
})
