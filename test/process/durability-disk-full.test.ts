// RELIABILITY.md, F15: a disk that fills up. Every data directory here is a
// small tmpfs of its own; a filler file takes every byte left on one of
// them while clients write. The replica whose disk is full cannot make a
// write durable, and a write whose durability is unknown stops it (it never
// retries and assumes): it must stop acknowledging, corrupt nothing, and,
// once the space is freed, start on its data again and catch up. The other
// replicas go on, under a new leader if the full one led. In the end no
// acknowledged write is missing anywhere and every digest agrees.
//
// The log is written into zero-filled segments, and RocksDB preallocates its
// WAL: a replica on a full disk goes on as long as it writes into space it
// already holds, which is right. So a ballast writer sets large data (each
// a 256 KiB log entry) to use that space up, and the replica meets the full
// disk within seconds.
//
// Mounting needs root; where this process may not mount, the tests say so
// and are skipped (CI runs them: it is root on these machines).
import { afterAll, expect, it } from 'vitest'
import { TestCluster, missingOn, writer, type Acked } from '../support/cluster-process.ts'
import { sleep } from '../support/http.ts'
import { makeTempDir, removeTempDir, startNode, type NodeProcess } from '../support/node-process.ts'
import { canMountTmpfs, fillUp, mountTmpfs, releaseTmpfs, unfill } from '../support/tmpfs.ts'

const MiB = 1024 * 1024
/** Room for RocksDB's preallocated WAL and two 64 MiB log segments, so the disk is full only once filled. */
const diskBytes = 256 * MiB
const ballastBytes = 256 * 1024

const mountable = canMountTmpfs()
if (!mountable) console.log('durability-disk-full: skipped, this process cannot mount a tmpfs (needs root on Linux)')

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup()
})

/** Sets large data on a few znodes under `prefix` until told to stop, through whichever of `targets()` answers. */
async function ballast(prefix: string, targets: () => readonly string[], isDone: () => boolean): Promise<void> {
  const body = Buffer.alloc(ballastBytes, 0x61)
  for (let i = 0; !isDone(); i++) {
    const urls = targets()
    const url = urls[i % Math.max(1, urls.length)]
    try {
      if (url === undefined) throw new Error('no replica up')
      const response = await fetch(`${url}/znodes${prefix}/ballast-${i % 4}`, { method: 'PUT', body, signal: AbortSignal.timeout(5000) })
      await response.arrayBuffer()
    } catch {
      await sleep(50)
    }
  }
}

it.skipIf(!mountable)('a single node whose disk fills stops acknowledging, and after the space is freed restarts with every acknowledged write', async () => {
  const mount = makeTempDir('herd-disk-full-')
  const dataDir = `${mount}/data`
  mountTmpfs(mount, diskBytes)
  let started: NodeProcess | undefined
  cleanups.push(async () => {
    await started?.kill()
    releaseTmpfs(mount)
    removeTempDir(mount)
  })
  let node = await startNode({ dataDir })
  started = node
  expect((await fetch(`${node.url}/znodes/df`, { method: 'PUT', body: '' })).status).toBe(201)

  const acked: Acked[] = []
  let isDone = false
  let isUp = true
  const targets = (): string[] => (isUp ? [node.url] : [])
  const writers = Array.from({ length: 8 }, (_, c) => writer(c, '/df', targets, acked, () => isDone, 5000))
  await sleep(500)
  expect(acked.length).toBeGreaterThan(0)

  const filler = fillUp(mount)
  const load = ballast('/df', targets, () => isDone || !isUp)
  const code = await node.ended(30_000)
  isUp = false
  await load
  const ackedAtStop = acked.length
  expect(code).toBe(1)
  expect(node.output()).toMatch(/ENOSPC|no space left/i)
  console.log(`single node: stopped on its full disk (exit ${code}) after ${ackedAtStop} acknowledged writes`)

  // While the disk stays full it does not come back: opening the store needs room.
  const whileFull = startNode({ dataDir }).then((up) => (started = up))
  await expect(whileFull).rejects.toThrow(/no space left/i)

  unfill(filler)
  node = await startNode({ dataDir })
  started = node
  isUp = true
  await sleep(500)
  isDone = true
  await Promise.all(writers)
  expect(acked.length).toBeGreaterThan(ackedAtStop)
  const missing = await missingOn(node.url, acked)
  expect(missing.slice(0, 5), `${missing.length} acknowledged writes missing after the restart`).toEqual([])
}, 90_000)

