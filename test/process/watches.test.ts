// One-shot watches as Server-Sent Events on a real node: ZooKeeper's trigger
// table (ZOOKEEPER.md section 8) for each kind of watch, the SSE framing, the
// end of the stream after its one event, keep-alives, watches armed at an
// older zxid (the gap between a read and a watch is never lost), and a real
// EventSource that keeps watching across stream ends with Last-Event-ID,
// also when a stream ends before its event (the node restarts) and a change
// is made before it reconnects.
// Every response and every event is validated against openapi.yaml.
import { EventSource, type MessageEvent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { call, expectProblem, openStream, sleep, type Reply, type Stream } from '../support/http.ts'
import { startFaultProxy } from '../support/fault-proxy.ts'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { parseSse } from '../support/openapi-validator.ts'

const keepaliveMs = 200
const readWaitMsMax = 300
/** How long a watch that must not fire is given to (wrongly) fire. */
const quietMs = 150

let node: NodeProcess
let base = ''
beforeAll(async () => {
  node = await startNode({ args: ['--watch-keepalive-ms', String(keepaliveMs), '--read-wait-ms-max', String(readWaitMsMax)] })
  base = node.url
})
afterAll(() => stopAll([node]))

const put = (target: string, body = '', headers: Record<string, string> = {}): Promise<Reply> => call(base, 'PUT', target, { body, headers })
const del = (target: string): Promise<Reply> => call(base, 'DELETE', target)

async function create(path: string, data = ''): Promise<Reply> {
  const reply = await put(`/znodes${path}`, data, { 'if-none-match': '*' })
  expect(reply.status, reply.text).toBe(201)
  return reply
}

async function watch(path: string, kind: 'data' | 'exists' | 'children', extra = '', headers: Record<string, string> = {}): Promise<Stream> {
  const stream = await openStream(base, `/znodes${path}?watch=${kind}${extra}`, headers)
  expect(stream.status, stream.text()).toBe(200)
  return stream
}

/** The stream's one event, after checking that the stream ended right after it. */
async function onlyEvent(stream: Stream): Promise<{ id: string | undefined; event: string | undefined; data: any }> {
  const text = await stream.ended(3000)
  const { events } = parseSse(text)
  expect(events, text).toHaveLength(1)
  const [event] = events as [{ id: string | undefined; event: string | undefined; data: string }]
  return { ...event, data: JSON.parse(event.data) }
}

async function expectQuiet(stream: Stream): Promise<void> {
  await sleep(quietMs)
  expect(stream.isEnded(), stream.text()).toBe(false)
  expect(stream.events()).toEqual([])
}

describe('trigger table', () => {
  it('an exists watch on a missing znode fires NodeCreated with the new stat', async () => {
    const stream = await watch('/t-created', 'exists')
    expect(stream.headers.get('content-type')).toBe('text/event-stream')
    expect(stream.headers.get('cache-control')).toBe('no-cache')
    const written = await create('/t-created', 'hi')
    const { id, event, data } = await onlyEvent(stream)
    expect(event).toBe('NodeCreated')
    expect(id).toBe(String(written.json.zxid))
    expect(data).toEqual({ type: 'NodeCreated', path: '/t-created', zxid: written.json.zxid, stat: written.json.stat })
  })

  it('a data watch fires NodeDataChanged on setData, with the stat after the change', async () => {
    await create('/t-data', 'v0')
    const stream = await watch('/t-data', 'data')
    const written = await put('/znodes/t-data', 'v1', { 'if-match': '*' })
    const { id, event, data } = await onlyEvent(stream)
    expect([id, event]).toEqual([String(written.json.zxid), 'NodeDataChanged'])
    expect(data).toEqual({ type: 'NodeDataChanged', path: '/t-data', zxid: written.json.zxid, stat: written.json.stat })
    expect(data.stat.version).toBe(1)
  })

  it('an exists watch on an existing znode fires NodeDataChanged on setData', async () => {
    await create('/t-exists-data', 'v0')
    const stream = await watch('/t-exists-data', 'exists')
    const written = await put('/znodes/t-exists-data', 'v1')
    const { data } = await onlyEvent(stream)
    expect(data).toMatchObject({ type: 'NodeDataChanged', zxid: written.json.zxid })
  })

  it('a children watch ignores setData on the znode and on its children, and fires NodeChildrenChanged on a create', async () => {
    await create('/t-kids')
    await create('/t-kids/old')
    const stream = await watch('/t-kids', 'children')
    await put('/znodes/t-kids', 'parent data')
    await put('/znodes/t-kids/old', 'child data')
    await expectQuiet(stream)
    const written = await create('/t-kids/new')
    const { id, event, data } = await onlyEvent(stream)
    expect([id, event]).toEqual([String(written.json.zxid), 'NodeChildrenChanged'])
    // The watched znode's stat after the change: one more child, pzxid moved.
    expect(data).toMatchObject({ type: 'NodeChildrenChanged', path: '/t-kids', zxid: written.json.zxid, stat: { numChildren: 2, pzxid: written.json.zxid } })
  })

  it('a data watch ignores a child being created, and fires on the znode own setData', async () => {
    await create('/t-data-kids')
    const stream = await watch('/t-data-kids', 'data')
    await create('/t-data-kids/child')
    await expectQuiet(stream)
    const written = await put('/znodes/t-data-kids', 'x')
    const { data } = await onlyEvent(stream)
    expect(data).toMatchObject({ type: 'NodeDataChanged', zxid: written.json.zxid })
  })

  it('a children watch fires NodeChildrenChanged when a child is deleted', async () => {
    await create('/t-kid-gone')
    await create('/t-kid-gone/a')
    const stream = await watch('/t-kid-gone', 'children')
    const deleted = await del('/znodes/t-kid-gone/a')
    const { data } = await onlyEvent(stream)
    expect(data).toMatchObject({ type: 'NodeChildrenChanged', path: '/t-kid-gone', zxid: deleted.json.zxid, stat: { numChildren: 0 } })
  })

  it('delete fires the data, exists and children watches of the znode (NodeDeleted) and the parent children watch only', async () => {
    await create('/t-del')
    await create('/t-del/x', 'bye')
    const onData = await watch('/t-del/x', 'data')
    const onExists = await watch('/t-del/x', 'exists')
    const onChildren = await watch('/t-del/x', 'children')
    const onParentChildren = await watch('/t-del', 'children')
    const onParentData = await watch('/t-del', 'data')
    const deleted = await del('/znodes/t-del/x')
    for (const stream of [onData, onExists, onChildren]) {
      const { id, event, data } = await onlyEvent(stream)
      expect([id, event]).toEqual([String(deleted.json.zxid), 'NodeDeleted'])
      expect(data).toEqual({ type: 'NodeDeleted', path: '/t-del/x', zxid: deleted.json.zxid, stat: null })
    }
    const parent = await onlyEvent(onParentChildren)
    expect(parent.data).toMatchObject({ type: 'NodeChildrenChanged', path: '/t-del', zxid: deleted.json.zxid })
    await expectQuiet(onParentData)
    onParentData.abort()
  })

  it('a multi fires each watch once, at the multi zxid', async () => {
    await create('/t-multi', 'v0')
    const onData = await watch('/t-multi', 'data')
    const onChildren = await watch('/t-multi', 'children')
    const reply = await call(base, 'POST', '/multi', {
      body: {
        ops: [
          { op: 'setData', path: '/t-multi', data: 'v1' },
          { op: 'setData', path: '/t-multi', data: 'v2' },
          { op: 'create', path: '/t-multi/a' },
          { op: 'create', path: '/t-multi/b' },
        ],
      },
    })
    expect(reply.status).toBe(200)
    expect((await onlyEvent(onData)).data).toMatchObject({ type: 'NodeDataChanged', zxid: reply.json.zxid })
    expect((await onlyEvent(onChildren)).data).toMatchObject({ type: 'NodeChildrenChanged', zxid: reply.json.zxid })
  })

  it('a failed write fires nothing', async () => {
    await create('/t-failed', 'v0')
    const stream = await watch('/t-failed', 'data')
    await expectProblem(put('/znodes/t-failed', 'x', { 'if-match': '"9"' }), 412, 'BadVersion')
    await expectProblem(call(base, 'POST', '/multi', { body: { ops: [{ op: 'setData', path: '/t-failed' }, { op: 'delete', path: '/t-nothing' }] } }), 404, 'NoNode')
    await expectQuiet(stream)
    stream.abort()
  })
})

describe('arming', () => {
  it('data and children watches on a missing znode are 404 NoNode (ZooKeeper leaves no watch there)', async () => {
    for (const kind of ['data', 'children']) {
      const stream = await openStream(base, `/znodes/a-missing?watch=${kind}`)
      expect(stream.reply?.status).toBe(404)
      expect(stream.reply?.json.code).toBe('NoNode')
    }
  })

  it('bad watch requests are 400: unknown kind, non-numeric zxid or Last-Event-ID', async () => {
    await create('/a-bad')
    for (const [target, headers] of [
      ['/znodes/a-bad?watch=everything', {}],
      ['/znodes/a-bad?watch=data&zxid=abc', {}],
      ['/znodes/a-bad?watch=data', { 'last-event-id': 'abc' }],
    ] as const) {
      const stream = await openStream(base, target, headers)
      expect(stream.reply?.json.code, target).toBe('BadArguments')
    }
  })

  it('the stream opens with a comment and the id of the zxid it is armed at, and sends keep-alive comments while it waits', async () => {
    const stream = await watch('/a-keepalive', 'exists')
    const startedMs = performance.now()
    await stream.waitFor((text) => (text.match(/^: keepalive$/gm) ?? []).length >= 2, 10 * keepaliveMs)
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(keepaliveMs * 0.9)
    const { comments, events } = parseSse(stream.text())
    expect(comments[0]).toMatch(/^watching exists of "\/a-keepalive" from zxid \d+$/)
    // An id with no data: it dispatches no event, and names where a reconnect resumes.
    expect(stream.text()).toMatch(new RegExp(`^: watching [^\\n]*\\nid: ${stream.headers.get('herd-zxid')}\\n\\n`))
    expect(events).toEqual([])
    expect(stream.isEnded()).toBe(false)
    stream.abort()
  })

  it('Herd-Zxid of a stream is the zxid the watch was armed at', async () => {
    const written = await create('/a-armed')
    const stream = await watch('/a-armed', 'data')
    expect(Number(stream.headers.get('herd-zxid'))).toBeGreaterThanOrEqual(written.json.zxid)
    stream.abort()
  })
})

describe('watching from an older zxid', () => {
  it('a watch with zxid=z fires at once for a change made after z (read, write, then watch)', async () => {
    await create('/o-gap', 'v0')
    const read = await call(base, 'GET', '/znodes/o-gap')
    const readZxid = read.zxid
    const written = await put('/znodes/o-gap', 'v1')
    const startedMs = performance.now()
    const stream = await watch('/o-gap', 'data', `&zxid=${readZxid}`)
    const { id, data } = await onlyEvent(stream)
    expect(performance.now() - startedMs).toBeLessThan(keepaliveMs)
    expect(id).toBe(String(written.json.zxid))
    expect(data).toMatchObject({ type: 'NodeDataChanged', zxid: written.json.zxid, stat: { version: 1 } })
    expect(stream.headers.get('herd-zxid')).toBe(String(readZxid))
  })

  it('Last-Event-ID does the same as zxid (what EventSource sends on reconnect)', async () => {
    await create('/o-last', 'v0')
    const readZxid = (await call(base, 'GET', '/znodes/o-last')).zxid
    const written = await put('/znodes/o-last', 'v1')
    const stream = await watch('/o-last', 'exists', '', { 'last-event-id': String(readZxid) })
    const { data } = await onlyEvent(stream)
    expect(data).toMatchObject({ type: 'NodeDataChanged', zxid: written.json.zxid })
  })

  it('with both zxid and Last-Event-ID, the later counts (an EventSource keeps its URL zxid on every reconnect)', async () => {
    await create('/o-both', 'v0')
    const older = (await call(base, 'GET', '/znodes/o-both')).zxid
    const first = await put('/znodes/o-both', 'v1')
    const second = await put('/znodes/o-both', 'v2')
    // The URL names the older zxid, the header the first change: the second fires.
    const later = await watch('/o-both', 'data', `&zxid=${older}`, { 'last-event-id': String(first.json.zxid) })
    expect((await onlyEvent(later)).data.zxid).toBe(second.json.zxid)
    // Either way round.
    const again = await watch('/o-both', 'data', `&zxid=${first.json.zxid}`, { 'last-event-id': String(older) })
    expect((await onlyEvent(again)).data.zxid).toBe(second.json.zxid)
  })

  it('the first matching change after z fires, not a later one, and non-matching ones are skipped', async () => {
    await create('/o-first', 'v0')
    const readZxid = (await call(base, 'GET', '/znodes/o-first')).zxid
    const child = await create('/o-first/child')
    const first = await put('/znodes/o-first', 'v1')
    await put('/znodes/o-first', 'v2')
    const onData = await watch('/o-first', 'data', `&zxid=${readZxid}`)
    expect((await onlyEvent(onData)).data.zxid).toBe(first.json.zxid)
    const onChildren = await watch('/o-first', 'children', `&zxid=${readZxid}`)
    expect((await onlyEvent(onChildren)).data).toMatchObject({ type: 'NodeChildrenChanged', zxid: child.json.zxid })
  })

  it('a watch from z with no matching change since keeps waiting for the next one', async () => {
    await create('/o-none', 'v0')
    const readZxid = (await call(base, 'GET', '/znodes/o-none')).zxid
    await create('/o-none-sibling')
    const stream = await watch('/o-none', 'data', `&zxid=${readZxid}`)
    await expectQuiet(stream)
    const written = await put('/znodes/o-none', 'v1')
    expect((await onlyEvent(stream)).data.zxid).toBe(written.json.zxid)
  })

  it('an exists watch from z sees a create-then-delete made after z (the reconnect case ZooKeeper loses)', async () => {
    const readZxid = (await call(base, 'GET', '/health')).zxid
    const created = await create('/o-flash')
    await del('/znodes/o-flash')
    const stream = await watch('/o-flash', 'exists', `&zxid=${readZxid}`)
    expect((await onlyEvent(stream)).data).toMatchObject({ type: 'NodeCreated', zxid: created.json.zxid })
  })

  it('a zxid this replica has not reached waits read-wait-ms-max, then 504 OperationTimeout', async () => {
    await create('/o-future')
    const applied = (await call(base, 'GET', '/health')).zxid
    const startedMs = performance.now()
    const stream = await openStream(base, `/znodes/o-future?watch=data&zxid=${applied + 1000}`)
    const elapsedMs = performance.now() - startedMs
    expect(stream.reply?.status).toBe(504)
    expect(stream.reply?.json.code).toBe('OperationTimeout')
    expect(elapsedMs).toBeGreaterThanOrEqual(readWaitMsMax - 20)
  })

  it('a zxid a little ahead is waited for, and the watch is armed once it is applied', async () => {
    await create('/o-ahead', 'v0')
    const applied = (await call(base, 'GET', '/health')).zxid
    const opening = openStream(base, `/znodes/o-ahead?watch=data&zxid=${applied + 1}`)
    await sleep(50)
    const written = await put('/znodes/o-ahead', 'v1')
    expect(written.json.zxid).toBe(applied + 1)
    const stream = await opening
    expect(stream.status).toBe(200)
    // Armed at applied+1, which is the write itself: only a later change fires it.
    await expectQuiet(stream)
    const next = await put('/znodes/o-ahead', 'v2')
    expect((await onlyEvent(stream)).data.zxid).toBe(next.json.zxid)
  })
})

describe('EventSource (browser compatibility)', () => {
  it('receives each change and, after each stream ends, reconnects with Last-Event-ID and gets the next change without a gap', async () => {
    await create('/es', 'v0')
    const reconnectMs = 300
    const source = new EventSource(`${base}/znodes/es?watch=data`, { node: { reconnectionTime: reconnectMs } })
    const received: Array<{ id: string; type: string; data: any; atMs: number }> = []
    const opens: number[] = []
    let writtenInGapAtMs = 0
    const zxids: number[] = []
    let lastWrite: Promise<void> = Promise.resolve()
    try {
      const done = new Promise<void>((resolve, reject) => {
        source.addEventListener('open', () => opens.push(performance.now()))
        source.addEventListener('NodeDataChanged', (raw) => {
          const event = raw as MessageEvent<string>
          received.push({ id: event.lastEventId, type: event.type, data: JSON.parse(event.data), atMs: performance.now() })
          if (received.length === 1) {
            // Written while the client is disconnected (before it reconnects): must not be lost.
            put('/znodes/es', 'v2').then((reply) => {
              zxids.push(reply.json.zxid)
              writtenInGapAtMs = performance.now()
            }, reject)
          } else if (received.length === 2) {
            lastWrite = sleep(reconnectMs + 200)
              .then(() => put('/znodes/es', 'v3'))
              .then((reply) => void zxids.push(reply.json.zxid))
            lastWrite.catch(reject)
          } else if (received.length === 3) {
            resolve()
          }
        })
        setTimeout(() => reject(new Error(`only ${received.length} events: ${JSON.stringify(received)}`)), 8000)
      })
      await new Promise<void>((resolve) => source.addEventListener('open', () => resolve(), { once: true }))
      const first = await put('/znodes/es', 'v1')
      zxids.unshift(first.json.zxid)
      await done
      await lastWrite
    } finally {
      source.close()
    }
    expect(received.map((e) => e.type)).toEqual(['NodeDataChanged', 'NodeDataChanged', 'NodeDataChanged'])
    expect(received.map((e) => Number(e.id))).toEqual(zxids)
    expect(received.map((e) => e.data.zxid)).toEqual(zxids)
    expect(received.map((e) => e.data.stat.version)).toEqual([1, 2, 3])
    // The second change was made before the client reconnected, so it came from the watch history.
    expect(opens.length).toBeGreaterThanOrEqual(3)
    expect(writtenInGapAtMs).toBeLessThan(opens[1] as number)
  })

  it('with a zxid in its URL, keeps receiving changes across reconnects (it resends that zxid, with a later Last-Event-ID)', async () => {
    await create('/es-zxid', 'v0')
    const readZxid = (await call(base, 'GET', '/znodes/es-zxid')).zxid
    // Changed after the read, before the EventSource exists: fires at once.
    const first = await put('/znodes/es-zxid', 'v1')
    const source = new EventSource(`${base}/znodes/es-zxid?watch=data&zxid=${readZxid}`, { node: { reconnectionTime: 200 } })
    const received: number[] = []
    try {
      await new Promise<void>((resolve, reject) => {
        setTimeout(() => reject(new Error(`only ${JSON.stringify(received)}, readyState ${source.readyState}`)), 8000)
        source.addEventListener('error', () => {
          if (source.readyState === EventSource.CLOSED) reject(new Error(`the EventSource gave up after ${JSON.stringify(received)}`))
        })
        source.addEventListener('NodeDataChanged', (raw) => {
          received.push(JSON.parse((raw as MessageEvent<string>).data).zxid)
          if (received.length === 1) put('/znodes/es-zxid', 'v2').catch(reject)
          else resolve()
        })
      })
    } finally {
      source.close()
    }
    expect(received[0]).toBe(first.json.zxid)
    expect(received[1]).toBeGreaterThan(first.json.zxid)
  })

  it('a stream that ends before its event reconnects from the zxid it was armed at: a change made before the reconnect is not missed', async () => {
    const own = await startNode()
    let current = own
    // The EventSource reaches the node through a proxy, which refuses its
    // reconnects until the change is made: the gap is certain, not a race.
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: own.port })
    expect((await call(own.url, 'PUT', '/znodes/gap', { body: 'v0', headers: { 'if-none-match': '*' } })).status).toBe(201)
    const source = new EventSource(`http://${proxy.host}:${proxy.port}/znodes/gap?watch=data`, { node: { reconnectionTime: 300 } })
    try {
      const opened: number[] = []
      const firstOpen = new Promise<void>((resolve) => source.addEventListener('open', () => resolve(), { once: true }))
      source.addEventListener('open', () => opened.push(performance.now()))
      const errors: string[] = []
      source.addEventListener('error', () => errors.push(`${Math.round(performance.now())}:${source.readyState}`))
      const changed = new Promise<MessageEvent<string>>((resolve) => source.addEventListener('NodeDataChanged', (event) => resolve(event as MessageEvent<string>), { once: true }))
      await Promise.race([firstOpen, sleep(5000).then(() => expect.fail('the EventSource did not open'))])
      // The node restarts: a graceful stop ends every stream, with no event.
      await own.stop()
      proxy.setMode({ kind: 'reject' })
      current = await own.restart()
      const written = await call(current.url, 'PUT', '/znodes/gap', { body: 'v1' })
      expect(written.status).toBe(200)
      const writtenAtMs = performance.now()
      proxy.setMode({ kind: 'pass' })
      const event = await Promise.race([changed, sleep(8000).then(() => null)])
      expect(event, `the change made while the stream was down never arrived: readyState ${source.readyState}, opened ${opened.length}, errors ${errors.join(' ')}`).not.toBeNull()
      expect(JSON.parse((event as MessageEvent<string>).data)).toMatchObject({ type: 'NodeDataChanged', zxid: written.json.zxid, stat: { version: 1 } })
      expect(opened.length).toBe(2)
      expect(opened[1]).toBeGreaterThan(writtenAtMs)
    } finally {
      source.close()
      await proxy.close()
      await stopAll([current])
    }
  })
})
