// A cluster whose replicas each serve their client port from two threads:
// a write that lands on a follower's second thread is handed to the main
// thread, forwarded to the leader, and answered by that thread from its own
// copy of the tree once the entry reaches it (the DoneMessage path). Many
// connections at once, so the kernel spreads them over both threads. Once
// the follower is cut off from the others, neither thread serves local reads.
import { afterAll, expect, it } from 'vitest'
import { TestCluster } from '../support/cluster-process.ts'

let cluster: TestCluster | null = null
afterAll(async () => {
  await cluster?.stop()
})

it('answers every write a follower takes on either serving thread with the result of its own apply', async () => {
  cluster = await TestCluster.start({ size: 3, args: ['--serve-threads', '2'] })
  const leader = await cluster.leader()
  const follower = cluster.ids.find((id) => id !== leader) as number
  const url = cluster.url(follower)
  expect((await fetch(`${url}/znodes/st`, { method: 'PUT', body: '' })).status).toBe(201)

  const connections = 32
  const perConnection = 10
  const statuses = await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const seen: number[] = []
      for (let i = 0; i < perConnection; i++) {
        const created = await fetch(`${url}/znodes/st/c${c}-${i}`, { method: 'PUT', body: `v${c}-${i}` })
        seen.push(created.status)
        await created.arrayBuffer()
        // The same znode again: an update this time, at version 1.
        const updated = await fetch(`${url}/znodes/st/c${c}-${i}`, { method: 'PUT', body: `w${c}-${i}`, headers: { accept: 'application/json' } })
        seen.push(updated.status)
        const body = (await updated.json()) as { stat?: { version?: number } }
        seen.push(body.stat?.version === 1 ? 1 : -1)
      }
      return seen
    }),
  )
  expect(statuses.flat().filter((status) => status !== 201 && status !== 200 && status !== 1)).toEqual([])

  // Every write is on the leader with its last value.
  const listed = await fetch(`${cluster.url(leader)}/znodes/st?children&limit=1000&minZxid=0`)
  const children = ((await listed.json()) as { children: string[] }).children
  expect(children).toHaveLength(connections * perConnection)
  const sample = await fetch(`${cluster.url(leader)}/znodes/st/c7-3?raw`)
  expect(await sample.text()).toBe('w7-3')

  // The others die: past leaderContactMaxMs both of the follower's threads
  // refuse local reads (the main thread tells the other one it is cut off),
  // and serve them with ?stale.
  const others = cluster.ids.filter((id) => id !== follower)
  await Promise.all(others.map((id) => cluster?.nodes.get(id)?.kill()))
  const killedAt = Date.now()
  const answers = await Promise.all(
    Array.from({ length: connections }, async () => {
      for (;;) {
        const response = await fetch(`${url}/znodes/st/c7-3`)
        const body = (await response.json()) as { code?: string }
        if (response.status !== 200 || Date.now() - killedAt > 15_000) return `${response.status} ${body.code ?? ''}`
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }),
  )
  expect(new Set(answers)).toEqual(new Set(['503 ConnectionLoss']))
  const late = await Promise.all(Array.from({ length: connections }, () => fetch(`${url}/znodes/st/c7-3`).then((response) => response.status)))
  expect(new Set(late)).toEqual(new Set([503]))
  const stale = await Promise.all(Array.from({ length: connections }, () => fetch(`${url}/znodes/st/c7-3?stale&raw`).then((response) => response.text())))
  expect(new Set(stale)).toEqual(new Set(['w7-3']))
}, 60_000)
