// The simulator's disk and state machine for the Raft core.
//
// SimStorage keeps what a replica's driver made durable: it follows the
// LogStore rules (an append may overwrite a suffix and must not gap; a
// snapshot replaces the log unless the log holds its last entry, §7;
// compaction only up to the snapshot). Writes happen when the simulated
// driver finishes persisting a Ready, so a crash loses exactly what no
// finished Ready wrote. Beside the log it keeps, for the checkers, a hash
// chain over (term, data) of every entry up to each index: two logs agree
// up to an index exactly when their chains there are equal.
//
// SimMachine is the state machine: the hash of every applied entry's data in
// order, and the log chain, so a snapshot carries both and state-machine
// safety can be checked across snapshot installs.
import { assert } from '../../src/assert.ts'
import type { HardState, MembershipCodec, RaftEntry, RaftStorage, Snapshot, SnapshotMeta } from '../../src/replication/core/index.ts'

/** A 32-bit mix of a running hash with one entry. */
export function mixHash(hash: number, term: number, data: Uint8Array): number {
  let h = (hash ^ Math.imul(term + 0x9e3779b9, 0x85ebca6b)) >>> 0
  for (let i = 0; i < data.length; i++) {
    h = Math.imul(h ^ (data[i] as number), 0x01000193) >>> 0
  }
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39) >>> 0
  return (h ^ (h >>> 15)) >>> 0
}

// Entry data in the simulation: a tag byte, then the payload.
const noopTag = 0
const proposalTag = 1
const membershipTag = 2

export const simNoop = Uint8Array.of(noopTag)

export const simMembership: MembershipCodec = {
  encode(voters) {
    return Uint8Array.of(membershipTag, ...voters)
  },
  decode(data) {
    if (data[0] !== membershipTag) return null
    return Array.from(data.subarray(1))
  },
}

/** A proposal's data: unique in a run, so two replicas applying different data at an index is visible. */
export function simProposal(serial: number): Uint8Array {
  return Uint8Array.of(proposalTag, serial & 0xff, (serial >>> 8) & 0xff, (serial >>> 16) & 0xff, (serial >>> 24) & 0xff)
}

export function describeData(data: Uint8Array): string {
  if (data[0] === noopTag) return 'noop'
  if (data[0] === membershipTag) return `voters(${Array.from(data.subarray(1)).join(',')})`
  if (data[0] === proposalTag) return `p${(data[1] ?? 0) | ((data[2] ?? 0) << 8) | ((data[3] ?? 0) << 16) | ((data[4] ?? 0) << 24)}`
  return `?${Array.from(data).join('.')}`
}

export function dataKey(data: Uint8Array): string {
  return Array.from(data).join('.')
}

const emptyHardState: HardState = Object.freeze({ term: 0, vote: 0, commit: 0 })

export class SimStorage implements RaftStorage {
  #hardState: HardState = emptyHardState
  #snapshot: Snapshot | null = null
  /** Index and term of the entry just before the log. */
  #startIndex = 0
  #startTerm = 0
  #log: RaftEntry[] = []
  /** chains[i] is the chain through index #startIndex + i. */
  #chains: number[] = [0]

  hardState(): HardState {
    return this.#hardState
  }

  snapshotMeta(): SnapshotMeta | null {
    return this.#snapshot?.meta ?? null
  }

  firstIndex(): number {
    return this.#startIndex + 1
  }

  lastIndex(): number {
    return this.#startIndex + this.#log.length
  }

