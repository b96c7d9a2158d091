// Linearizable reads without a log entry (thesis §6.4). A read is recorded
// with the leader's commit index once the leader has committed an entry of
// its own term (before that it waits: the commit index might lag what an
// earlier leader committed). Each batch of reads gets a round number that
// rides on the next heartbeats; a follower's reply echoes the newest round
// it saw, which confirms this leader for every round up to it. A round is
// ready once a majority of voters confirmed it; rounds complete in order.
import { hasQuorum } from './quorum.ts'
import type { ReadState } from './types.ts'

interface Round {
  readonly round: number
  readonly context: number
  readonly index: number
  readonly acks: Set<number>
}

export class ReadIndexQueue {
  #round = 0
  /** Contexts asked for before this leader committed an entry of its term. */
  #waiting: number[] = []
  #rounds: Round[] = []

  /** The newest round: heartbeats carry it. */
  get round(): number {
    return this.#round
  }

  get size(): number {
    return this.#waiting.length + this.#rounds.length
  }

  wait(context: number): void {
    this.#waiting.push(context)
  }

  /** Starts a round for `contexts` at `index`, acknowledged by `self` when it votes. */
  start(contexts: readonly number[], index: number, self: number | null): number {
    const round = ++this.#round
    for (const context of contexts) {
      const acks = new Set<number>()
      if (self !== null) acks.add(self)
      this.#rounds.push({ round, context, index, acks })
    }
    return round
  }

  /** The waiting contexts, now that the leader has committed in its term. */
  takeWaiting(): number[] {
    const waiting = this.#waiting
    this.#waiting = []
    return waiting
  }

  /** `from` confirmed leadership through `round`; returns the reads now ready, in order. */
  acknowledge(from: number, round: number, voters: readonly number[]): ReadState[] {
    for (const read of this.#rounds) {
      if (read.round > round) break
      read.acks.add(from)
    }
    return this.takeReady(voters)
  }

  takeReady(voters: readonly number[]): ReadState[] {
    let ready = -1
    for (let i = 0; i < this.#rounds.length; i++) {
      if (hasQuorum(voters, (this.#rounds[i] as Round).acks)) ready = i
    }
    if (ready < 0) return []
    return this.#rounds.splice(0, ready + 1).map(({ context, index }) => ({ context, index }))
  }

  clear(): void {
    this.#waiting = []
    this.#rounds = []
  }
}
