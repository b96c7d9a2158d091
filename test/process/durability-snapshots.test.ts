// DESIGN.md decision 5: restart = newest snapshot + the log after it. With
// a snapshot every 100 entries, 1 000 writes must leave a truncated log (the
// store's first index past 1) behind a snapshot, and a restart, graceful or
// by SIGKILL, must come back to the same digest at the same zxid as before,
// which is also what an offline replay of the store computes.
import { afterAll, expect, it } from 'vitest'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { afterRestart, treeState } from '../support/raw-http.ts'
import { replayDataDir } from '../support/replay.ts'

const snapshotEntriesInterval = 100
const args = ['--snapshot-entries-interval', String(snapshotEntriesInterval)]

const nodes: NodeProcess[] = []
afterAll(() => stopAll(nodes))

/** `count` writes from 16 concurrent clients: creates, overwrites and some deletes over 200 keys. */
async function write(url: string, count: number, tag: string): Promise<void> {
  let next = 0
  const client = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const path = `${url}/znodes/s/k${i % 200}`
      const response = i % 9 === 8 ? await fetch(path, { method: 'DELETE' }) : await fetch(path, { method: 'PUT', body: `${tag}-${i}` })
      await response.arrayBuffer()
      expect([200, 201, 404]).toContain(response.status)
    }
  }
  await Promise.all(Array.from({ length: 16 }, client))
}

it('after 1 000 writes with a snapshot every 100 entries, the log is truncated and restarts give the same digest', async () => {
  let node = await startNode({ args })
  nodes.push(node)
  const { dataDir, port } = node
  expect((await fetch(`${node.url}/znodes/s`, { method: 'PUT', body: '' })).status).toBe(201)
  const started = Date.now()
  await write(node.url, 1000, 'a')
  const written = await treeState(node.url)
  console.log(`1000 writes in ${Date.now() - started} ms; zxid ${written.appliedZxid}, ${written.znodes} znodes`)

  // Graceful stop: the store holds a snapshot and a truncated log, and replays to the same tree.
  expect(await node.stop()).toBe(0)
  const replay = await replayDataDir(dataDir)
  console.log(`store after a graceful stop: snapshot at ${replay.snapshotIndex}, log ${replay.firstIndex}..${replay.lastIndex} (${replay.applied.length} entries replayed after the snapshot)`)
  expect(replay.snapshotIndex).not.toBeNull()
  expect(replay.firstIndex).toBeGreaterThan(1)
  expect(replay.firstIndex).toBeLessThanOrEqual((replay.snapshotIndex as number) + 1)
  expect(replay.applied.length).toBeLessThan(2 * snapshotEntriesInterval)
  expect({ digest: replay.digest, zxid: replay.zxid }).toEqual({ digest: written.digest, zxid: written.appliedZxid })
  expect(replay.digestFromScratch).toBe(replay.digest)

  // Restart: the same tree, and the writes readable.
  node = await startNode({ dataDir, port, args })
  nodes.push(node)
  expect(await treeState(node.url)).toEqual(afterRestart(written))
  expect(await (await fetch(`${node.url}/znodes/s/k199?raw`)).text()).toBe(replay.read('/s/k199')?.data)

  // More writes, then SIGKILL straight after the last acknowledgement (a snapshot may be half written).
  await write(node.url, 350, 'b')
  const beforeKill = await treeState(node.url)
  await node.kill()
  node = await startNode({ dataDir, port, args })
  nodes.push(node)
  expect(await treeState(node.url)).toEqual(afterRestart(beforeKill))
  expect(await node.stop()).toBe(0)
  const afterKill = await replayDataDir(dataDir)
  expect({ digest: afterKill.digest, zxid: afterKill.zxid }).toEqual({ digest: beforeKill.digest, zxid: beforeKill.appliedZxid + 1 })
  expect(afterKill.snapshotIndex as number).toBeGreaterThan(replay.snapshotIndex as number)
  expect(afterKill.firstIndex).toBeGreaterThan(replay.firstIndex)
})