it.skipIf(!mountable)('in a 3-replica cluster, the leader whose disk fills stops and the others elect a new one; then a follower; freed, each catches up and nothing acknowledged is lost', async () => {
  const cluster = await TestCluster.start({
    size: 3,
    args: ['--snapshot-entries-interval', '2000'],
    prepareDataDir: (dir) => mountTmpfs(dir, diskBytes),
  })
  cleanups.push(async () => {
    await Promise.all([...cluster.nodes.values()].map((node) => node.kill()))
    for (const id of cluster.ids) releaseTmpfs(cluster.dataDir(id))
    await cluster.stop()
  })
  const first = await cluster.leader()
  expect((await fetch(`${cluster.url(first)}/znodes/df`, { method: 'PUT', body: '' })).status).toBe(201)

  const acked: Acked[] = []
  const dead = new Set<number>()
  let isDone = false
  const live = (): string[] => cluster.ids.filter((id) => !dead.has(id)).map((id) => cluster.url(id))
  const writers = Array.from({ length: 8 }, (_, c) => writer(c, '/df', live, acked, () => isDone, 5000))
  await sleep(1000)
  expect(acked.length).toBeGreaterThan(0)

  /** Fills `victim`'s disk until it stops; the rest must go on writing. Then frees it and starts it again. */
  const fill = async (victim: number, wasLeader: boolean): Promise<void> => {
    const filler = fillUp(cluster.dataDir(victim))
    let isFull = true
    const load = ballast('/df', live, () => isDone || !isFull)
    const filledAt = Date.now()
    const code = await (cluster.nodes.get(victim) as NodeProcess).ended(30_000)
    dead.add(victim)
    isFull = false
    await load
    expect(code).toBe(1)
    expect(cluster.nodes.get(victim)?.output()).toMatch(/ENOSPC|no space left/i)
    const survivors = cluster.ids.filter((id) => id !== victim)
    const leader = await cluster.leader(survivors)
    const probe = await fetch(`${cluster.url(leader)}/znodes/df/probe-${victim}`, { method: 'PUT', body: 'p' })
    expect(probe.status).toBe(201)
    const ackedAtStop = acked.length
    await sleep(1000)
    expect(acked.length, 'the replicas with room went on acknowledging writes').toBeGreaterThan(ackedAtStop)
    console.log(
      `replica ${victim} (${wasLeader ? 'leader' : 'follower'}) stopped on its full disk ${Date.now() - filledAt} ms after the filler (exit ${code}); replica ${leader} leads; ${acked.length} writes acknowledged so far`,
    )
    await expect(cluster.startReplica(victim), 'a replica does not come back while its disk stays full').rejects.toThrow(/no space left/i)
    unfill(filler)
    await cluster.startReplica(victim)
    dead.delete(victim)
    await sleep(1000)
  }

  await fill(first, true)
  const leader = await cluster.leader()
  await fill(cluster.ids.find((id) => id !== leader && id !== first) as number, false)

  isDone = true
  await Promise.all(writers)
  const statuses = await cluster.converged()
  expect(new Set(statuses.map((status) => status.digest)).size).toBe(1)
  for (const id of cluster.ids) {
    const missing = await missingOn(cluster.url(id), acked)
    expect(missing.slice(0, 5), `replica ${id} lacks ${missing.length} acknowledged writes`).toEqual([])
  }
}, 120_000)
