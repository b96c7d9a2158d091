// W7 (RELIABILITY.md): sequential znodes. Clients create persistent
// sequential children of one parent, one request at a time, through any
// live replica, with an Idempotency-Key so that a create whose answer was
// lost can be asked again and its real name learned. The checks:
//
// - unique: no sequence number is handed out twice;
// - ordered: a create that completed before another was invoked has the
//   smaller sequence number (real-time order, as zxids are);
// - kept: every acknowledged create is there after the faults.

import { sleep } from './znode-reads.ts'

export interface SequentialCreate {
  readonly client: number
  readonly path: string
  readonly sequence: number
  readonly invokeMs: number
  readonly completeMs: number
}

/** Creates `${parent}/n-<seq>` until `isDone()`, recording each acknowledged create in `acked`. */
export async function sequentialClient(client: number, parent: string, targets: () => readonly string[], acked: SequentialCreate[], isDone: () => boolean): Promise<void> {
  for (let n = 0; !isDone(); n++) {
    const key = `seq-${client}-${n}`
    const invokeMs = performance.now()
    // The first attempt's invocation counts: a retry with the key answers that attempt's result.
    for (let attempt = 0; attempt < 50 && !isDone(); attempt++) {
      const urls = targets()
      const url = urls[(client + n + attempt) % Math.max(1, urls.length)]
      if (url === undefined) {
        await sleep(50)
        continue
      }
      const created = await create(url, parent, key)
      if (created === 'refused') break
      if (created !== null) {
        acked.push({ client, path: created, sequence: Number(created.slice(-10)), invokeMs, completeMs: performance.now() })
        break
      }
      await sleep(100)
    }
  }
}

async function create(url: string, parent: string, key: string): Promise<string | 'refused' | null> {
  try {
    const response = await fetch(`${url}/znodes${parent}/n-?sequential`, { method: 'PUT', headers: { 'idempotency-key': key }, signal: AbortSignal.timeout(4000) })
    const body = (await response.json()) as { path?: unknown }
    if (response.status === 201 && typeof body.path === 'string') return body.path
    return response.status >= 500 ? null : 'refused'
  } catch {
    return null
  }
}

/** The violations of uniqueness and real-time order among acknowledged sequential creates. */
export function checkSequential(acked: readonly SequentialCreate[]): string[] {
  const failures: string[] = []
  const bySequence = new Map<number, SequentialCreate>()
  for (const create of acked) {
    const other = bySequence.get(create.sequence)
    if (other !== undefined && other.path === create.path && other.client === create.client) continue
    if (other !== undefined) failures.push(`sequence ${create.sequence} was handed out twice (clients ${other.client} and ${create.client})`)
    bySequence.set(create.sequence, create)
  }
  // Real-time order: sweep by invocation; every create must exceed the largest sequence of those completed before it began.
  const byComplete = [...acked].sort((a, b) => a.completeMs - b.completeMs)
  const byInvoke = [...acked].sort((a, b) => a.invokeMs - b.invokeMs)
  let completedMax: SequentialCreate | null = null
  let next = 0
  for (const create of byInvoke) {
    for (; next < byComplete.length && (byComplete[next] as SequentialCreate).completeMs < create.invokeMs; next++) {
      const done = byComplete[next] as SequentialCreate
      if (completedMax === null || done.sequence > completedMax.sequence) completedMax = done
    }
    if (completedMax !== null && create.sequence <= completedMax.sequence) {
      failures.push(`${create.path} (invoked at ${create.invokeMs.toFixed(1)} ms) got a sequence below ${completedMax.path}, which completed before it began`)
      if (failures.length >= 10) break
    }
  }
  return failures
}

