// The client SDK against a real node: every call round-trips, failures map to
// their codes, sessions heartbeat and report their end, watches resolve with
// their event, transactions are atomic, idempotent retries do a write once,
// and a client with several URLs fails over and reads its own writes.
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeData, HerdClient, HerdClientError, type ErrorCode } from '../../src/client/index.ts'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'

let node: NodeProcess
let client: HerdClient
const others: HerdClient[] = []
const servers: net.Server[] = []

beforeAll(async () => {
  // Ticks of 100 ms let sessions time out in 200 ms to 2 s; pages of 10 children make paging visible.
  node = await startNode({ args: ['--tick-ms', '100', '--children-page-max', '10', '--watch-keepalive-ms', '100'] })
  client = new HerdClient({ url: node.url, timeoutMs: 5000 })
})

afterAll(async () => {
  await Promise.all([client, ...others].map((c) => c?.destroy()))
  for (const server of servers) server.close()
  await stopAll([node])
})

/** A client this file cleans up. */
function newClient(options: ConstructorParameters<typeof HerdClient>[0]): HerdClient {
  const made = new HerdClient(options)
  others.push(made)
  return made
}

/** The HerdClientError a call fails with (fails the test if it succeeds or throws something else). */
async function failure(call: Promise<unknown>): Promise<HerdClientError> {
  try {
    await call
  } catch (error) {
    if (error instanceof HerdClientError) return error
    throw error
  }
  throw new Error('expected the call to fail')
}

async function expectCode(call: Promise<unknown>, code: ErrorCode, status: number): Promise<HerdClientError> {
  const error = await failure(call)
  expect({ code: error.code, status: error.status }).toEqual({ code, status })
  return error
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function listen(server: net.Server): Promise<number> {
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as net.AddressInfo).port
}

interface Proxy {
  readonly url: string
  /** The request lines seen ("GET /znodes/a?raw"). */
  readonly requests: string[]
  close(): Promise<void>
}

/** A TCP proxy to the node that records request lines; with dropFirstResponse, the first connection's answer is cut off. */
async function startProxy(options: { readonly dropFirstResponse?: boolean } = {}): Promise<Proxy> {
  const requests: string[] = []
  const sockets = new Set<net.Socket>()
  let hasDropped = false
  const server = net.createServer((downstream) => {
    const upstream = net.connect(node.port, '127.0.0.1')
    const isDropping = options.dropFirstResponse === true && !hasDropped
    hasDropped ||= isDropping
    for (const socket of [downstream, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    }
    downstream.on('data', (chunk: Buffer) => {
      for (const match of chunk.toString('latin1').matchAll(/(?:^|\r\n)(GET|PUT|POST|DELETE) (\S+) HTTP\/1\.1\r\n/g)) requests.push(`${match[1]} ${match[2]}`)
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      // The write has been applied when its answer comes back: losing the answer now is the case idempotency is for.
      if (isDropping) downstream.destroy()
      else downstream.write(chunk)
    })
    downstream.on('close', () => upstream.destroy())
    upstream.on('close', () => downstream.destroy())
  })
  const port = await listen(server)
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const socket of sockets) socket.destroy()
      await closed
    },
  }
}

