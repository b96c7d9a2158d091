// Watches a cluster through GET /cluster on every replica while a scenario
// runs: who claims to lead in which term (at most one leader per term, the
// election checker) and how long the cluster was without a leader that a
// majority follows.
import type { TestCluster } from '../../support/cluster-process.ts'
import { sleep } from './znode-reads.ts'

export interface ElectionReport {
  /** Terms in which two different replicas reported themselves leader. */
  readonly conflicts: Array<{ readonly term: number; readonly leaders: number[] }>
  /** Leaders seen, by term. */
  readonly leaders: Record<number, number>
}

export class Observer {
  readonly #cluster: TestCluster
  readonly #leaders = new Map<number, Set<number>>()
  #isRunning = false
  #loop: Promise<void> = Promise.resolve()

  constructor(cluster: TestCluster) {
    this.#cluster = cluster
  }

  start(): void {
    this.#isRunning = true
    this.#loop = this.#run()
  }

  async stop(): Promise<ElectionReport> {
    this.#isRunning = false
    await this.#loop
    const conflicts = [...this.#leaders].filter(([, ids]) => ids.size > 1).map(([term, ids]) => ({ term, leaders: [...ids] }))
    const leaders: Record<number, number> = {}
    for (const [term, ids] of this.#leaders) leaders[term] = [...ids][0] as number
    return { conflicts, leaders }
  }

  /**
   * Waits until a majority of the replicas agree on one leader whose term is
   * above `afterTerm`, and answers how long that took (ms) and who it is.
   */
  async newLeader(afterTerm: number, timeoutMs: number): Promise<{ readonly id: number; readonly term: number; readonly ms: number }> {
    const startedMs = performance.now()
    const majority = Math.floor(this.#cluster.ids.length / 2) + 1
    for (;;) {
      const statuses = await Promise.all(this.#cluster.ids.map((id) => this.#cluster.status(id, 500, true)))
      this.#note(statuses)
      const leader = statuses.find((status) => status !== null && status.role === 'leader' && status.term > afterTerm)
      if (leader !== undefined && leader !== null && statuses.filter((status) => status !== null && status.leader === leader.id && status.term === leader.term).length >= majority) {
        return { id: leader.id, term: leader.term, ms: performance.now() - startedMs }
      }
      if (performance.now() - startedMs > timeoutMs) throw new Error(`no leader above term ${afterTerm} followed by a majority within ${timeoutMs} ms`)
      await sleep(20)
    }
  }

  async #run(): Promise<void> {
    while (this.#isRunning) {
      this.#note(await Promise.all(this.#cluster.ids.map((id) => this.#cluster.status(id, 500, true))))
      await sleep(100)
    }
  }

  #note(statuses: ReadonlyArray<{ readonly id: number; readonly role: string; readonly term: number } | null>): void {
    for (const status of statuses) {
      if (status === null || status.role !== 'leader') continue
      const ids = this.#leaders.get(status.term) ?? new Set<number>()
      ids.add(status.id)
      this.#leaders.set(status.term, ids)
    }
  }
}
