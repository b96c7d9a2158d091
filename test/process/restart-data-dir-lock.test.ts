// One replica owns one data directory (storage/index.ts: RocksDB's LOCK).
// A second node started on the directory of a running one, under any
// spelling of its path, must exit non-zero with a message that says what
// is wrong, before it serves anything; and the running node, busy writing
// meanwhile, must lose nothing and store exactly what it serves. A node
// whose directory is removed while it runs acknowledges no write after
// that (it stops at the next one) and, stopped before one, says in one line
// that it could not close its store.
import { spawn } from 'node:child_process'
import { rmSync, symlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { mainScript, makeTempDir, nodeBinary, repoRoot, startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { afterRestart, treeState } from '../support/raw-http.ts'
import { replayDataDir } from '../support/replay.ts'

const nodes: NodeProcess[] = []
afterAll(() => stopAll(nodes))

/** Runs a second herd on `dataDir` to its exit (it must not get as far as listening). */
function secondNode(dataDir: string): Promise<{ code: number | null; output: string; elapsedMs: number }> {
  const started = Date.now()
  const child = spawn(nodeBinary, [mainScript, '--client-port', '0', '--data-dir', dataDir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the second node did not exit within 20 s:\n${output}`))
    }, 20_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output, elapsedMs: Date.now() - started })
    })
  })
}

it('a second node on a running node\'s data directory fails clearly and corrupts nothing', async () => {
  let node = await startNode()
  nodes.push(node)
  const { dataDir, port } = node
  expect((await fetch(`${node.url}/znodes/owned`, { method: 'PUT', body: 'first' })).status).toBe(201)

  // The running node keeps writing while the intruders try to start.
  let isDone = false
  const acked: string[] = []
  const url = node.url
  const writers = Array.from({ length: 8 }, async (_, c) => {
    for (let n = 0; !isDone; n++) {
      const response = await fetch(`${url}/znodes/w-${c}-${n}`, { method: 'PUT', body: `${c}-${n}` })
      expect(response.status).toBe(201)
      await response.arrayBuffer()
      acked.push(`/w-${c}-${n}`)
    }
  })

  const alias = join(makeTempDir('herd-alias-'), 'data-link')
  symlinkSync(dataDir, alias)
  for (const spelling of [dataDir, `${dataDir}/`, `${dirname(dataDir)}/./data`, alias]) {
    const second = await secondNode(spelling)
    expect(second.code, `second node on ${spelling}:\n${second.output}`).not.toBe(0)
    expect(second.code).not.toBeNull()
    expect(second.output).not.toMatch(/listening on/)
    expect(second.output).toMatch(/already open|LOCK/)
    expect(second.output).toContain('one replica owns one data directory')
    console.log(`second node on ${spelling === alias ? 'a symlink to the data dir' : JSON.stringify(spelling.slice(dirname(dataDir).length))}: exit ${second.code} after ${second.elapsedMs} ms: ${second.output.trim().split('\n')[0]?.slice(0, 160)}`)
  }
  isDone = true
  await Promise.all(writers)
  console.log(`the first node acknowledged ${acked.length} writes meanwhile`)

  // The first node never noticed, and its store is whole.
  expect(node.child.exitCode).toBeNull()
  expect(await (await fetch(`${node.url}/znodes/owned?raw`)).text()).toBe('first')
  const served = await treeState(node.url)
  expect(await node.stop()).toBe(0)
  const replay = await replayDataDir(dataDir)
  expect({ digest: replay.digest, zxid: replay.zxid }).toEqual({ digest: served.digest, zxid: served.appliedZxid })
  expect(acked.filter((path) => replay.read(path) === undefined)).toEqual([])

  // And it starts again on its own directory, once it is free.
  node = await startNode({ dataDir, port })
  nodes.push(node)
  expect(await treeState(node.url)).toEqual(afterRestart(served))
})

it('a node whose data directory was removed under it says so in one line when stopped', async () => {
  const node = await startNode()
  nodes.push(node)
  for (let n = 0; n < 20; n++) expect((await fetch(`${node.url}/znodes/gone-${n}`, { method: 'PUT', body: String(n) })).status).toBe(201)
  rmSync(node.dataDir, { recursive: true, force: true })

  const code = await node.stop()
  const output = node.output()
  console.log(`stopped after its data directory was removed: exit ${code}: ${output.trim().split('\n').slice(-1)[0]?.slice(0, 200)}`)
  expect(code).toBe(1)
  expect(output).toMatch(/could not stop cleanly: .+/)
  // One line that says what failed, not a dying process's stack trace.
  expect(output).not.toMatch(/^\s+at /m)
  expect(output).not.toContain('stopped\n')
})

it('a node whose data directory was removed under it acknowledges no write after that, and stops', async () => {
  const node = await startNode()
  nodes.push(node)
  expect((await fetch(`${node.url}/znodes/before`, { method: 'PUT', body: 'kept' })).status).toBe(201)
  rmSync(node.dataDir, { recursive: true, force: true })

  // Its segment is still open: the write and its sync would succeed, into a file no restart finds.
  const status = await fetch(`${node.url}/znodes/after`, { method: 'PUT', body: 'lost' }).then(
    (response) => response.status,
    () => 'connection lost',
  )
  const exited = await node.ended(15_000)
  const output = node.output()
  console.log(`the write after the removal: ${status}; exit ${exited}: ${output.split('\n').find((line) => line.includes('removed while in use'))?.slice(0, 220)}`)
  expect(status === 'connection lost' || (typeof status === 'number' && status >= 500)).toBe(true)
  expect(exited).toBe(1)
  expect(output).toMatch(/segment .+ was removed while in use \(was the data directory deleted\?\)/)
})
