// Micro-benchmark of the rocks store's append path (not a test):
//
//   node test/bench/storage-append.ts [--count 2000] [--bytes 256] [--dir /path/on/the/disk/to/measure]
//
// Prints appends/s and p50/p99 latency for synced single-entry appends (the
// floor of a replica's commit latency) and synced 64-entry batches (what
// group commit buys), plus unsynced single entries for reference. The
// directory defaults to a fresh one under os.tmpdir(); pass --dir to measure
// the disk the data will live on. benchStorageAppend() is exported for the
// project's bench runner.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { openRocksStore } from '../../src/storage/index.ts'
import type { LogRecord } from '../../src/storage/index.ts'

export interface AppendBenchResult {
  readonly name: string
  readonly appends: number
  readonly entriesPerAppend: number
  readonly appendsPerSecond: number
  readonly entriesPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
}

interface Case {
  readonly name: string
  readonly entriesPerAppend: number
  readonly sync: boolean
  readonly appends: number
}

export async function benchStorageAppend(options: {
  readonly count: number
  readonly entryBytes: number
  readonly dir?: string
}): Promise<AppendBenchResult[]> {
  const root = fs.mkdtempSync(path.join(options.dir ?? os.tmpdir(), 'herd-bench-storage-'))
  const cases: Case[] = [
    { name: 'synced, 1 entry per append', entriesPerAppend: 1, sync: true, appends: options.count },
    { name: 'synced, 64 entries per append', entriesPerAppend: 64, sync: true, appends: Math.max(1, Math.ceil(options.count / 4)) },
    { name: 'unsynced, 1 entry per append', entriesPerAppend: 1, sync: false, appends: options.count },
  ]
  const results: AppendBenchResult[] = []
  try {
    for (const [n, benchCase] of cases.entries()) results.push(await runCase(path.join(root, `case-${n}`), benchCase, options.entryBytes))
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
  return results
}

async function runCase(dir: string, benchCase: Case, entryBytes: number): Promise<AppendBenchResult> {
  const store = await openRocksStore(dir)
  const data = new Uint8Array(entryBytes).fill(0x61)
  const warmup = Math.min(100, benchCase.appends)
  const latenciesMs: number[] = []
  let index = 1
  let elapsedMs = 0
  try {
    for (let i = 0; i < warmup + benchCase.appends; i++) {
      const entries: LogRecord[] = []
      for (let k = 0; k < benchCase.entriesPerAppend; k++) entries.push({ index: index++, term: 1, data })
      const start = performance.now()
      await store.append(entries, null, benchCase.sync)
      const latencyMs = performance.now() - start
      if (i >= warmup) {
        latenciesMs.push(latencyMs)
        elapsedMs += latencyMs
      }
    }
  } finally {
    await store.close()
  }
  latenciesMs.sort((a, b) => a - b)
  const appendsPerSecond = (benchCase.appends / elapsedMs) * 1000
  return {
    name: benchCase.name,
    appends: benchCase.appends,
    entriesPerAppend: benchCase.entriesPerAppend,
    appendsPerSecond,
    entriesPerSecond: appendsPerSecond * benchCase.entriesPerAppend,
    p50Ms: percentile(latenciesMs, 0.5),
    p99Ms: percentile(latenciesMs, 0.99),
  }
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { count: { type: 'string', default: '2000' }, bytes: { type: 'string', default: '256' }, dir: { type: 'string' } },
  })
  const count = Number(values.count)
  const entryBytes = Number(values.bytes)
  if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(entryBytes) || entryBytes < 0) {
    throw new Error('--count must be a positive integer and --bytes a non-negative one')
  }
  const results = await benchStorageAppend({ count, entryBytes, ...(values.dir === undefined ? {} : { dir: values.dir }) })
  console.log(`rocks store append, ${entryBytes}-byte entries, Node ${process.version}`)
  for (const r of results) {
    console.log(
      `  ${r.name.padEnd(32)} ${r.appendsPerSecond.toFixed(0).padStart(7)} appends/s ` +
        `${r.entriesPerSecond.toFixed(0).padStart(8)} entries/s   p50 ${r.p50Ms.toFixed(3)} ms   p99 ${r.p99Ms.toFixed(3)} ms`,
    )
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
