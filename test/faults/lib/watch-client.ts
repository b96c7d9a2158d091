// W4 (RELIABILITY.md): one-shot watches under faults. A writer sets the
// data of a few znodes, one request at a time, asking again with the same
// Idempotency-Key until it learns each write's zxid. Watchers each follow
// one znode: they arm a data watch at the zxid they last saw (`?zxid=`),
// through any live replica, take the one event, and arm again at its zxid;
// a stream that breaks (its replica killed or cut off) is armed again at the
// same zxid elsewhere, which is what a resuming EventSource does.
//
// Checks (per watcher, against the writer's acknowledged changes):
// - every event is a NodeDataChanged whose zxid is above the armed one
//   (ordered, so never a duplicate);
// - it is the first change after the armed zxid: no acknowledged change of
//   that znode lies between the two (exactly the first matching change,
//   hence no gap over the chain of events);
// - it is a change somebody made (unless some write's outcome stayed unknown);
// - at the end, armed once more at its last zxid, the watcher gets the last
//   change at once if it had not seen it (nothing lost at the tail).
import { parseSse, type SseEvent } from '../../support/sse.ts'
import { perform } from './register-client.ts'
import { readStat, sleep } from './znode-reads.ts'

export interface WatchEvent {
  readonly armedZxid: number
  readonly zxid: number
  readonly type: string
  /** The replica jumped over the change (a leader's snapshot): the zxid is the znode's newest, maybe not the first after the armed one. */
  readonly isResync: boolean
}

export class ChangeLog {
  /** Per path, the zxids of acknowledged changes. */
  readonly changes = new Map<string, number[]>()
  /** Per path, writes whose outcome never became known. */
  readonly unknown = new Map<string, number>()

  add(path: string, zxid: number): void {
    const list = this.changes.get(path) ?? []
    list.push(zxid)
    this.changes.set(path, list)
  }
}

/** Sets the data of `paths` in turn until `isDone()`, learning every write's zxid. */
export async function changeWriter(paths: readonly string[], targets: () => readonly string[], log: ChangeLog, isDone: () => boolean): Promise<void> {
  for (let n = 0; !isDone(); n++) {
    const path = paths[n % paths.length] as string
    const key = `w4-${n}`
    let learned = false
    for (let attempt = 0; attempt < 60 && !learned; attempt++) {
      const urls = targets()
      const url = urls[(n + attempt) % Math.max(1, urls.length)]
      if (url !== undefined) {
        const answer = await perform(url, path, { kind: 'write', data: key }, key, 4000)
        if (answer.outcome === 'ok' && answer.output?.zxid !== undefined) {
          log.add(path, answer.output.zxid)
          learned = true
        } else if (answer.outcome === 'fail') {
          break
        }
      }
      if (!learned) await sleep(100)
    }
    if (!learned) log.unknown.set(path, (log.unknown.get(path) ?? 0) + 1)
    await sleep(20)
  }
}

export class Watcher {
  readonly events: WatchEvent[] = []
  readonly failures: string[] = []
  #since: number
  readonly #path: string
  readonly #targets: () => readonly string[]

  constructor(path: string, sinceZxid: number, targets: () => readonly string[]) {
    this.#path = path
    this.#since = sinceZxid
    this.#targets = targets
  }

  get path(): string {
    return this.#path
  }

  async run(isDone: () => boolean): Promise<void> {
    for (let n = 0; !isDone(); n++) {
      const urls = this.#targets()
      const url = urls[n % Math.max(1, urls.length)]
      if (url === undefined) {
        await sleep(50)
        continue
      }
      // Short arms: when the writer has stopped, the run ends within one of them.
      await this.#armOnce(url, 2000)
    }
  }

  /** Arms once more at the last zxid seen, if a later change was acknowledged: its event must come at once. */
  async final(url: string, log: ChangeLog): Promise<void> {
    const last = Math.max(0, ...(log.changes.get(this.#path) ?? []))
    if (this.#since < last) await this.#armOnce(url, 5000)
  }

  get sinceZxid(): number {
    return this.#since
  }

  async #armOnce(url: string, timeoutMs: number): Promise<boolean> {
    const armedZxid = this.#since
    let text: string
    let status: number
    try {
      const response = await fetch(`${url}/znodes${this.#path}?watch=data&zxid=${armedZxid}`, { signal: AbortSignal.timeout(timeoutMs) })
      status = response.status
      text = await response.text()
    } catch {
      return false // broken or timed out: armed again at the same zxid
    }
    if (status === 410) {
      // Compacted: read again instead.
      const stat = await readStat(url, this.#path)
      if (stat !== null) this.#since = stat.mzxid
      return false
    }
    if (status !== 200) {
      await sleep(100)
      return false
    }
    // The stream's first id line (no data) names the zxid it was armed at: not an event.
    const { events } = parseSse(text)
    const event = parseEvent(events[0])
    if (event === null) return false // the stream ended without an event (its replica shutting down)
    if (events.length !== 1) this.failures.push(`${this.#path}: a one-shot watch armed at ${armedZxid} sent ${events.length} events`)
    this.events.push({ armedZxid, ...event })
    if (event.type !== 'NodeDataChanged') this.failures.push(`${this.#path}: a data watch armed at ${armedZxid} got ${event.type}`)
    if (event.zxid <= armedZxid) this.failures.push(`${this.#path}: a watch armed at ${armedZxid} got the older change ${event.zxid} (ordered, unique)`)
    this.#since = Math.max(this.#since, event.zxid)
    return true
  }
}

/** The violations of "exactly the first matching change after the armed zxid" and of the tail check. */
export function checkWatches(watchers: readonly Watcher[], log: ChangeLog): string[] {
  const failures: string[] = []
  for (const watcher of watchers) {
    failures.push(...watcher.failures)
    const changes = [...(log.changes.get(watcher.path) ?? [])].sort((a, b) => a - b)
    const known = new Set(changes)
    const isAmbiguous = (log.unknown.get(watcher.path) ?? 0) > 0
    for (const event of watcher.events) {
      const skipped = changes.find((zxid) => zxid > event.armedZxid && zxid < event.zxid)
      if (skipped !== undefined && !event.isResync) failures.push(`${watcher.path}: a watch armed at ${event.armedZxid} fired for ${event.zxid}, not for the first change after it, ${skipped}`)
      if (!known.has(event.zxid) && !isAmbiguous) failures.push(`${watcher.path}: an event for ${event.zxid}, which no acknowledged write made`)
    }
    const last = changes.at(-1)
    if (last !== undefined && watcher.sinceZxid < last) failures.push(`${watcher.path}: the watcher, armed again at ${watcher.sinceZxid} after the faults, never got the change ${last}`)
  }
  return failures
}

function parseEvent(event: SseEvent | undefined): { zxid: number; type: string; isResync: boolean } | null {
  if (event?.id === undefined || event.event === undefined) return null
  const isResync = (JSON.parse(event.data) as { resync?: unknown }).resync === true
  return { zxid: Number(event.id), type: event.event, isResync }
}
