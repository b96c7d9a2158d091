// `npm run cluster`: a local cluster on loopback, for trying herd out and
// for load tests. Starts N replicas (3 unless --nodes 5) as child processes
// of this one, client ports 8181, 8182, ... and peer ports 8281, 8282, ...
// (--client-port / --peer-port move the first), their data under one
// directory (--data-dir, default ./data/cluster), with a cluster secret made
// once and kept there. Their logs are prefixed with the replica id. Ctrl-C
// (or SIGTERM) stops every replica gracefully, then exits; if one replica
// dies, the others keep running and this says so.
//
//   npm run cluster -- [--nodes 3] [--client-port 8181] [--peer-port 8281] [--data-dir ./data/cluster] [-- extra herd options]
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { nodeFlags } from '../config.ts'

const mainScript = new URL('../main.ts', import.meta.url).pathname

function main(): void {
  const split = process.argv.indexOf('--')
  const own = split < 0 ? process.argv.slice(2) : process.argv.slice(2, split)
  const extra = split < 0 ? [] : process.argv.slice(split + 1)
  const { values } = parseArgs({
    args: own,
    options: {
      nodes: { type: 'string', default: '3' },
      'client-port': { type: 'string', default: '8181' },
      'peer-port': { type: 'string', default: '8281' },
      'data-dir': { type: 'string', default: './data/cluster' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write('usage: npm run cluster -- [--nodes 3|5] [--client-port 8181] [--peer-port 8281] [--data-dir ./data/cluster] [-- herd options]\n')
    return
  }
  const count = Number(values.nodes)
  const clientPort = Number(values['client-port'])
  const peerPort = Number(values['peer-port'])
  if (![1, 3, 5, 7].includes(count)) fail('--nodes is 1, 3, 5 or 7 (an odd number of voters)')
  if (!Number.isInteger(clientPort) || !Number.isInteger(peerPort) || clientPort < 1 || peerPort < 1) fail('ports are positive integers')
  const dataDir = resolve(values['data-dir'])
  mkdirSync(dataDir, { recursive: true })
  const secretFile = join(dataDir, 'cluster-secret')
  if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(24).toString('base64url'), { mode: 0o600 })
  const secret = readFileSync(secretFile, 'utf8').trim()
  const ids = Array.from({ length: count }, (_, i) => i + 1)
  const peers = ids.map((id) => `${id}=127.0.0.1:${peerPort + id - 1}`).join(',')

  const children = new Map<number, ChildProcess>()
  for (const id of ids) {
    const args = [
      ...nodeFlags,
      mainScript,
      '--replica-id', String(id),
      '--client-port', String(clientPort + id - 1),
      '--peers', peers,
      '--data-dir', join(dataDir, `replica-${id}`),
      ...extra,
    ]
    const child = spawn(process.execPath, args, { env: { ...process.env, HERD_CLUSTER_SECRET: secret }, stdio: ['ignore', 'pipe', 'pipe'] })
    children.set(id, child)
    const prefix = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line !== '') stream.write(`[${id}] ${line}\n`)
    }
    child.stdout?.on('data', prefix(process.stdout))
    child.stderr?.on('data', prefix(process.stderr))
    child.once('exit', (code, signal) => {
      children.delete(id)
      if (!isStopping) process.stderr.write(`cluster: replica ${id} exited (${signal ?? code}); the others keep running\n`)
      if (children.size === 0) process.exit(isStopping ? 0 : 1)
    })
  }
  process.stdout.write(`cluster: ${count} replicas, clients on 127.0.0.1:${clientPort}..${clientPort + count - 1}, data in ${dataDir}; Ctrl-C stops them\n`)

  let isStopping = false
  const stop = (): void => {
    if (isStopping) return
    isStopping = true
    process.stdout.write('cluster: stopping\n')
    for (const child of children.values()) child.kill('SIGTERM')
    setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL')
      process.exit(1)
    }, 15_000).unref()
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

function fail(message: string): never {
  process.stderr.write(`cluster: ${message}\n`)
  process.exit(2)
}

main()
