// `npm run cluster` as an operator uses it: three replicas on the ports it is
// given, with their data under one directory and a secret it makes once;
// they elect a leader and take a write through any replica; Ctrl-C (SIGINT)
// stops every replica gracefully and the command exits 0.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { createServer, type Server } from 'node:net'
import { makeTempDir, nodeBinary, removeTempDir, repoRoot } from '../support/node-process.ts'

it('starts a 3-replica cluster on the given ports and stops it cleanly on Ctrl-C', async () => {
  const root = makeTempDir('herd-cli-')
  const dataDir = join(root, 'cluster')
  // Six consecutive free ports: 3 client ports, then 3 peer ports.
  const clientPort = await consecutiveFreePorts(6)
  const peerPort = clientPort + 3
  const child = spawn(nodeBinary, [join(repoRoot, 'src/cli/cluster.ts'), '--client-port', String(clientPort), '--peer-port', String(peerPort), '--data-dir', dataDir], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  try {
    const urls = [0, 1, 2].map((i) => `http://127.0.0.1:${clientPort + i}`)
    let leader: number | null = null
    for (let i = 0; i < 400 && leader === null; i++) {
      const statuses = await Promise.all(
        urls.map((url) =>
          fetch(`${url}/cluster`)
            .then((response) => response.json() as Promise<{ leader: number | null }>)
            .catch(() => null),
        ),
      )
      const leaders = new Set(statuses.map((status) => status?.leader ?? null))
      if (leaders.size === 1 && !leaders.has(null)) leader = [...leaders][0] as number
      else await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(leader, output).not.toBeNull()
    const written = await fetch(`${urls[2]}/znodes/via-cli`, { method: 'PUT', body: 'x' })
    expect(written.status).toBe(201)
    expect(existsSync(join(dataDir, 'replica-1'))).toBe(true)
    expect(readFileSync(join(dataDir, 'cluster-secret'), 'utf8').length).toBeGreaterThanOrEqual(16)
  } finally {
    child.kill('SIGINT')
  }
  expect(await exited).toBe(0)
  removeTempDir(root)
  expect(output).toContain('cluster: stopping')
  expect(output.match(/\] .*herd: stopped/g)?.length).toBe(3)
}, 60_000)

/** A base port whose `count` consecutive ports are free now, below the kernel's ephemeral range (see freePorts). */
async function consecutiveFreePorts(count: number): Promise<number> {
  const listen = (port: number): Promise<Server | null> =>
    new Promise((resolve) => {
      const server = createServer()
      server.once('error', () => resolve(null))
      server.listen(port, '127.0.0.1', () => resolve(server))
    })
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count))
    const servers = await Promise.all(Array.from({ length: count }, (_, i) => listen(base + i)))
    await Promise.all(servers.map((server) => (server === null ? undefined : new Promise((resolve) => server.close(resolve)))))
    if (servers.every((server) => server !== null)) return base
  }
  throw new Error(`no ${count} consecutive free ports`)
}
