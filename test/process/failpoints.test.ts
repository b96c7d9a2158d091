// Failpoints on one node. Crash points (RELIABILITY.md, F17): the node kills itself
// at an exact point of its write path, and restarts cleanly with everything
// it acknowledged and with what it had made durable. The fault suite fires
// the same points at random in a cluster (npm run test:faults); these pin
// down what each crash must leave behind.
import { afterAll, expect, it } from 'vitest'
import { skewedClock } from '../../src/clock.ts'
import { parseFailpoints } from '../../src/failpoints.ts'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'

const nodes: NodeProcess[] = []
afterAll(() => stopAll(nodes))

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function status(url: string, path: string): Promise<number> {
  const response = await fetch(`${url}/znodes${path}?stat`)
  await response.arrayBuffer()
  return response.status
}

it('parses failpoints and refuses what it does not know', () => {
  const failpoints = parseFailpoints('before-sync=crash:0.5,after-sync=sleep:20,power-loss,sync-delay-ms=3')
  expect(failpoints.has('before-sync')).toBe(true)
  expect(failpoints.has('before-apply')).toBe(false)
  expect(failpoints.isPowerLossJournaled).toBe(true)
  expect(failpoints.isSyncDisabled).toBe(false)
  expect(failpoints.syncDelayMs).toBe(3)
  failpoints.arm()
  const startedMs = performance.now()
  failpoints.pass('after-sync')
  expect(performance.now() - startedMs).toBeGreaterThanOrEqual(19)
  for (const bad of ['nowhere=crash', 'before-sync=crash:0', 'before-sync=crash:2', 'after-sync=sleep:-1', 'after-sync=explode', 'power-loss=1']) {
    expect(() => parseFailpoints(bad)).toThrow(/HERD_FAILPOINTS/)
  }
})

it('a crash after the sync and before the reply: the write the client never heard about is there after the restart', async () => {
  const node = await startNode({ env: { HERD_FAILPOINTS: 'after-sync=crash:0.5' } })
  nodes.push(node)
  // Writes until a pass of the point crashes the node; the last write's outcome is unknown to its client.
  const unanswered: string[] = []
  for (let n = 0; node.child.signalCode === null && n < 200; n++) {
    try {
      const response = await fetch(`${node.url}/znodes/w${n}`, { method: 'PUT', signal: AbortSignal.timeout(2000) })
      await response.arrayBuffer()
      expect(response.status).toBe(201)
    } catch {
      unanswered.push(`/w${n}`)
      break
    }
  }
  expect(await node.ended(5000)).toBe('SIGKILL')
  expect(unanswered).toHaveLength(1)
  const restarted = await node.restart({ env: {} })
  nodes.push(restarted)
  // It was synced before the crash, so it is committed: the restart applies it.
  expect(await status(restarted.url, unanswered[0] as string)).toBe(200)
})

it('a crash between writing a snapshot and truncating the log restarts from that snapshot with every acknowledged write', async () => {
  const args = ['--snapshot-entries-interval', '50']
  const node = await startNode({ args, env: { HERD_FAILPOINTS: 'after-snapshot-write=crash' } })
  nodes.push(node)
  const acked: string[] = []
  for (let n = 0; n < 200; n++) {
    try {
      const response = await fetch(`${node.url}/znodes/s${n}`, { method: 'PUT', signal: AbortSignal.timeout(2000) })
      await response.arrayBuffer()
      if (response.status === 201) acked.push(`/s${n}`)
    } catch {
      break
    }
  }
  expect(await node.ended(5000)).toBe('SIGKILL')
  expect(node.output()).toContain('failpoint after-snapshot-write: crashing')
  expect(acked.length).toBeGreaterThanOrEqual(40)
  const restarted = await node.restart({ args, env: {} })
  nodes.push(restarted)
  for (const path of acked) expect(await status(restarted.url, path)).toBe(200)
})

it('a crash while applying a session expiry: the restart applies the committed expiry and the ephemeral is gone', async () => {
  const args = ['--tick-ms', '100']
  const node = await startNode({ args, env: { HERD_FAILPOINTS: 'expiry-apply=crash' } })
  nodes.push(node)
  const opened = await fetch(`${node.url}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ timeoutMs: 400 }) })
  const session = (await opened.json()) as { id: number; secret: string }
  const created = await fetch(`${node.url}/znodes/eph?ephemeral`, { method: 'PUT', headers: { 'herd-session': String(session.id), 'herd-session-secret': session.secret } })
  expect(created.status).toBe(201)
  // No heartbeats: the session expires, and applying its expiry kills the node.
  expect(await node.ended(10_000)).toBe('SIGKILL')
  expect(node.output()).toContain('failpoint expiry-apply: crashing')
  const restarted = await node.restart({ args, env: {} })
  nodes.push(restarted)
  expect(await status(restarted.url, '/eph')).toBe(404)
})

it('a failed log sync stops the node (fenced, exit 1) without answering the write, and the write never happened', async () => {
  const node = await startNode({ env: { HERD_FAILPOINTS: 'before-sync=error:1' } })
  nodes.push(node)
  const answered = await fetch(`${node.url}/znodes/never`, { method: 'PUT', signal: AbortSignal.timeout(3000) }).then(
    (response) => response.status,
    () => null,
  )
  expect(answered).not.toBe(201)
  expect(await node.ended(5000)).toBe(1)
  expect(node.output()).toContain('failpoint before-sync: injected I/O error')
  const restarted = await node.restart({ env: {} })
  nodes.push(restarted)
  expect(await status(restarted.url, '/never')).toBe(404)
})

it('a skewed clock runs its timers and its monotonic time at its rate, and its wall clock off by its offset', async () => {
  const fast = skewedClock(4, 3_600_000)
  expect(Math.abs(fast.wallMs() - Date.now() - 3_600_000)).toBeLessThan(1000)
  expect(Number.isInteger(fast.wallMs())).toBe(true)
  const realStartMs = performance.now()
  const clockStartMs = fast.nowMs()
  await new Promise<void>((resolve) => fast.setTimeout(resolve, 400))
  const realMs = performance.now() - realStartMs
  // 400 ms of this clock is 100 ms of real time; by then the clock itself has moved 400 ms.
  expect(realMs).toBeLessThan(300)
  expect(fast.nowMs() - clockStartMs).toBeGreaterThanOrEqual(380) // a timer may fire a millisecond early, which this clock makes four
  expect(() => parseFailpoints('clock-rate=10')).toThrow(/HERD_FAILPOINTS/)
  expect(parseFailpoints('clock-rate=0.5,clock-offset-ms=-5000').clockRate).toBe(0.5)
})