  term(index: number): number | undefined {
    if (index === this.#startIndex) return this.#startTerm
    return this.#log[index - this.#startIndex - 1]?.term
  }

  entries(lo: number, hi: number, bytesMax: number): RaftEntry[] {
    assert(this.#startIndex < lo && lo <= hi && hi <= this.lastIndex() + 1, `sim storage: entries [${lo}, ${hi}) outside the log`)
    const result: RaftEntry[] = []
    let bytes = 0
    for (let index = lo; index < hi; index++) {
      const entry = this.#log[index - this.#startIndex - 1] as RaftEntry
      bytes += entry.data.length
      if (result.length > 0 && bytes > bytesMax) break
      result.push(entry)
    }
    return result
  }

  loadSnapshot(): Snapshot | null {
    return this.#snapshot
  }

  /** The chain through index, when the log (or its start) still holds it. */
  chain(index: number): number | undefined {
    if (index < this.#startIndex || index > this.lastIndex()) return undefined
    return this.#chains[index - this.#startIndex]
  }

  // The driver's writes.

  append(entries: readonly RaftEntry[], hardState: HardState | null): void {
    const first = entries[0]
    if (first !== undefined) {
      assert(first.index > this.#startIndex && first.index <= this.lastIndex() + 1, `sim storage: append at ${first.index} outside the log`)
      assert(first.index > (this.#snapshot?.meta.index ?? 0), 'sim storage: append rewrites a snapshot')
      this.#log.length = first.index - this.#startIndex - 1
      this.#chains.length = first.index - this.#startIndex
      let previousTerm = this.term(first.index - 1) as number
      for (const entry of entries) {
        assert(entry.index === this.lastIndex() + 1, 'sim storage: non-contiguous append')
        assert(entry.term >= previousTerm && entry.term > 0, 'sim storage: terms go back')
        previousTerm = entry.term
        this.#chains.push(mixHash(this.#chains[this.#chains.length - 1] as number, entry.term, entry.data))
        this.#log.push(entry)
      }
    }
    if (hardState !== null) this.#hardState = hardState
  }

  /** Saves a snapshot whose log chain is `chain`; the log goes unless it holds the snapshot's entry. */
  saveSnapshot(snapshot: Snapshot, chain: number): void {
    const { meta } = snapshot
    assert(meta.index > (this.#snapshot?.meta.index ?? 0), 'sim storage: snapshot not newer')
    assert(meta.index > this.#startIndex, 'sim storage: snapshot older than the log start')
    const keepsLog = meta.index <= this.lastIndex() && this.term(meta.index) === meta.term
    if (keepsLog) assert(this.chain(meta.index) === chain, 'sim storage: snapshot disagrees with the log it keeps')
    this.#snapshot = snapshot
    if (!keepsLog) {
      this.#startIndex = meta.index
      this.#startTerm = meta.term
      this.#log = []
      this.#chains = [chain]
    }
  }

  compact(throughIndex: number): void {
    assert(this.#snapshot !== null && throughIndex <= this.#snapshot.meta.index, 'sim storage: compact beyond the snapshot')
    if (throughIndex <= this.#startIndex) return
    const term = this.term(throughIndex) as number
    const drop = throughIndex - this.#startIndex
    this.#log = this.#log.slice(drop)
    this.#chains = this.#chains.slice(drop)
    this.#startIndex = throughIndex
    this.#startTerm = term
  }

  clone(): SimStorage {
    const copy = new SimStorage()
    copy.#hardState = this.#hardState
    copy.#snapshot = this.#snapshot
    copy.#startIndex = this.#startIndex
    copy.#startTerm = this.#startTerm
    copy.#log = this.#log.slice()
    copy.#chains = this.#chains.slice()
    return copy
  }

  describe(): string {
    const entries = this.#log.map((entry) => `${entry.index}@${entry.term}:${describeData(entry.data)}`).join(' ')
    const hs = this.#hardState
    return `hs(t${hs.term} v${hs.vote} c${hs.commit}) start ${this.#startIndex}@${this.#startTerm} [${entries}]`
  }
}

/** What a snapshot's single chunk holds: index, log chain and data digest. */
export interface MachineImage {
  readonly index: number
  readonly chain: number
  readonly digest: number
}

export function encodeImage(image: MachineImage): Uint8Array {
  const bytes = new Uint8Array(12)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, image.index)
  view.setUint32(4, image.chain)
  view.setUint32(8, image.digest)
  return bytes
}

export function decodeImage(chunk: Uint8Array): MachineImage {
  assert(chunk.length === 12, 'sim machine: bad snapshot chunk')
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  return { index: view.getUint32(0), chain: view.getUint32(4), digest: view.getUint32(8) }
}

export class SimMachine {
  index = 0
  /** The log chain through index (terms and data). */
  chain = 0
  /** The hash of applied data only: what the state would be. */
  digest = 0

  apply(entry: RaftEntry): void {
    assert(entry.index === this.index + 1, `sim machine: applied ${entry.index} after ${this.index}`)
    this.index = entry.index
    this.chain = mixHash(this.chain, entry.term, entry.data)
    this.digest = mixHash(this.digest, 0, entry.data)
  }

  restore(image: MachineImage): void {
    this.index = image.index
    this.chain = image.chain
    this.digest = image.digest
  }

  image(): MachineImage {
    return { index: this.index, chain: this.chain, digest: this.digest }
  }
}
