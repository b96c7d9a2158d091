// The README's first promise: a node starts, answers, and keeps a write across a restart.
import { afterAll, expect, it } from 'vitest'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'

const nodes: NodeProcess[] = []
afterAll(() => stopAll(nodes))

it('starts, writes, and keeps the write across a graceful restart', async () => {
  const node = await startNode()
  nodes.push(node)
  const put = await fetch(`${node.url}/znodes/smoke`, { method: 'PUT', body: 'hello' })
  expect(put.status).toBe(201)
  const restarted = await node.restart()
  nodes.push(restarted)
  const get = await fetch(`${restarted.url}/znodes/smoke?raw`)
  expect(get.status).toBe(200)
  expect(await get.text()).toBe('hello')
})