describe('znode calls round-trip', () => {
  it('create, getData (bytes and text), exists, put, setData, delete', async () => {
    const bytes = new Uint8Array([0, 1, 2, 255])
    const created = await client.create('/rt', bytes)
    expect(created.path).toBe('/rt')
    expect(created.stat.version).toBe(0)
    expect(created.zxid).toBeGreaterThan(0)

    const read = await client.getData('/rt')
    expect([...read.data]).toEqual([0, 1, 2, 255])
    expect(read.stat).toEqual(created.stat)
    expect(read.zxid).toBeGreaterThanOrEqual(created.zxid)
    expect(await client.getData('/rt', { encoding: 'base64' })).toMatchObject({ data: 'AAEC/w==', encoding: 'base64' })
    await expectCode(client.getData('/rt', { encoding: 'utf8' }), 'BadArguments', 400)

    expect(await client.exists('/rt')).toEqual(created.stat)
    expect(await client.exists('/rt-missing')).toBeNull()

    const upserted = await client.put('/rt/child', 'first')
    expect(upserted).toMatchObject({ path: '/rt/child', created: true })
    const replaced = await client.put('/rt/child', 'second')
    expect(replaced).toMatchObject({ created: false, stat: { version: 1 } })
    expect(text((await client.getData('/rt/child')).data)).toBe('second')
    expect(await client.getData('/rt/child', { encoding: 'utf8' })).toMatchObject({ data: 'second', encoding: 'utf8' })

    const set = await client.setData('/rt/child', 'third', 1)
    expect(set.stat.version).toBe(2)
    expect((await client.setData('/rt/child', 'any')).stat.version).toBe(3)

    expect(await client.delete('/rt/child', 3)).toMatchObject({ path: '/rt/child' })
    expect(await client.delete('/rt')).toMatchObject({ path: '/rt' })
    expect(await client.exists('/rt')).toBeNull()
    expect(client.lastZxid).toBeGreaterThan(created.zxid)
  })

  it('create flags: sequential, container, ttl, acl; empty data by default', async () => {
    await client.create('/flags')
    const first = await client.create('/flags/seq-', 'a', { sequential: true })
    const second = await client.create('/flags/seq-', 'b', { sequential: true })
    expect(first.path).toBe('/flags/seq-0000000000')
    expect(second.path).toBe('/flags/seq-0000000001')
    expect((await client.create('/flags/box', '', { container: true })).stat.numChildren).toBe(0)
    expect((await client.create('/flags/ttl', '', { ttlMs: 60_000 })).path).toBe('/flags/ttl')
    const odd = await client.create('/flags/name with spaces & ?#%', 'x')
    expect(odd.path).toBe('/flags/name with spaces & ?#%')
    expect(text((await client.getData(odd.path)).data)).toBe('x')

    await client.create('/flags/locked', 'v', { acl: [{ scheme: 'world', id: 'anyone', perms: 'ra' }] })
    const view = await client.getAcl('/flags/locked')
    expect(view.acl).toEqual([{ scheme: 'world', id: 'anyone', perms: 'ra' }])
    const reopened = await client.setAcl('/flags/locked', [{ scheme: 'world', id: 'anyone', perms: 'crwda' }], view.stat.aversion)
    expect(reopened.stat.aversion).toBe(1)
    await expectCode(client.setAcl('/flags/locked', [{ scheme: 'world', id: 'anyone', perms: 'r' }], 0), 'BadVersion', 412)
    expect((await client.setData('/flags/locked', 'w')).stat.version).toBe(1)
    expect(await client.countDescendants('/flags')).toBe(6)
  })

  it('getChildren follows the cursor across pages; getChildrenPage gives one page', async () => {
    await client.create('/many')
    const names = Array.from({ length: 25 }, (_, i) => `c${String(i).padStart(2, '0')}`)
    await client.multi(names.map((name) => ({ op: 'create', path: `/many/${name}` })))
    expect(await client.getChildren('/many')).toEqual(names)

    const page = await client.getChildrenPage('/many', { limit: 4 })
    expect(page.children).toEqual(names.slice(0, 4))
    expect(page.next).toBe('c03')
    expect(page.stat.numChildren).toBe(25)
    const next = await client.getChildrenPage('/many', { limit: 4, cursor: page.next as string })
    expect(next.children).toEqual(names.slice(4, 8))
    expect(await client.countDescendants('/many')).toBe(25)
    await expectCode(client.getChildren('/nowhere'), 'NoNode', 404)
  })

  it('multiRead, sync, cluster, health', async () => {
    await client.create('/mr', 'hello')
    const results = await client.multiRead([
      { op: 'getData', path: '/mr' },
      { op: 'getChildren', path: '/mr' },
      { op: 'getData', path: '/mr-missing' },
    ])
    expect(results[0]).toMatchObject({ op: 'getData', path: '/mr', data: 'hello', encoding: 'utf8' })
    expect(results[1]).toMatchObject({ op: 'getChildren', children: [] })
    expect(results[2]).toMatchObject({ op: 'getData', code: 'NoNode' })
    const [data] = await client.multiRead([{ op: 'getData', path: '/mr', encoding: 'base64' }])
    expect(data !== undefined && 'data' in data && text(decodeData(data.data, data.encoding))).toBe('hello')

    expect(await client.sync()).toBeGreaterThanOrEqual(client.lastZxid - 1)
    expect(await client.sync('/mr')).toBeGreaterThan(0)
    const status = await client.cluster()
    expect(status).toMatchObject({ id: 1, role: 'leader', leader: 1 })
    expect(status.appliedZxid).toBeGreaterThan(0)
    expect(await client.health()).toMatchObject({ status: 'ok' })
  })
})

