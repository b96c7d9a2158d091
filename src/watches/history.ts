// The recent events a watch armed at an older zxid is answered from, kept in
// a fixed ring of typed arrays rather than as objects: at 20k writes/s an
// object per event (and its stat) lived long enough to be promoted by V8's
// young-generation collector, and copying them made every scavenge several
// times slower (measured). Events of one path are chained oldest to newest
// through `nextOfPath`, so a lookup walks only that path's events.
import type { Stat, TreeEvent, TreeEventType } from '../tree/index.ts'

const eventTypes: readonly TreeEventType[] = ['NodeCreated', 'NodeDeleted', 'NodeDataChanged', 'NodeChildrenChanged']
const statFields = 11

interface PathChain {
  /** Ring slots of this path's oldest and newest event. */
  oldest: number
  newest: number
}

export class EventHistory {
  readonly #capacity: number
  readonly #zxids: Float64Array
  readonly #types: Uint8Array
  readonly #hasStat: Uint8Array
  readonly #stats: Float64Array
  readonly #paths: Array<string | undefined>
  readonly #nextOfPath: Int32Array
  readonly #chains = new Map<string, PathChain>()
  #start = 0
  #size = 0
  /** Every event with a zxid above this is held; null until the first event. */
  #horizon: number | null = null

  constructor(capacity: number) {
    this.#capacity = capacity
    this.#zxids = new Float64Array(capacity)
    this.#types = new Uint8Array(capacity)
    this.#hasStat = new Uint8Array(capacity)
    this.#stats = new Float64Array(capacity * statFields)
    this.#paths = new Array<string | undefined>(capacity)
    this.#nextOfPath = new Int32Array(capacity)
  }

  /** The zxid above which the history is complete (null before the first event). */
  get horizon(): number | null {
    return this.#horizon
  }

  /**
   * Forgets every event and starts again after `zxid`: the replica jumped
   * there (a leader's snapshot), so what happened before is not known here.
   */
  restartAfter(zxid: number): void {
    this.#start = 0
    this.#size = 0
    this.#chains.clear()
    this.#paths.fill(undefined)
    this.#horizon = zxid
  }

  /** Marks where the history starts when the first entry after `zxid` is seen. */
  startAfter(zxid: number): void {
    if (this.#horizon === null) this.#horizon = zxid
  }

  remember(event: TreeEvent): void {
    if (this.#capacity === 0) {
      this.#horizon = event.zxid
      return
    }
    if (this.#size === this.#capacity) this.#forgetOldest()
    const slot = (this.#start + this.#size) % this.#capacity
    this.#size++
    this.#zxids[slot] = event.zxid
    this.#types[slot] = eventTypes.indexOf(event.type)
    this.#paths[slot] = event.path
    this.#nextOfPath[slot] = -1
    const stat = event.stat
    if (stat === null) {
      this.#hasStat[slot] = 0
    } else {
      this.#hasStat[slot] = 1
      writeStat(this.#stats, slot * statFields, stat)
    }
    const chain = this.#chains.get(event.path)
    if (chain === undefined) {
      this.#chains.set(event.path, { oldest: slot, newest: slot })
    } else {
      this.#nextOfPath[chain.newest] = slot
      chain.newest = slot
    }
  }

  /** The first event of `path` after `since` whose type `matches`, or undefined. */
  firstSince(path: string, since: number, matches: (type: TreeEventType) => boolean): TreeEvent | undefined {
    const chain = this.#chains.get(path)
    if (chain === undefined) return undefined
    for (let slot = chain.oldest; slot !== -1; slot = this.#nextOfPath[slot] as number) {
      if ((this.#zxids[slot] as number) <= since) continue
      const type = eventTypes[this.#types[slot] as number] as TreeEventType
      if (matches(type)) return this.#eventAt(slot)
    }
    return undefined
  }

  #eventAt(slot: number): TreeEvent {
    return {
      type: eventTypes[this.#types[slot] as number] as TreeEventType,
      path: this.#paths[slot] as string,
      zxid: this.#zxids[slot] as number,
      stat: this.#hasStat[slot] === 1 ? readStat(this.#stats, slot * statFields) : null,
    }
  }

  #forgetOldest(): void {
    const slot = this.#start
    const path = this.#paths[slot] as string
    this.#horizon = Math.max(this.#horizon ?? 0, this.#zxids[slot] as number)
    this.#paths[slot] = undefined
    this.#start = (this.#start + 1) % this.#capacity
    this.#size--
    // A path's oldest event is older than its others, so it is this one.
    const chain = this.#chains.get(path) as PathChain
    if (chain.newest === slot) this.#chains.delete(path)
    else chain.oldest = this.#nextOfPath[slot] as number
  }
}

function writeStat(into: Float64Array, at: number, stat: Stat): void {
  into[at] = stat.czxid
  into[at + 1] = stat.mzxid
  into[at + 2] = stat.pzxid
  into[at + 3] = stat.ctime
  into[at + 4] = stat.mtime
  into[at + 5] = stat.version
  into[at + 6] = stat.cversion
  into[at + 7] = stat.aversion
  into[at + 8] = stat.ephemeralOwner
  into[at + 9] = stat.dataLength
  into[at + 10] = stat.numChildren
}

function readStat(from: Float64Array, at: number): Stat {
  return {
    czxid: from[at] as number,
    mzxid: from[at + 1] as number,
    pzxid: from[at + 2] as number,
    ctime: from[at + 3] as number,
    mtime: from[at + 4] as number,
    version: from[at + 5] as number,
    cversion: from[at + 6] as number,
    aversion: from[at + 7] as number,
    ephemeralOwner: from[at + 8] as number,
    dataLength: from[at + 9] as number,
    numChildren: from[at + 10] as number,
  }
}
