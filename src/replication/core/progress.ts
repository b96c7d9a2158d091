// What a leader knows of one follower (etcd's Progress): the highest index it
// holds in agreement (match), the next index to send, and how to send it.
// - probe: one append at a time until a reply shows where the logs agree;
// - replicate: appends are pipelined, optimistically moving next, up to
//   inflightAppendsMax unacknowledged messages;
// - snapshot: the follower is behind the leader's log start; a snapshot is
//   on its way and nothing else is sent until it is acknowledged (or given up
//   after a timeout, since a lost snapshot message gets no reply).
import { assert } from '../../assert.ts'
import type { ProgressState } from './types.ts'

/** The last index of each append in flight, oldest first, at most `capacity`. */
export class Inflights {
  readonly #capacity: number
  #lastIndexes: number[] = []

  constructor(capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity >= 1, 'inflights: capacity must be a positive integer')
    this.#capacity = capacity
  }

  get count(): number {
    return this.#lastIndexes.length
  }

  isFull(): boolean {
    return this.#lastIndexes.length >= this.#capacity
  }

  add(lastIndex: number): void {
    assert(!this.isFull(), 'inflights: add beyond capacity')
    this.#lastIndexes.push(lastIndex)
  }

  /** Acknowledged through index: those messages are no longer in flight. */
  freeTo(index: number): void {
    let count = 0
    while (count < this.#lastIndexes.length && (this.#lastIndexes[count] as number) <= index) count++
    if (count > 0) this.#lastIndexes.splice(0, count)
  }

  freeFirst(): void {
    this.#lastIndexes.shift()
  }

  reset(): void {
    this.#lastIndexes = []
  }
}

export class Progress {
  match = 0
  next: number
  state: ProgressState = 'probe'
  /** In probe: an append is out and unanswered. */
  isProbeSent = false
  /** In snapshot: the index of the snapshot sent, and ticks spent waiting for it. */
  pendingSnapshot = 0
  snapshotTicks = 0
  /** Heard from within the current check-quorum period (§6.2). */
  isRecentActive = true
  readonly inflights: Inflights

  constructor(next: number, inflightAppendsMax: number) {
    this.next = next
    this.inflights = new Inflights(inflightAppendsMax)
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.isProbeSent
      case 'replicate':
        return this.inflights.isFull()
      case 'snapshot':
        return true
    }
  }

  becomeProbe(): void {
    const resumeAt = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1
    this.state = 'probe'
    this.next = resumeAt
    this.isProbeSent = false
    this.pendingSnapshot = 0
    this.inflights.reset()
  }

  becomeReplicate(): void {
    this.state = 'replicate'
    this.next = this.match + 1
    this.isProbeSent = false
    this.inflights.reset()
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot'
    this.pendingSnapshot = index
    this.snapshotTicks = 0
    this.next = index + 1
    this.inflights.reset()
  }

  /** A snapshot went unanswered: probe again from what is known. */
  abandonSnapshot(): void {
    this.state = 'probe'
    this.next = this.match + 1
    this.isProbeSent = false
    this.pendingSnapshot = 0
    this.inflights.reset()
  }

  /** An append or snapshot was acknowledged through index; whether match moved. */
  maybeUpdate(index: number): boolean {
    const isUpdated = this.match < index
    if (isUpdated) {
      this.match = index
      this.isProbeSent = false
    }
    this.next = Math.max(this.next, index + 1)
    return isUpdated
  }

  /**
   * An append at prevIndex `rejected` was refused; the follower hints it
   * agrees at most up to `matchHint`. Returns false for a stale rejection.
   */
  maybeDecreaseTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.isProbeSent = false
    return true
  }

  /** After sending entries through lastIndex. */
  sentEntries(lastIndex: number): void {
    if (this.state === 'replicate') {
      this.next = lastIndex + 1
      this.inflights.add(lastIndex)
    } else if (this.state === 'probe') {
      this.isProbeSent = true
    }
  }
}