describe('failures map to codes', () => {
  it('server answers keep their code, status, detail and zxid', async () => {
    const missing = await expectCode(client.getData('/err-missing'), 'NoNode', 404)
    expect(missing.detail).toContain('/err-missing')
    expect(missing.zxid).toBeGreaterThanOrEqual(0)
    expect(missing.path).toBe('/err-missing')

    await client.create('/err')
    await client.create('/err/child')
    await expectCode(client.create('/err'), 'NodeExists', 409)
    await expectCode(client.create('/err-parent/child'), 'NoNode', 404)
    await expectCode(client.setData('/err', 'x', 7), 'BadVersion', 412)
    await expectCode(client.delete('/err', 7), 'BadVersion', 412)
    await expectCode(client.delete('/err'), 'NotEmpty', 409)
    await expectCode(client.getData('/err//child'), 'BadArguments', 400)
    await expectCode(client.create('/err/e', '', { ephemeral: true }), 'BadArguments', 400)
    await client.create('/err/key', 'a', { idempotencyKey: 'err-key-1' })
    await expectCode(client.create('/err/key', 'b', { idempotencyKey: 'err-key-1' }), 'IdempotencyKeyReused', 422)
  })

  it('checks what it can before sending', async () => {
    await expectCode(client.getData('relative/path'), 'BadArguments', 0)
    await expectCode(client.put('/x', 'x', { retries: -1 }), 'BadArguments', 0)
  })

  it('a refused connection is ConnectionLoss; a server that never answers is OperationTimeout', async () => {
    const closed = net.createServer()
    const port = await listen(closed)
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const refused = await expectCode(newClient({ url: `http://127.0.0.1:${port}` }).getData('/a'), 'ConnectionLoss', 0)
    expect(refused.detail).toContain('ECONNREFUSED')

    const silent = net.createServer(() => {})
    const silentPort = await listen(silent)
    const started = Date.now()
    await expectCode(newClient({ url: `http://127.0.0.1:${silentPort}`, timeoutMs: 300 }).getData('/a'), 'OperationTimeout', 0)
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it('an aborted call rejects with the signal reason', async () => {
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    await expect(client.getData('/', { signal: controller.signal })).rejects.toThrow('stop')
  })
})

describe('sessions', () => {
  it('heartbeats keep a session alive well past its timeout', async () => {
    const session = await client.openSession({ timeoutMs: 600 })
    expect(session.timeoutMs).toBe(600)
    await client.put('/eph', '')
    const created = await session.create('/eph/alive', 'me', { ephemeral: true })
    expect(created.stat.ephemeralOwner).toBe(session.id)
    await sleep(2000)
    expect(session.state).toBe('open')
    expect((await client.exists('/eph/alive'))?.ephemeralOwner).toBe(session.id)
    expect(await session.getEphemerals()).toEqual(['/eph/alive'])

    const closed = await session.close()
    expect(closed).toMatchObject({ id: session.id, deleted: ['/eph/alive'] })
    expect(session.state).toBe('closed')
    expect(await client.exists('/eph/alive')).toBeNull()
    await expectCode(session.create('/eph/late', '', { ephemeral: true }), 'SessionExpired', 410)
    expect(await session.close()).toBeNull()
  })

  it('a session the server ended is reported by the next heartbeat', async () => {
    let onExpired: (error: HerdClientError) => void = () => {}
    const expired = new Promise<HerdClientError>((resolve) => (onExpired = resolve))
    const session = await client.openSession({ timeoutMs: 300, onExpired })
    await client.put('/eph', '')
    await session.create('/eph/doomed', '', { ephemeral: true })
    // Behind the client's back, as an operator (or a partition and the leader's reaper) would.
    const response = await fetch(`${node.url}/sessions/${session.id}/close`, { method: 'POST', headers: { 'herd-session-secret': session.secret } })
    expect(response.status).toBe(200)
    const error = await expired
    expect({ code: error.code, status: error.status }).toEqual({ code: 'SessionExpired', status: 410 })
    expect(session.state).toBe('expired')
    expect(await client.exists('/eph/doomed')).toBeNull()
  })

  it('a session left without heartbeats expires on the server, taking its ephemerals', async () => {
    const session = await client.openSession({ timeoutMs: 200 })
    await client.put('/eph', '')
    await session.create('/eph/abandoned', '', { ephemeral: true })
    session.abandon()
    const deadline = Date.now() + 5000
    while ((await client.exists('/eph/abandoned')) !== null) {
      expect(Date.now()).toBeLessThan(deadline)
      await sleep(50)
    }
    await expectCode(session.put('/eph/after', ''), 'SessionExpired', 410)
  })

  it('session transactions own their ephemeral creates', async () => {
    const session = await client.openSession({ timeoutMs: 2000 })
    await client.put('/eph', '')
    const { results } = await session.transaction().create('/eph/tx-', 'x', { ephemeral: true, sequential: true }).commit()
    const path = results[0]?.path as string
    expect(path).toMatch(/^\/eph\/tx-\d{10}$/)
    expect((await client.exists(path))?.ephemeralOwner).toBe(session.id)
    await session.close()
    expect(await client.exists(path)).toBeNull()
  })
})

describe('watches', () => {
  it('resolves with the event of the first change after the read', async () => {
    await client.create('/w', 'v0')
    const { zxid } = await client.getData('/w')
    const watched = client.watch('/w', 'data', { zxid })
    const set = await client.setData('/w', 'v1')
    const event = await watched
    expect(event).toEqual({ type: 'NodeDataChanged', path: '/w', zxid: set.zxid, stat: set.stat })
  })

  it('waits through keep-alives; exists fires on create; children on a new child; deletion ends data watches', async () => {
    const created = client.watch('/w-new', 'exists')
    await sleep(350)
    const made = await client.create('/w-new', '')
    expect(await created).toMatchObject({ type: 'NodeCreated', path: '/w-new', zxid: made.zxid })

    const { zxid } = await client.getChildrenPage('/w-new')
    const children = client.watch('/w-new', 'children', { zxid })
    await client.create('/w-new/kid', '')
    expect(await children).toMatchObject({ type: 'NodeChildrenChanged', path: '/w-new' })

    const { zxid: before } = await client.getData('/w-new/kid')
    const deleted = client.watch('/w-new/kid', 'data', { zxid: before })
    await client.delete('/w-new/kid')
    expect(await deleted).toMatchObject({ type: 'NodeDeleted', path: '/w-new/kid', stat: null })
  })

  it('a change already made after the given zxid fires at once', async () => {
    const first = await client.create('/w-past', 'a')
    const second = await client.setData('/w-past', 'b')
    expect(await client.watch('/w-past', 'data', { zxid: first.zxid })).toMatchObject({ zxid: second.zxid })
  })

  it('a data watch on a missing znode is NoNode', async () => {
    await expectCode(client.watch('/w-missing', 'data'), 'NoNode', 404)
  })

  it('aborting the signal closes the stream and rejects with its reason', async () => {
    await client.put('/w-abort', '')
    const controller = new AbortController()
    const watched = client.watch('/w-abort', 'data', { signal: controller.signal })
    await sleep(150)
    controller.abort()
    await expect(watched).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('close() ends pending watches with ConnectionLoss', async () => {
    await client.put('/w-close', '')
    const own = new HerdClient({ url: node.url })
    const watched = expectCode(own.watch('/w-close', 'data'), 'ConnectionLoss', 0)
    await sleep(100)
    await own.close()
    await watched
    await expectCode(own.getData('/w-close'), 'ConnectionLoss', 0)
  })
})

describe('transactions', () => {
  it('commit applies every operation at one zxid', async () => {
    const { results, zxid } = await client
      .transaction()
      .create('/tx', 'a')
      .create('/tx/child', new Uint8Array([9, 9]))
      .setData('/tx', 'b', 0)
      .check('/tx', 1)
      .commit()
    expect(results.map((result) => [result.op, result.path])).toEqual([
      ['create', '/tx'],
      ['create', '/tx/child'],
      ['setData', '/tx'],
      ['check', '/tx'],
    ])
    const read = await client.getData('/tx')
    expect(text(read.data)).toBe('b')
    expect(read.stat.mzxid).toBe(zxid)
    expect([...(await client.getData('/tx/child')).data]).toEqual([9, 9])
  })

  it('a failed commit changes nothing and reports every operation', async () => {
    const transaction = client.transaction().create('/tx-failed', 'a').delete('/tx-missing').setData('/tx-failed', 'b')
    expect(transaction.ops).toHaveLength(3)
    const error = await expectCode(transaction.commit(), 'NoNode', 404)
    expect(error.failedOp).toBe(1)
    expect(error.results).toEqual([
      { op: 'create', path: '/tx-failed', code: 'Ok' },
      { op: 'delete', path: '/tx-missing', code: 'NoNode' },
      { op: 'setData', path: '/tx-failed', code: 'RuntimeInconsistency' },
    ])
    expect(await client.exists('/tx-failed')).toBeNull()
  })
})

describe('idempotent writes', () => {
  it('the same key returns the first result, sequential path included', async () => {
    await client.create('/idem')
    const first = await client.create('/idem/item-', 'x', { sequential: true, idempotencyKey: 'idem-key-1' })
    const again = await client.create('/idem/item-', 'x', { sequential: true, idempotencyKey: 'idem-key-1' })
    expect({ path: again.path, stat: again.stat, zxid: again.zxid }).toEqual({ path: first.path, stat: first.stat, zxid: first.zxid })
    expect(await client.getChildren('/idem')).toEqual(['item-0000000000'])
  })

  it('retries after a lost answer with the same key, so the write happens once', async () => {
    await client.create('/queue')
    const proxy = await startProxy({ dropFirstResponse: true })
    const flaky = newClient({ url: proxy.url })
    const result = await flaky.create('/queue/item-', 'job', { sequential: true, retries: 3 })
    expect(proxy.requests.filter((line) => line.startsWith('PUT /znodes/queue/item-'))).toHaveLength(2)
    expect(result.path).toBe('/queue/item-0000000000')
    expect(await client.getChildren('/queue')).toEqual(['item-0000000000'])

    // Without retries the lost answer is reported: the outcome is unknown.
    const lossy = await startProxy({ dropFirstResponse: true })
    await expectCode(newClient({ url: lossy.url }).create('/queue/item-', 'job', { sequential: true }), 'ConnectionLoss', 0)
    await proxy.close()
    await lossy.close()
  })
})

describe('several urls', () => {
  it('fails over to the next replica and reads its writes there with minZxid', async () => {
    const first = await startProxy()
    const second = await startProxy()
    const multi = newClient({ urls: [first.url, second.url] })
    const written = await multi.put('/ryw', 'mine')
    expect(first.requests).toContain('PUT /znodes/ryw')
    await first.close()

    const read = await multi.getData('/ryw')
    expect(text(read.data)).toBe('mine')
    expect(multi.currentUrl).toBe(second.url)
    const minZxid = second.requests.map((line) => /minZxid=(\d+)/.exec(line)?.[1]).find((value) => value !== undefined)
    expect(Number(minZxid)).toBeGreaterThanOrEqual(written.zxid)
    // The second replica has now shown the client that zxid: no more waiting.
    await multi.getData('/ryw')
    expect(second.requests.at(-1)).toBe('GET /znodes/ryw?raw')
    await second.close()
  })

  it('a watch whose stream is lost is armed again on the next replica from the same zxid', async () => {
    await client.put('/w-failover', 'v0')
    const first = await startProxy()
    const second = await startProxy()
    const multi = newClient({ urls: [first.url, second.url] })
    const { zxid } = await multi.getData('/w-failover')
    const watched = multi.watch('/w-failover', 'data')
    await sleep(100)
    await first.close()
    const set = await client.setData('/w-failover', 'v1')
    expect(await watched).toMatchObject({ type: 'NodeDataChanged', zxid: set.zxid })
    expect(second.requests.find((line) => line.includes('watch=data'))).toBe(`GET /znodes/w-failover?watch=data&zxid=${zxid}`)
    await second.close()
  })
})
