// W3 (RELIABILITY.md): atomic multi-ops under faults. Each multi creates a
// child named by its tag under two parents and sets a shared counter znode
// conditionally on the version its client last read:
//
//   [create /w3/a/<tag>, create /w3/b/<tag>, setData /w3/n version=v]
//
// so that clients contend (many fail BadVersion) and every multi that takes
// effect bumps the counter's version exactly once. Unknown outcomes are asked
// again with the same Idempotency-Key. After the faults:
// - atomic: every tag is under both parents or under neither;
// - durable: every acknowledged multi's tag is there;
// - no phantom: no definitely failed multi's tag is there;
// - all or nothing on the counter too: its version equals the number of
//   tags present (each multi that took effect set it exactly once).

import { readStat, sleep } from './znode-reads.ts'

export interface MultiRecord {
  readonly tag: string
  readonly outcome: 'ok' | 'fail' | 'unknown'
}

export const multiRoot = '/w3'

/** Runs multis until `isDone()`, recording each one's outcome in `records`. */
export async function multiClient(client: number, targets: () => readonly string[], records: MultiRecord[], isDone: () => boolean): Promise<void> {
  for (let n = 0; !isDone(); n++) {
    const tag = `m${client}-${n}`
    let outcome: MultiRecord['outcome'] = 'unknown'
    let version: number | null = null
    for (let attempt = 0; attempt < 40 && !isDone() && outcome === 'unknown'; attempt++) {
      const urls = targets()
      const url = urls[(client + n + attempt) % Math.max(1, urls.length)]
      if (url === undefined) {
        await sleep(50)
        continue
      }
      // The version is read once: a retry must send the very same request, or its key would not match.
      version ??= await counterVersion(url)
      if (version === null) {
        await sleep(100)
        continue
      }
      outcome = await runMulti(url, tag, version)
      if (outcome === 'unknown') await sleep(100)
    }
    records.push({ tag, outcome })
  }
}

async function counterVersion(url: string): Promise<number | null> {
  return (await readStat(url, `${multiRoot}/n`))?.version ?? null
}

async function runMulti(url: string, tag: string, version: number): Promise<MultiRecord['outcome']> {
  const ops = [
    { op: 'create', path: `${multiRoot}/a/${tag}`, data: tag },
    { op: 'create', path: `${multiRoot}/b/${tag}`, data: tag },
    { op: 'setData', path: `${multiRoot}/n`, data: tag, version },
  ]
  try {
    const response = await fetch(`${url}/multi`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': tag },
      body: JSON.stringify({ ops }),
      signal: AbortSignal.timeout(4000),
    })
    await response.arrayBuffer()
    if (response.status === 200) return 'ok'
    return response.status >= 500 ? 'unknown' : 'fail'
  } catch {
    return 'unknown'
  }
}

/** Every child name of `path`, page by page, read at `url`. */
async function children(url: string, path: string): Promise<Set<string>> {
  const names = new Set<string>()
  let cursor: string | null = null
  for (;;) {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`
    const response = await fetch(`${url}/znodes${path}?children&limit=1000&linearizable${query}`, { signal: AbortSignal.timeout(10_000) })
    if (response.status !== 200) throw new Error(`cannot list ${path} at ${url}: ${response.status} ${await response.text()}`)
    const page = (await response.json()) as { children: string[]; next: string | null }
    for (const name of page.children) names.add(name)
    if (page.next === null || page.next === undefined) return names
    cursor = page.next
  }
}

/** The violations of W3's checks, read at `url` after the faults. */
export async function checkMulti(url: string, records: readonly MultiRecord[]): Promise<string[]> {
  try {
    const a = await children(url, `${multiRoot}/a`)
    const b = await children(url, `${multiRoot}/b`)
    return checkMultiState({ a, b, counterVersion: await counterVersion(url) }, records)
  } catch (error) {
    // The workload's own znodes gone (a power cut that lost them, in the negative control) is a finding, not a broken run.
    return [`the multi check could not read its znodes: ${(error as Error).message}`]
  }
}

/** W3's checks on what the tree holds after the faults: tags under each parent and the counter's version. */
export function checkMultiState(state: { readonly a: ReadonlySet<string>; readonly b: ReadonlySet<string>; readonly counterVersion: number | null }, records: readonly MultiRecord[]): string[] {
  const { a, b } = state
  const failures: string[] = []
  for (const tag of a) if (!b.has(tag)) failures.push(`multi ${tag} took effect in part: ${multiRoot}/a/${tag} without ${multiRoot}/b/${tag}`)
  for (const tag of b) if (!a.has(tag)) failures.push(`multi ${tag} took effect in part: ${multiRoot}/b/${tag} without ${multiRoot}/a/${tag}`)
  for (const record of records) {
    if (record.outcome === 'ok' && !a.has(record.tag)) failures.push(`acknowledged multi ${record.tag} is gone`)
    if (record.outcome === 'fail' && a.has(record.tag)) failures.push(`multi ${record.tag} failed, yet took effect`)
  }
  if (state.counterVersion !== a.size) failures.push(`${multiRoot}/n is at version ${state.counterVersion}, but ${a.size} multis took effect: each sets it exactly once`)
  return failures.slice(0, 20)
}

