// Which replicas vote, as the log says. Single-server changes (thesis §4.1)
// take effect as soon as their entry is in a replica's log, committed or
// not, so the membership is the latest change in the log; a truncated change
// is undone, which is why the changes not yet applied are all kept.
import { assert } from '../../assert.ts'
import type { MembershipCodec } from './types.ts'

interface Change {
  readonly index: number
  readonly voters: readonly number[]
}

/** Voters are a non-empty set of positive integers; anything else is not a membership. */
export function isVoterList(value: readonly number[] | null): value is readonly number[] {
  if (value === null || !Array.isArray(value) || value.length === 0) return false
  return value.every((id) => Number.isSafeInteger(id) && id > 0) && new Set(value).size === value.length
}

/** Decodes entry data as a membership change; null for other entries and for malformed lists. */
export function decodeVoters(codec: MembershipCodec, data: Uint8Array): readonly number[] | null {
  const voters = codec.decode(data)
  return isVoterList(voters) ? Object.freeze([...voters].sort((a, b) => a - b)) : null
}

/** Whether two voter sets differ by exactly one replica, added or removed. */
export function differsByOne(from: readonly number[], to: readonly number[]): boolean {
  const added = to.filter((id) => !from.includes(id)).length
  const removed = from.filter((id) => !to.includes(id)).length
  return added + removed === 1
}

export class MembershipHistory {
  /** Ascending by index; [0] is the base (a snapshot's, or the bootstrap one at 0). */
  #changes: Change[]

  constructor(index: number, voters: readonly number[]) {
    assert(isVoterList(voters), 'membership: voters must be distinct positive integers')
    this.#changes = [{ index, voters: Object.freeze([...voters].sort((a, b) => a - b)) }]
  }

  voters(): readonly number[] {
    return (this.#changes[this.#changes.length - 1] as Change).voters
  }

  /** Index of the entry that set the current membership (0 or a snapshot's index for the base). */
  latestIndex(): number {
    return (this.#changes[this.#changes.length - 1] as Change).index
  }

  /** The voters as of index; index must not be older than what prune() kept. */
  votersAt(index: number): readonly number[] {
    assert(index >= (this.#changes[0] as Change).index, `membership: ${index} is older than the history kept`)
    for (let i = this.#changes.length - 1; i >= 0; i--) {
      const change = this.#changes[i] as Change
      if (change.index <= index) return change.voters
    }
    return (this.#changes[0] as Change).voters
  }

  add(index: number, voters: readonly number[]): void {
    assert(index > this.latestIndex(), 'membership: changes are added in log order')
    this.#changes.push({ index, voters })
  }

  /** The log was cut from index on: changes at or after it never happened. */
  truncateFrom(index: number): void {
    while (this.#changes.length > 1 && (this.#changes[this.#changes.length - 1] as Change).index >= index) this.#changes.pop()
  }

  /**
   * A leader's snapshot replaced the log: its membership is the current one.
   * Changes up to `applied` are kept (committed, and votersAt() may still be
   * asked about the applied index until the snapshot is applied).
   */
  installSnapshot(index: number, voters: readonly number[], applied: number): void {
    this.#changes = this.#changes.filter((change, i) => i === 0 || change.index <= applied)
    this.add(index, voters)
  }

  /** Forgets changes superseded at or before index (applied, so never truncated). */
  prune(index: number): void {
    while (this.#changes.length > 1 && (this.#changes[1] as Change).index <= index) this.#changes.shift()
  }
}
