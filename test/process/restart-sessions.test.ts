// Sessions survive a restart (DESIGN.md decision 6; RELIABILITY.md,
// "Full-cluster restart"): the session table and its ephemerals are tree
// state, so they come back from the store; and the restarted node, like a
// new ZooKeeper leader, gives every session a fresh full timeout rather
// than expiring at once the sessions whose clients could not heartbeat
// while it was down. A session that then stops heartbeating expires by a
// committed entry within its timeout plus a little, and its ephemerals go.
//
// --tick-ms 200 makes timeouts small (sessions may ask for 400..4000 ms);
// the node stays down longer than the session timeout each time.
import { afterAll, expect, it } from 'vitest'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { treeState } from '../support/raw-http.ts'

const timeoutMs = 1500
const downMs = timeoutMs + 1000
const expirySlackMs = 1000
const args = ['--tick-ms', '200']

const nodes: NodeProcess[] = []
afterAll(() => stopAll(nodes))

interface Session {
  readonly id: number
  readonly secret: string
}

async function openSession(url: string): Promise<Session> {
  const response = await fetch(`${url}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ timeoutMs }) })
  expect(response.status).toBe(201)
  const session = (await response.json()) as Session & { timeoutMs: number }
  expect(session.timeoutMs).toBe(timeoutMs)
  return session
}

async function heartbeat(url: string, session: Session): Promise<number> {
  const response = await fetch(`${url}/sessions/${session.id}/heartbeat`, { method: 'POST', headers: { 'herd-session-secret': session.secret } })
  await response.arrayBuffer()
  return response.status
}

async function ephemerals(url: string, session: Session): Promise<string[] | number> {
  const response = await fetch(`${url}/sessions/${session.id}/ephemerals`, { headers: { 'herd-session-secret': session.secret } })
  if (response.status !== 200) {
    await response.arrayBuffer()
    return response.status
  }
  return ((await response.json()) as { paths: string[] }).paths
}

async function exists(url: string, path: string): Promise<boolean> {
  const response = await fetch(`${url}/znodes${path}?stat`)
  await response.arrayBuffer()
  return response.status === 200
}

/** Heartbeats every 300 ms until stopped. */
function keepAlive(url: string, session: Session): { stop(): Promise<void> } {
  let isStopped = false
  const loop = (async () => {
    while (!isStopped) {
      expect(await heartbeat(url, session)).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
  })()
  return {
    async stop() {
      isStopped = true
      await loop
    },
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

it('a session and its ephemerals survive a graceful and a SIGKILL restart with a fresh timeout, then expire when left alone', async () => {
  let node = await startNode({ args })
  nodes.push(node)
  const { dataDir, port } = node
  const quiet = await openSession(node.url)
  const chatty = await openSession(node.url)
  const put = async (path: string, session: Session | null, flags = ''): Promise<string> => {
    const headers: Record<string, string> = session === null ? {} : { 'herd-session': String(session.id), 'herd-session-secret': session.secret }
    const response = await fetch(`${node.url}/znodes${path}${flags}`, { method: 'PUT', headers, body: path })
    expect(response.status).toBe(201)
    return ((await response.json()) as { path: string }).path
  }
  await put('/q', null)
  await put('/persistent', null)
  const quietPaths = [await put('/quiet', quiet, '?ephemeral'), await put('/q/quiet-', quiet, '?ephemeral&sequential')].sort()
  const chattyPaths = [await put('/chatty', chatty, '?ephemeral')]
  expect(await ephemerals(node.url, quiet)).toEqual(quietPaths)

  // ---- graceful restart, down for longer than the timeout
  expect(await node.stop()).toBe(0)
  await sleep(downMs)
  node = await startNode({ dataDir, port, args })
  nodes.push(node)
  const gracefulBack = Date.now()
  expect(await ephemerals(node.url, quiet)).toEqual(quietPaths)
  expect(await ephemerals(node.url, chatty)).toEqual(chattyPaths)
  expect(await heartbeat(node.url, quiet)).toBe(200)
  expect(await heartbeat(node.url, chatty)).toBe(200)
  expect((await treeState(node.url)).sessions).toBe(2)
  // Heartbeats keep both alive well past a timeout.
  const both = [keepAlive(node.url, quiet), keepAlive(node.url, chatty)]
  await sleep(timeoutMs + 500)
  await Promise.all(both.map((loop) => loop.stop()))
  expect(await ephemerals(node.url, quiet)).toEqual(quietPaths)
  console.log(`graceful restart after ${downMs} ms down: session and ephemerals back, heartbeats kept them ${Date.now() - gracefulBack} ms`)

  // ---- SIGKILL, down for longer than the timeout
  await node.kill()
  await sleep(downMs)
  node = await startNode({ dataDir, port, args })
  nodes.push(node)
  const back = Date.now()
  // Right after the restart both are there: nothing expired for the time the node was down.
  expect(await ephemerals(node.url, quiet)).toEqual(quietPaths)
  for (const path of quietPaths) expect(await exists(node.url, path)).toBe(true)
  expect(await heartbeat(node.url, chatty)).toBe(200)
  const chattyLoop = keepAlive(node.url, chatty)

  // The quiet one is never heartbeated again: it lives about a full timeout from the restart, then goes.
  let goneAfterMs: number | null = null
  while (Date.now() - back < timeoutMs + expirySlackMs + 1000) {
    if (!(await exists(node.url, '/quiet'))) {
      goneAfterMs = Date.now() - back
      break
    }
    await sleep(25)
  }
  await chattyLoop.stop()
  console.log(`SIGKILL restart after ${downMs} ms down: the unheartbeated session's ephemerals vanished ${goneAfterMs} ms after the node was back (timeout ${timeoutMs} ms)`)
  expect(goneAfterMs, 'the quiet session never expired').not.toBeNull()
  expect(goneAfterMs as number).toBeGreaterThanOrEqual(timeoutMs - 250)
  expect(goneAfterMs as number).toBeLessThanOrEqual(timeoutMs + expirySlackMs)
  // All of its ephemerals went at once (one committed entry); it is expired for good.
  for (const path of quietPaths) expect(await exists(node.url, path)).toBe(false)
  expect(await heartbeat(node.url, quiet)).toBe(410)
  expect(await ephemerals(node.url, quiet)).toBe(410)
  // The heartbeating one, and the persistent znodes, are untouched.
  expect(await ephemerals(node.url, chatty)).toEqual(chattyPaths)
  expect(await exists(node.url, '/persistent')).toBe(true)
  expect(await exists(node.url, '/q')).toBe(true)

  // ---- and the expiry itself survives a restart
  expect(await node.stop()).toBe(0)
  node = await startNode({ dataDir, port, args })
  nodes.push(node)
  expect(await heartbeat(node.url, quiet)).toBe(410)
  for (const path of quietPaths) expect(await exists(node.url, path)).toBe(false)
  expect(await ephemerals(node.url, chatty)).toEqual(chattyPaths)
})
