// The README's curl tour, run as written against a real node (only the port
// differs): the first sh block under "A tour with curl".
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, expect, it } from 'vitest'
import { repoRoot, startNode, stopAll, type NodeProcess } from '../support/node-process.ts'

const run = promisify(execFile)
const nodes: NodeProcess[] = []
afterAll(() => stopAll(nodes))

function tour(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## A tour with curl'))
  const match = /```sh\n([\s\S]*?)```/.exec(section)
  if (match === null) throw new Error('README.md has no sh block under "A tour with curl"')
  return match[1] as string
}

it("runs the README's curl tour as written", async () => {
  const node = await startNode()
  nodes.push(node)
  // -sS: no progress meter; a newline after each response keeps outputs apart.
  const script = `set -euo pipefail\ncurl() { command curl -sS "$@"; echo; }\n` + tour().replaceAll('localhost:8181', `127.0.0.1:${node.port}`)
  const { stdout } = await run('bash', ['-c', script], { timeout: 30_000 })
  const expected = [
    '"path":"/app"',
    '"data":"config v1","encoding":"utf8"',
    '"path":"/tasks0000000001"',
    '"path":"/queue/0000000000"',
    '"path":"/queue/0000000001"',
    '"children":["0000000000","0000000001"]',
    '"version":1',
    '"version":2',
    '"results":[{"op":"check","path":"/app"},{"op":"create","path":"/app/owner"',
    'event: NodeDataChanged',
    '"path":"/workers/w-0000000000"',
    '"deleted":["/workers/w-0000000000"]',
    '"path":"/workers","children":[]',
    '"code":"NotEmpty"',
    '"role":"leader"',
    `"clientUrl":"http://127.0.0.1:${node.port}"`,
  ]
  if (process.env["SHOW_TOUR"] === "1") console.log(stdout)
  for (const fragment of expected) expect(stdout).toContain(fragment)
  // The only error the tour shows on purpose is deleting a znode that has children.
  expect([...stdout.matchAll(/"code":"(\w+)"/g)].map((m) => m[1])).toEqual(['NotEmpty'])
})
