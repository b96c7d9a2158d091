// The bounds on watches, on a node started with small ones: at most
// --watch-streams-per-client-max streams per client (429 Throttled past it),
// a stream's slot freed as soon as the client closes it or its event fires,
// and a watch armed at a zxid older than the kept history judged by the
// znode's stat (ZooKeeper's rule on reconnect), or refused with 410
// Compacted rather than answered by a guess.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { call, openStream, sleep, type Reply, type Stream } from '../support/http.ts'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'

const streamsPerClientMax = 3
const historyMax = 2

let node: NodeProcess
let base = ''
beforeAll(async () => {
  node = await startNode({ args: ['--watch-streams-per-client-max', String(streamsPerClientMax), '--watch-history-max', String(historyMax)] })
  base = node.url
})
afterAll(() => stopAll([node]))

const put = (target: string, body = '', headers: Record<string, string> = {}): Promise<Reply> => call(base, 'PUT', target, { body, headers })

async function openWatch(path: string): Promise<Stream> {
  const stream = await openStream(base, `/znodes${path}?watch=exists`)
  expect(stream.status, stream.text()).toBe(200)
  return stream
}

async function expectThrottled(path: string): Promise<void> {
  const refused = await openStream(base, `/znodes${path}?watch=exists`)
  expect(refused.reply?.status).toBe(429)
  expect(refused.reply?.json.code).toBe('Throttled')
  expect(refused.reply?.header('retry-after')).toMatch(/^\d+$/)
}

/** Opens a watch, retrying while the server has not yet noticed a freed slot; answers how long it took. */
async function openWhenFree(path: string, deadlineMs: number): Promise<{ stream: Stream; waitedMs: number }> {
  const startedMs = performance.now()
  for (;;) {
    const stream = await openStream(base, `/znodes${path}?watch=exists`)
    if (stream.status === 200) return { stream, waitedMs: performance.now() - startedMs }
    expect(stream.reply?.json.code).toBe('Throttled')
    if (performance.now() - startedMs > deadlineMs) throw new Error(`no slot was freed within ${deadlineMs} ms`)
    await sleep(5)
  }
}

/** Opens a test's first streams: the slots the test before freed may take a moment to be seen free. */
async function openAll(paths: string[]): Promise<Stream[]> {
  const streams: Stream[] = []
  for (const path of paths) streams.push((await openWhenFree(path, 1000)).stream)
  return streams
}

it('a client may hold watch-streams-per-client-max streams; one more is 429 Throttled', async () => {
  const streams = [await openWatch('/l-a'), await openWatch('/l-b'), await openWatch('/l-c')]
  await expectThrottled('/l-d')
  for (const stream of streams) stream.abort()
  await openWhenFree('/l-d', 1000).then(({ stream }) => stream.abort())
})

it('closing the connection frees its watch at once', async () => {
  const streams = await openAll(['/l-close-a', '/l-close-b', '/l-close-c'])
  await expectThrottled('/l-close-d')
  ;(streams[1] as Stream).abort()
  const { stream, waitedMs } = await openWhenFree('/l-close-d', 1000)
  // "At once": the server frees the slot when it sees the socket close, not at a keep-alive or a timeout.
  expect(waitedMs).toBeLessThan(250)
  await expectThrottled('/l-close-e')
  for (const s of [streams[0], streams[2], stream]) s?.abort()
})

it('a watch that fired frees its slot', async () => {
  const streams = await openAll(['/l-fire-a', '/l-fire-b', '/l-fire-c'])
  await expectThrottled('/l-fire-d')
  await put('/znodes/l-fire-b', 'x', { 'if-none-match': '*' })
  expect((await (streams[1] as Stream).ended()).includes('event: NodeCreated')).toBe(true)
  const { stream } = await openWhenFree('/l-fire-d', 1000)
  for (const s of [streams[0], streams[2], stream]) s?.abort()
})

it('a HEAD watch answers what a GET would, and holds no slot (nothing reads its body to close it)', async () => {
  for (let i = 0; i < streamsPerClientMax + 2; i++) {
    const reply = await call(base, 'HEAD', `/znodes/l-head-${i}?watch=exists`)
    expect(reply.status).toBe(200)
    expect(reply.header('content-type')).toBe('text/event-stream')
  }
  const missing = await call(base, 'HEAD', '/znodes/l-head-missing?watch=data')
  expect(missing.status).toBe(404)
  const streams = await openAll(['/l-head-a', '/l-head-b', '/l-head-c'])
  await expectThrottled('/l-head-d')
  for (const stream of streams) stream.abort()
})

it('a watch from a zxid older than the kept history is judged by the stat (410 Compacted where it cannot be); a recent one is answered from the history', async () => {
  const created = await put('/znodes/l-old', 'v0', { 'if-none-match': '*' })
  await put('/znodes/l-old', 'v1')
  await put('/znodes/l-old', 'v2')
  const last = await put('/znodes/l-old', 'v3')
  // Unchanged since: waits, however old the zxid.
  const quiet = await put('/znodes/l-quiet', 'q', { 'if-none-match': '*' })
  for (let i = 0; i < 2 * historyMax; i++) await put('/znodes/l-old-other', `x${i}`)
  const waiting = await openStream(base, `/znodes/l-quiet?watch=data&zxid=${quiet.json.zxid}`)
  expect(waiting.status).toBe(200)
  await sleep(100)
  expect(waiting.events()).toEqual([])
  const quietChange = await put('/znodes/l-quiet', 'q2')
  expect(await waiting.ended()).toContain(`id: ${quietChange.json.zxid}\n`)
  // Changed since: fires at once from the stat.
  const judged = await openStream(base, `/znodes/l-old?watch=data&zxid=${created.json.zxid}`)
  expect(judged.status).toBe(200)
  const judgedText = await judged.ended()
  expect(judgedText).toContain(`id: ${last.json.zxid}\nevent: NodeDataChanged\n`)
  expect(judgedText).toContain('"resync":true')
  // A missing znode: created and deleted in between, or never there? Not known: 410.
  const compacted = await openStream(base, `/znodes/l-old-missing?watch=exists&zxid=${created.json.zxid}`)
  expect(compacted.reply?.status).toBe(410)
  expect(compacted.reply?.json.code).toBe('Compacted')
  const recent = await openStream(base, `/znodes/l-old?watch=data&zxid=${last.json.zxid - 1}`)
  expect(recent.status).toBe(200)
  expect(await recent.ended()).toContain(`id: ${last.json.zxid}\n`)
})
