// Figure 8 of the Raft paper, scripted (five replicas, S1..S5 = 1..5), for
// the §5.4.2 test and its negative control:
// (a)-(b) S1 wrote entry 2 in term 2 on S1 and S2; S5, leader of term 3,
//         wrote another entry 2 on itself only. Every replica is in term 3.
// (c)     S1 is elected in term 4 (S5 cut off) and replicates its old entry
//         2 to S3, so a majority holds it, while its own term-4 entry reaches
//         no one (the network loses it).
// (d)     S1 crashes; S5, whose last term (3) beats the others' (2 and 1),
//         is elected in term 5 and overwrites entry 2 everywhere.
// (e)     Had S1's term-4 entry reached a majority in (c), entry 2 would have
//         been committed with it, and S5 could no longer be elected.
// Under §5.4.2, S1 never commits entry 2 in (c), so (d) is safe; a leader
// that committed it by counting replicas would lose a committed entry.
import type { Message } from '../../src/replication/core/index.ts'
import { Cluster } from './raft-sim-cluster.ts'

export function figure8Cluster(): Cluster {
  const term3 = { term: 3, vote: 0, commit: 1 }
  return new Cluster({
    ids: [1, 2, 3, 4, 5],
    logs: { 1: [1, 2], 2: [1, 2], 3: [1], 4: [1], 5: [1, 3] },
    hardStates: { 1: term3, 2: term3, 3: term3, 4: term3, 5: term3 },
  })
}

/** Drops the term-4 entries from S1's appends: only its old entry 2 gets through. */
function withoutTerm4Entries(message: Message): Message {
  if (message.type !== 'append' || message.from !== 1) return message
  return { ...message, entries: message.entries.filter((entry) => entry.term !== 4) }
}

/** Steps (a) to (c); returns S1's commit index at the end of (c). */
export function figure8UpToC(cluster: Cluster): number {
  cluster.isolate(5)
  cluster.intercept = withoutTerm4Entries
  cluster.elect(1)
  cluster.stabilize()
  return cluster.core(1).status().commit
}

/** Step (d): S1 crashes, S5 is elected in term 5. Throws a SafetyViolation if a committed entry is lost. */
export function figure8StepD(cluster: Cluster): void {
  cluster.crash(1)
  cluster.intercept = null
  cluster.heal()
  // The others' leases on S1 run out (their own campaigns are lost).
  for (let tick = 0; tick < 20; tick++) {
    for (const id of [2, 3, 4]) cluster.tick(id)
    cluster.drop()
  }
  // S5's first pre-vote (for term 4) is refused, and teaches it term 4; the
  // second, for term 5, is granted.
  for (let attempt = 0; attempt < 2; attempt++) {
    cluster.core(5).campaign()
    cluster.stabilize()
  }
}
