// Raft §5.4.2, the rule Figure 8 is about: a leader may commit an entry by
// counting the replicas that hold it only if the entry is of the leader's own
// term. An older term's entry on a majority can still be overwritten by a
// leader elected from the rest (its last term being higher); it becomes
// committed only indirectly, when an entry of the current term after it does.
// Kept in a file of its own so the simulator's negative control can replace
// it and show that the checkers notice.

export function isCommittableByCount(entryTerm: number | undefined, leaderTerm: number): boolean {
  return entryTerm === leaderTerm
}
