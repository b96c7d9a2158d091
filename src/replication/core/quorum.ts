// Majorities over a voter set: the commit index (§5.3, §5.4.2 is the
// caller's business) and the outcome of an election.

export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1
}

/** The highest index a majority of voters has matched. */
export function quorumIndex(voters: readonly number[], matchOf: (id: number) => number): number {
  const matches = voters.map(matchOf).sort((a, b) => b - a)
  return matches[majority(voters.length) - 1] ?? 0
}

export type VoteOutcome = 'won' | 'lost' | 'pending'

export function voteOutcome(voters: readonly number[], votes: ReadonlyMap<number, boolean>): VoteOutcome {
  let granted = 0
  let rejected = 0
  for (const id of voters) {
    const vote = votes.get(id)
    if (vote === true) granted++
    else if (vote === false) rejected++
  }
  const needed = majority(voters.length)
  if (granted >= needed) return 'won'
  if (rejected > voters.length - needed) return 'lost'
  return 'pending'
}

/** Whether the ids in `acks` include a majority of voters. */
export function hasQuorum(voters: readonly number[], acks: ReadonlySet<number>): boolean {
  let count = 0
  for (const id of voters) if (acks.has(id)) count++
  return count >= majority(voters.length)
}
