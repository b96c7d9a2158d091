// Every route of openapi.yaml on a real node process, with every response
// checked against the contract (test/support/http.ts validates each one):
// the znode views, creates in each mode, conditional writes, upsert, ACLs,
// delete, multi and multi-read, Idempotency-Key, sync, cluster, health, and
// the answers for unknown routes, wrong methods, OPTIONS and CORS.
// Sessions and watches have their own files.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { call, expectProblem, openStream, type Reply } from '../support/http.ts'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'

const readWaitMsMax = 300
const appOrigin = 'http://app.test'

let node: NodeProcess
let base = ''
beforeAll(async () => {
  node = await startNode({ args: ['--read-wait-ms-max', String(readWaitMsMax), '--cors-origins', appOrigin] })
  base = node.url
})
afterAll(() => stopAll([node]))

const get = (target: string, headers?: Record<string, string>): Promise<Reply> => call(base, 'GET', target, headers === undefined ? {} : { headers })
const put = (target: string, body: string | Uint8Array | object = '', headers?: Record<string, string>): Promise<Reply> =>
  call(base, 'PUT', target, headers === undefined ? { body } : { body, headers })
const del = (target: string, headers?: Record<string, string>): Promise<Reply> => call(base, 'DELETE', target, headers === undefined ? {} : { headers })
const post = (target: string, body?: object | string, headers?: Record<string, string>): Promise<Reply> =>
  call(base, 'POST', target, { ...(body === undefined ? {} : { body }), ...(headers === undefined ? {} : { headers }) })

async function create(path: string, data: string | Uint8Array = ''): Promise<Reply> {
  const reply = await put(`/znodes${path}`, data, { 'if-none-match': '*' })
  expect(reply.status, reply.text).toBe(201)
  return reply
}

async function openSession(): Promise<{ id: number; secret: string; headers: Record<string, string> }> {
  const reply = await post('/sessions', { timeoutMs: 60_000 })
  expect(reply.status).toBe(201)
  return { id: reply.json.id, secret: reply.json.secret, headers: { 'herd-session': String(reply.json.id), 'herd-session-secret': reply.json.secret } }
}

describe('getData', () => {
  it('answers UTF-8 data as text with its stat, and ETag is the quoted data version', async () => {
    const written = await create('/gd-text', 'héllo')
    const reply = await get('/znodes/gd-text')
    expect(reply.status).toBe(200)
    expect(reply.json).toMatchObject({ path: '/gd-text', data: 'héllo', encoding: 'utf8' })
    expect(reply.json.stat).toEqual(written.json.stat)
    expect(reply.json.stat.dataLength).toBe(Buffer.byteLength('héllo'))
    expect(reply.header('etag')).toBe('"0"')
    expect(reply.zxid).toBeGreaterThanOrEqual(written.json.zxid)
  })

  it('answers data that is not UTF-8 as base64, and ?encoding forces one or refuses', async () => {
    const bytes = new Uint8Array([0xff, 0x00, 0xfe, 0x41])
    await create('/gd-binary', bytes)
    const auto = await get('/znodes/gd-binary')
    expect(auto.json).toMatchObject({ data: Buffer.from(bytes).toString('base64'), encoding: 'base64' })
    await create('/gd-ascii', 'abc')
    const forced = await get('/znodes/gd-ascii?encoding=base64')
    expect(forced.json).toMatchObject({ data: Buffer.from('abc').toString('base64'), encoding: 'base64' })
    const asText = await get('/znodes/gd-ascii?encoding=utf8')
    expect(asText.json).toMatchObject({ data: 'abc', encoding: 'utf8' })
    await expectProblem(get('/znodes/gd-binary?encoding=utf8'), 400, 'BadArguments')
    await expectProblem(get('/znodes/gd-ascii?encoding=latin1'), 400, 'BadArguments')
  })

  it('?raw and Accept: application/octet-stream answer the exact bytes with ETag and Herd-Stat', async () => {
    const bytes = new Uint8Array(300).map((_, i) => (i * 7) & 0xff)
    const written = await create('/gd-raw', bytes)
    for (const reply of [await get('/znodes/gd-raw?raw'), await get('/znodes/gd-raw', { accept: 'application/octet-stream' })]) {
      expect(reply.status).toBe(200)
      expect(reply.header('content-type')).toBe('application/octet-stream')
      expect(Buffer.from(reply.bytes).equals(Buffer.from(bytes))).toBe(true)
      expect(reply.header('etag')).toBe('"0"')
      expect(JSON.parse(reply.header('herd-stat') ?? 'null')).toEqual(written.json.stat)
    }
    await expectProblem(get('/znodes/gd-raw?raw&encoding=base64'), 400, 'BadArguments')
  })

  it('a missing znode is 404 NoNode naming the path', async () => {
    const reply = await expectProblem(get('/znodes/gd-missing/deeper'), 404, 'NoNode')
    expect(reply.json.path).toBe('/gd-missing/deeper')
    await expectProblem(get('/znodes/gd-missing?raw'), 404, 'NoNode')
  })

  it('the root is /znodes and /znodes/', async () => {
    for (const target of ['/znodes', '/znodes/']) {
      const reply = await get(target)
      expect(reply.status).toBe(200)
      expect(reply.json.path).toBe('/')
      expect(reply.json.stat.czxid).toBe(0)
    }
  })

  it('HEAD answers the headers of GET without a body', async () => {
    await create('/gd-head', 'x')
    const reply = await call(base, 'HEAD', '/znodes/gd-head')
    expect(reply.status).toBe(200)
    expect(reply.bytes.byteLength).toBe(0)
    expect(reply.header('etag')).toBe('"0"')
  })
})

describe('views', () => {
  it('?stat is exists: the stat alone, 404 when missing', async () => {
    const written = await create('/v-stat', 'abc')
    const reply = await get('/znodes/v-stat?stat')
    expect(reply.json).toEqual({ path: '/v-stat', stat: written.json.stat })
    expect(reply.header('etag')).toBe('"0"')
    await expectProblem(get('/znodes/v-stat-missing?stat'), 404, 'NoNode')
  })

  it('?children lists names sorted by code point, with the parent stat and ETag "c<cversion>"', async () => {
    await create('/v-kids')
    const names = ['b', 'a', 'B', '10', '9', 'é', 'z']
    for (const name of names) await create(`/v-kids/${encodeURIComponent(name)}`)
    await del('/znodes/v-kids/z')
    const reply = await get('/znodes/v-kids?children')
    expect(reply.json.children).toEqual(['10', '9', 'B', 'a', 'b', 'é'])
    expect(reply.json.next).toBeNull()
    // cversion counts creations and deletions (ZooKeeper's visible cversion).
    expect(reply.json.stat).toMatchObject({ numChildren: 6, cversion: 8 })
    expect(reply.header('etag')).toBe('"c8"')
    await expectProblem(get('/znodes/v-kids-missing?children'), 404, 'NoNode')
  })

  it('?children pages with limit and cursor: pages follow each other without gaps or repeats', async () => {
    await create('/v-page')
    const names = Array.from({ length: 7 }, (_, i) => `n${i}`)
    for (const name of names) await create(`/v-page/${name}`)
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const target: string = `/znodes/v-page?children&limit=3${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`
      const reply = await get(target)
      expect(reply.json.children.length).toBeLessThanOrEqual(3)
      seen.push(...reply.json.children)
      cursor = reply.json.next
      pages++
    } while (cursor !== null && pages < 10)
    expect(pages).toBe(3)
    expect(seen).toEqual(names)
    const last = await get('/znodes/v-page?children&limit=3&cursor=n5')
    expect(last.json).toMatchObject({ children: ['n6'], next: null })
    await expectProblem(get('/znodes/v-page?children&limit=0'), 400, 'BadArguments')
    await expectProblem(get('/znodes/v-page?limit=3'), 400, 'BadArguments')
  })

  it('?descendants counts every znode below, recursively', async () => {
    await create('/v-desc')
    await create('/v-desc/a')
    await create('/v-desc/a/b')
    await create('/v-desc/c')
    expect((await get('/znodes/v-desc?descendants')).json).toEqual({ path: '/v-desc', count: 3 })
    expect((await get('/znodes/v-desc/c?descendants')).json).toEqual({ path: '/v-desc/c', count: 0 })
    await expectProblem(get('/znodes/v-desc-missing?descendants'), 404, 'NoNode')
  })

  it('?acl answers the entries in CLI letters with ETag "a<aversion>"', async () => {
    await create('/v-acl')
    const reply = await get('/znodes/v-acl?acl')
    expect(reply.json.acl).toEqual([{ scheme: 'world', id: 'anyone', perms: 'cdrwa' }])
    expect(reply.header('etag')).toBe('"a0"')
    await expectProblem(get('/znodes/v-acl-missing?acl'), 404, 'NoNode')
  })

  it('at most one view flag; unknown parameters and zxid without watch are refused', async () => {
    await create('/v-flags')
    await expectProblem(get('/znodes/v-flags?stat&children'), 400, 'BadArguments')
    await expectProblem(get('/znodes/v-flags?stat&watch=data'), 400, 'BadArguments')
    await expectProblem(get('/znodes/v-flags?bogus'), 400, 'BadArguments')
    await expectProblem(get('/znodes/v-flags?zxid=1'), 400, 'BadArguments')
    await expectProblem(get('/znodes/v-flags?stat=maybe'), 400, 'BadArguments')
    expect((await get('/znodes/v-flags?stat=true')).status).toBe(200)
    expect((await get('/znodes/v-flags?stat=false')).json.data).toBe('')
  })
})

describe('If-None-Match and minZxid', () => {
  it('If-None-Match with the current ETag is 304 (data, children, acl); a stale one reads again', async () => {
    await create('/c-cond', 'one')
    const first = await get('/znodes/c-cond')
    const unchanged = await get('/znodes/c-cond', { 'if-none-match': first.header('etag') as string })
    expect(unchanged.status).toBe(304)
    expect(unchanged.header('etag')).toBe('"0"')
    expect(unchanged.bytes.byteLength).toBe(0)
    await put('/znodes/c-cond', 'two')
    const changed = await get('/znodes/c-cond', { 'if-none-match': first.header('etag') as string })
    expect(changed.status).toBe(200)
    expect(changed.json.data).toBe('two')

    const children = await get('/znodes/c-cond?children')
    expect((await get('/znodes/c-cond?children', { 'if-none-match': children.header('etag') as string })).status).toBe(304)
    await create('/c-cond/kid')
    expect((await get('/znodes/c-cond?children', { 'if-none-match': children.header('etag') as string })).status).toBe(200)

    expect((await get('/znodes/c-cond?acl', { 'if-none-match': '"a0"' })).status).toBe(304)
    expect((await get('/znodes/c-cond?acl', { 'if-none-match': '"a1"' })).status).toBe(200)
    expect((await get('/znodes/c-cond?stat', { 'if-none-match': '"1"' })).status).toBe(304)
  })

  it('a read with an applied minZxid answers at once', async () => {
    const written = await create('/c-min', 'x')
    const reply = await get(`/znodes/c-min?minZxid=${written.json.zxid}`)
    expect(reply.status).toBe(200)
    expect(reply.zxid).toBeGreaterThanOrEqual(written.json.zxid)
  })

  it('a read with a minZxid this replica has not reached waits read-wait-ms-max, then 504 OperationTimeout', async () => {
    const startedMs = performance.now()
    const reply = await expectProblem(get(`/znodes/c-min?minZxid=${Number.MAX_SAFE_INTEGER}`), 504, 'OperationTimeout')
    const elapsedMs = performance.now() - startedMs
    expect(elapsedMs).toBeGreaterThanOrEqual(readWaitMsMax - 20)
    expect(elapsedMs).toBeLessThan(readWaitMsMax + 1500)
    expect(reply.json.zxid).toBe(reply.zxid)
  })
})

describe('create', () => {
  it('If-None-Match: * creates (201, Location, stat) and then refuses with 409 NodeExists', async () => {
    const reply = await put('/znodes/cr-once', 'data', { 'if-none-match': '*' })
    expect(reply.status).toBe(201)
    expect(reply.header('location')).toBe('/znodes/cr-once')
    expect(reply.header('etag')).toBe('"0"')
    expect(reply.json).toMatchObject({ path: '/cr-once', zxid: reply.zxid })
    expect(reply.json.stat).toMatchObject({ czxid: reply.json.zxid, mzxid: reply.json.zxid, version: 0, dataLength: 4, ephemeralOwner: 0 })
    const again = await expectProblem(put('/znodes/cr-once', 'other', { 'if-none-match': '*' }), 409, 'NodeExists')
    expect(again.json.path).toBe('/cr-once')
    expect((await get('/znodes/cr-once')).json.data).toBe('data')
  })

  it('a create under a missing parent is 404 NoNode', async () => {
    await expectProblem(put('/znodes/cr-orphan/child', '', { 'if-none-match': '*' }), 404, 'NoNode')
    await expectProblem(get('/znodes/cr-orphan/child'), 404, 'NoNode')
  })

  it('?sequential appends the parent creation counter as 10 digits; a trailing slash gives an empty prefix', async () => {
    await create('/tasks')
    const first = await put('/znodes/tasks/?sequential', 'a')
    expect(first.status).toBe(201)
    expect(first.json.path).toBe('/tasks/0000000000')
    expect(first.header('location')).toBe('/znodes/tasks/0000000000')
    await create('/tasks/plain')
    const named = await put('/znodes/tasks/job-?sequential', 'b')
    // The plain create advanced the counter too (ZooKeeper's parent cversion counts creations).
    expect(named.json.path).toBe('/tasks/job-0000000002')
    await del('/znodes/tasks/job-0000000002')
    const afterDelete = await put('/znodes/tasks/?sequential=true', 'c')
    expect(afterDelete.json.path).toBe('/tasks/0000000003')
    expect((await get('/znodes/tasks?children')).json.children).toEqual(['0000000000', '0000000003', 'plain'])
  })

  it('?ephemeral needs a session, is owned by it, and cannot have children', async () => {
    await expectProblem(put('/znodes/cr-eph?ephemeral', 'x'), 400, 'BadArguments')
    const session = await openSession()
    const reply = await put('/znodes/cr-eph?ephemeral', 'x', session.headers)
    expect(reply.status).toBe(201)
    expect(reply.json.stat.ephemeralOwner).toBe(session.id)
    await expectProblem(put('/znodes/cr-eph/child', '', { 'if-none-match': '*' }), 409, 'NoChildrenForEphemerals')
    const seq = await put('/znodes/cr-eph-seq-?ephemeral&sequential', '', session.headers)
    expect(seq.json.path).toMatch(/^\/cr-eph-seq-\d{10}$/)
    expect(seq.json.stat.ephemeralOwner).toBe(session.id)
  })

  it('?container and ?ttl create znodes whose ephemeralOwner reads 0; bad combinations are 400', async () => {
    const container = await put('/znodes/cr-container?container', '')
    expect(container.status).toBe(201)
    expect(container.json.stat.ephemeralOwner).toBe(0)
    const ttl = await put('/znodes/cr-ttl?ttl=60000', 'x')
    expect(ttl.status).toBe(201)
    expect(ttl.json.stat.ephemeralOwner).toBe(0)
    const ttlSeq = await put('/znodes/cr-ttl-?ttl=60000&sequential', 'x')
    expect(ttlSeq.json.path).toMatch(/^\/cr-ttl-\d{10}$/)
    await expectProblem(put('/znodes/cr-bad?container&sequential'), 400, 'BadArguments')
    await expectProblem(put('/znodes/cr-bad?ttl=0'), 400, 'BadArguments')
    await expectProblem(put('/znodes/cr-bad?ttl=1099511627776'), 400, 'BadArguments')
    await expectProblem(put('/znodes/cr-bad?ttl=1000&container'), 400, 'BadArguments')
    await expectProblem(put('/znodes/cr-bad?ephemeral&container'), 400, 'BadArguments')
    await expectProblem(put('/znodes/cr-bad?sequential', '', { 'if-match': '"0"' }), 400, 'BadArguments')
    await expectProblem(get('/znodes/cr-bad'), 404, 'NoNode')
  })

  it('?acl entries on create are stored as given; a malformed entry is 400 InvalidACL', async () => {
    await put('/znodes/cr-acl?acl=world:anyone:r&acl=ip:127.0.0.1:cdrwa', '', { 'if-none-match': '*' })
    const reply = await get('/znodes/cr-acl?acl')
    expect(reply.json.acl).toEqual([
      { scheme: 'world', id: 'anyone', perms: 'r' },
      { scheme: 'ip', id: '127.0.0.1', perms: 'cdrwa' },
    ])
    await expectProblem(put('/znodes/cr-acl2?acl=world:anyone:z', '', { 'if-none-match': '*' }), 400, 'InvalidACL')
    await expectProblem(put('/znodes/cr-acl2?acl=nonsense', '', { 'if-none-match': '*' }), 400, 'InvalidACL')
    await expectProblem(get('/znodes/cr-acl2'), 404, 'NoNode')
  })

  it('the reserved /zookeeper subtree cannot be written', async () => {
    await expectProblem(put('/znodes/zookeeper/mine', '', { 'if-none-match': '*' }), 400, 'BadArguments')
  })
})

describe('setData and upsert', () => {
  it('If-Match sets data when the version matches (200, version+1) and is 412 BadVersion otherwise', async () => {
    await create('/sd-match', 'v0')
    const set = await put('/znodes/sd-match', 'v1', { 'if-match': '"0"' })
    expect(set.status).toBe(200)
    expect(set.header('etag')).toBe('"1"')
    expect(set.json).toMatchObject({ path: '/sd-match', zxid: set.zxid })
    expect(set.json.stat).toMatchObject({ version: 1, mzxid: set.json.zxid, dataLength: 2 })
    const stale = await expectProblem(put('/znodes/sd-match', 'lost', { 'if-match': '"0"' }), 412, 'BadVersion')
    expect(stale.json.path).toBe('/sd-match')
    expect((await get('/znodes/sd-match')).json).toMatchObject({ data: 'v1', stat: { version: 1 } })
  })

  it('If-Match: * and ?version=-1 match any version; ?version=N checks like If-Match', async () => {
    await create('/sd-any', 'v0')
    expect((await put('/znodes/sd-any', 'a', { 'if-match': '*' })).json.stat.version).toBe(1)
    expect((await put('/znodes/sd-any?version=-1', 'b')).json.stat.version).toBe(2)
    expect((await put('/znodes/sd-any?version=2', 'c')).json.stat.version).toBe(3)
    await expectProblem(put('/znodes/sd-any?version=2', 'd'), 412, 'BadVersion')
    // Identical bytes still bump the version (ZooKeeper's setData).
    expect((await put('/znodes/sd-any?version=3', 'c')).json.stat.version).toBe(4)
    await expectProblem(put('/znodes/sd-any?version=1', 'e', { 'if-match': '"2"' }), 400, 'BadArguments')
    await expectProblem(put('/znodes/sd-any?version=-2', 'e'), 400, 'BadArguments')
    await expectProblem(put('/znodes/sd-any', 'e', { 'if-match': 'banana' }), 400, 'BadArguments')
    expect((await get('/znodes/sd-any')).json).toMatchObject({ data: 'c', stat: { version: 4 } })
  })

  it('setData on a missing znode is 404 NoNode and creates nothing', async () => {
    await expectProblem(put('/znodes/sd-missing', 'x', { 'if-match': '*' }), 404, 'NoNode')
    await expectProblem(get('/znodes/sd-missing'), 404, 'NoNode')
  })

  it('a PUT without preconditions upserts: 201 created, then 200 with the data replaced', async () => {
    const first = await put('/znodes/sd-upsert', 'one')
    expect(first.status).toBe(201)
    expect(first.json).toMatchObject({ path: '/sd-upsert', created: true })
    expect(first.header('location')).toBe('/znodes/sd-upsert')
    const second = await put('/znodes/sd-upsert', 'two')
    expect(second.status).toBe(200)
    expect(second.json).toMatchObject({ path: '/sd-upsert', created: false, stat: { version: 1 } })
    expect((await get('/znodes/sd-upsert')).json.data).toBe('two')
  })
})

describe('setACL', () => {
  it('PUT ?acl with a JSON body sets the ACL and bumps aversion; If-Match checks aversion', async () => {
    await create('/acl-set')
    const acl = [{ scheme: 'world', id: 'anyone', perms: 'rw' }]
    const set = await put('/znodes/acl-set?acl', { acl }, { 'if-match': '"0"' })
    expect(set.status).toBe(200)
    expect(set.header('etag')).toBe('"a1"')
    expect(set.json.stat).toMatchObject({ aversion: 1, version: 0 })
    const read = await get('/znodes/acl-set?acl')
    expect(read.json.acl).toEqual(acl)
    expect(read.header('etag')).toBe('"a1"')
    await expectProblem(put('/znodes/acl-set?acl', { acl: [{ scheme: 'world', id: 'anyone', perms: 'r' }] }, { 'if-match': '"0"' }), 412, 'BadVersion')
    expect((await put('/znodes/acl-set?acl&version=1', { acl: [{ scheme: 'world', id: 'anyone', perms: 'cdrwa' }] })).json.stat.aversion).toBe(2)
    expect((await put('/znodes/acl-set?acl', { acl: [{ scheme: 'world', id: 'anyone', perms: 'r' }] })).json.stat.aversion).toBe(3)
  })

  it('setACL refuses an empty ACL, unknown letters, non-JSON bodies, create flags, and missing znodes', async () => {
    await create('/acl-bad')
    await expectProblem(put('/znodes/acl-bad?acl', { acl: [] }), 400, 'InvalidACL')
    await expectProblem(put('/znodes/acl-bad?acl', { acl: [{ scheme: 'world', id: 'anyone', perms: 'x' }] }), 400, 'InvalidACL')
    await expectProblem(put('/znodes/acl-bad?acl', { acl: [{ scheme: 'world', id: 'anyone', perms: 'r', extra: 1 }] }), 400, 'BadArguments')
    await expectProblem(put('/znodes/acl-bad?acl', '{"acl":[]}', { 'content-type': 'text/plain' }), 415, 'UnsupportedMediaType')
    await expectProblem(put('/znodes/acl-bad?acl', '{"acl":', { 'content-type': 'application/json' }), 400, 'MarshallingError')
    await expectProblem(put('/znodes/acl-bad?acl&sequential', { acl: [{ scheme: 'world', id: 'anyone', perms: 'r' }] }), 400, 'BadArguments')
    await expectProblem(put('/znodes/acl-missing?acl', { acl: [{ scheme: 'world', id: 'anyone', perms: 'r' }] }), 404, 'NoNode')
    expect((await get('/znodes/acl-bad?acl')).json.stat.aversion).toBe(0)
  })
})

describe('delete', () => {
  it('deletes with a matching version (If-Match or ?version) and is 412 BadVersion otherwise', async () => {
    await create('/del-v')
    await put('/znodes/del-v', 'x', { 'if-match': '*' })
    await expectProblem(del('/znodes/del-v', { 'if-match': '"0"' }), 412, 'BadVersion')
    await expectProblem(del('/znodes/del-v?version=5'), 412, 'BadVersion')
    const reply = await del('/znodes/del-v', { 'if-match': '"1"' })
    expect(reply.status).toBe(200)
    expect(reply.json).toEqual({ path: '/del-v', zxid: reply.zxid })
    await expectProblem(get('/znodes/del-v'), 404, 'NoNode')
    await create('/del-q')
    expect((await del('/znodes/del-q?version=0')).status).toBe(200)
    await create('/del-any')
    expect((await del('/znodes/del-any')).status).toBe(200)
  })

  it('a znode with children is 409 NotEmpty; a missing one 404 NoNode', async () => {
    await create('/del-parent')
    await create('/del-parent/kid')
    await expectProblem(del('/znodes/del-parent'), 409, 'NotEmpty')
    expect((await get('/znodes/del-parent?stat')).json.stat.numChildren).toBe(1)
    await expectProblem(del('/znodes/del-nothing'), 404, 'NoNode')
  })

  it('the root and /zookeeper cannot be deleted (400 BadArguments), nor can DELETE carry a body', async () => {
    await expectProblem(del('/znodes/'), 400, 'BadArguments')
    await expectProblem(del('/znodes'), 400, 'BadArguments')
    await expectProblem(del('/znodes/zookeeper'), 400, 'BadArguments')
    expect((await get('/znodes/zookeeper?stat')).status).toBe(200)
    await create('/del-body')
    await expectProblem(call(base, 'DELETE', '/znodes/del-body', { body: 'x' }), 400, 'BadArguments')
    expect((await get('/znodes/del-body?stat')).status).toBe(200)
  })
})

describe('multi', () => {
  it('applies every op at one zxid, later ops seeing earlier ones, with a result per op', async () => {
    const reply = await post('/multi', {
      ops: [
        { op: 'create', path: '/mu', data: 'root' },
        { op: 'create', path: '/mu/a', data: 'QUJD', encoding: 'base64' },
        { op: 'create', path: '/mu/q-', sequential: true },
        { op: 'setData', path: '/mu', data: 'changed', version: 0 },
        { op: 'check', path: '/mu', version: 1 },
        { op: 'delete', path: '/mu/a', version: -1 },
      ],
    })
    expect(reply.status).toBe(200)
    const { results, zxid } = reply.json
    expect(zxid).toBe(reply.zxid)
    expect(results.map((r: { op: string; path: string }) => [r.op, r.path])).toEqual([
      ['create', '/mu'],
      ['create', '/mu/a'],
      ['create', '/mu/q-0000000001'],
      ['setData', '/mu'],
      ['check', '/mu'],
      ['delete', '/mu/a'],
    ])
    expect(results[0].stat.czxid).toBe(zxid)
    expect(results[3].stat).toMatchObject({ version: 1, mzxid: zxid })
    const root = await get('/znodes/mu')
    expect(root.json).toMatchObject({ data: 'changed', stat: { czxid: zxid, mzxid: zxid, numChildren: 1 } })
    expect((await get('/znodes/mu?children')).json.children).toEqual(['q-0000000001'])
  })

  it('a failing op fails the batch with ZooKeeper results (Ok, its code, RuntimeInconsistency) and rolls everything back', async () => {
    await create('/mf-existing', 'keep')
    const before = await get('/znodes/mf-existing')
    const reply = await expectProblem(
      post('/multi', {
        ops: [
          { op: 'create', path: '/mf-new', data: 'x' },
          { op: 'setData', path: '/mf-existing', data: 'overwritten' },
          { op: 'check', path: '/mf-existing', version: 7 },
          { op: 'delete', path: '/mf-existing' },
        ],
      }),
      412,
      'BadVersion',
    )
    expect(reply.json.failedOp).toBe(2)
    expect(reply.json.path).toBe('/mf-existing')
    expect(reply.json.results).toEqual([
      { op: 'create', path: '/mf-new', code: 'Ok' },
      { op: 'setData', path: '/mf-existing', code: 'Ok' },
      { op: 'check', path: '/mf-existing', code: 'BadVersion' },
      { op: 'delete', path: '/mf-existing', code: 'RuntimeInconsistency' },
    ])
    await expectProblem(get('/znodes/mf-new'), 404, 'NoNode')
    expect((await get('/znodes/mf-existing')).json).toEqual(before.json)
  })

  it('the failing op decides the status: NoNode 404, NodeExists 409', async () => {
    const noNode = await expectProblem(post('/multi', { ops: [{ op: 'create', path: '/mf2' }, { op: 'delete', path: '/mf2-missing' }] }), 404, 'NoNode')
    expect(noNode.json.results.map((r: { code: string }) => r.code)).toEqual(['Ok', 'NoNode'])
    expect(noNode.json.failedOp).toBe(1)
    const exists = await expectProblem(post('/multi', { ops: [{ op: 'create', path: '/mf3' }, { op: 'create', path: '/mf3' }] }), 409, 'NodeExists')
    expect(exists.json.failedOp).toBe(1)
    await expectProblem(get('/znodes/mf2'), 404, 'NoNode')
    await expectProblem(get('/znodes/mf3'), 404, 'NoNode')
  })

  it('bad multi requests are refused before anything is proposed', async () => {
    const zxid = (await call(base, 'GET', '/health')).zxid
    await expectProblem(post('/multi', { ops: [{ op: 'read', path: '/x' }] }), 400, 'BadArguments')
    await expectProblem(post('/multi', { ops: [{ op: 'create' }] }), 400, 'BadArguments')
    await expectProblem(post('/multi', { ops: [{ op: 'create', path: 'relative' }] }), 400, 'BadArguments')
    await expectProblem(post('/multi', { ops: [{ op: 'create', path: '/x', ephemeral: true }] }), 400, 'BadArguments')
    await expectProblem(post('/multi', { ops: [{ op: 'create', path: '/x', data: '***', encoding: 'base64' }] }), 400, 'BadArguments')
    await expectProblem(post('/multi', { operations: [] }), 400, 'BadArguments')
    await expectProblem(post('/multi', '{"ops":[]}', { 'content-type': 'text/plain' }), 415, 'UnsupportedMediaType')
    await expectProblem(post('/multi', '{"ops":', { 'content-type': 'application/json' }), 400, 'MarshallingError')
    expect((await call(base, 'GET', '/health')).zxid).toBe(zxid)
  })
})

describe('multi-read', () => {
  it('answers each read on its own: data, children, and a per-op error', async () => {
    await create('/mr', 'top')
    await create('/mr/b', new Uint8Array([0xff]))
    await create('/mr/a')
    const reply = await post('/multi-read', {
      ops: [
        { op: 'getData', path: '/mr' },
        { op: 'getChildren', path: '/mr' },
        { op: 'getData', path: '/mr-missing' },
        { op: 'getData', path: '/mr/b' },
        { op: 'getData', path: '/mr', encoding: 'base64' },
        { op: 'getChildren', path: '/mr-missing' },
      ],
    })
    expect(reply.status).toBe(200)
    const [data, children, missing, binary, forced, missingChildren] = reply.json.results
    expect(data).toMatchObject({ op: 'getData', path: '/mr', data: 'top', encoding: 'utf8' })
    expect(children).toMatchObject({ op: 'getChildren', path: '/mr', children: ['a', 'b'] })
    expect(children.stat.numChildren).toBe(2)
    expect(missing).toMatchObject({ op: 'getData', path: '/mr-missing', code: 'NoNode' })
    expect(binary).toMatchObject({ data: '/w==', encoding: 'base64' })
    expect(forced).toMatchObject({ data: Buffer.from('top').toString('base64'), encoding: 'base64' })
    expect(missingChildren).toMatchObject({ op: 'getChildren', code: 'NoNode' })
  })

  it('refuses writes, bad paths and non-JSON; minZxid in the future is 504', async () => {
    await expectProblem(post('/multi-read', { ops: [{ op: 'setData', path: '/mr' }] }), 400, 'BadArguments')
    await expectProblem(post('/multi-read', { ops: [{ op: 'getData', path: 'mr' }] }), 400, 'BadArguments')
    await expectProblem(post('/multi-read', '{}', { 'content-type': 'text/plain' }), 415, 'UnsupportedMediaType')
    await expectProblem(post(`/multi-read?minZxid=${Number.MAX_SAFE_INTEGER}`, { ops: [] }), 504, 'OperationTimeout')
    expect((await post('/multi-read?minZxid=1', { ops: [] })).json).toEqual({ results: [] })
  })
})

describe('Idempotency-Key', () => {
  it('a retried sequential create returns the first result with Idempotent-Replayed and creates nothing', async () => {
    await create('/idem')
    const key = `seq-${process.pid}-${Date.now()}`
    const first = await put('/znodes/idem/?sequential', 'job', { 'idempotency-key': key })
    expect(first.status).toBe(201)
    expect(first.header('idempotent-replayed')).toBeNull()
    const retry = await put('/znodes/idem/?sequential', 'job', { 'idempotency-key': key })
    expect(retry.status).toBe(201)
    expect(retry.header('idempotent-replayed')).toBe('true')
    expect(retry.json).toEqual(first.json)
    expect(retry.header('location')).toBe(first.header('location'))
    expect((await get('/znodes/idem?children')).json.children).toEqual([first.json.path.slice('/idem/'.length)])
  })

  it('a replay answers the first attempt\'s zxid, so a watch armed from it misses nothing in between', async () => {
    const key = `zxid-${process.pid}-${Date.now()}`
    const first = await put('/znodes/idem/?sequential', 'job', { 'idempotency-key': key })
    const between = await put('/znodes/idem/?sequential', 'another client')
    const retry = await put('/znodes/idem/?sequential', 'job', { 'idempotency-key': key })
    expect(retry.header('idempotent-replayed')).toBe('true')
    expect(retry.json.zxid).toBe(first.json.zxid)
    // Watching the queue from the write's zxid sees the other client's item at once.
    const watch = await openStream(base, `/znodes/idem?watch=children&zxid=${retry.json.zxid}`)
    expect(watch.status).toBe(200)
    expect(await watch.ended()).toContain(`id: ${between.json.zxid}\n`)
  })

  it('the same key on a different request is 422 IdempotencyKeyReused and changes nothing', async () => {
    const key = `reuse-${process.pid}-${Date.now()}`
    await put('/znodes/idem/?sequential', 'job', { 'idempotency-key': key })
    const before = await get('/znodes/idem?children')
    await expectProblem(put('/znodes/idem/?sequential', 'other body', { 'idempotency-key': key }), 422, 'IdempotencyKeyReused')
    await expectProblem(put('/znodes/idem/x?sequential', 'job', { 'idempotency-key': key }), 422, 'IdempotencyKeyReused')
    await expectProblem(del('/znodes/idem', { 'idempotency-key': key }), 422, 'IdempotencyKeyReused')
    expect((await get('/znodes/idem?children')).json).toEqual(before.json)
  })

  it('a retried multi and a retried failure replay too, and a malformed key is 400', async () => {
    const key = `multi-${process.pid}-${Date.now()}`
    const body = { ops: [{ op: 'create', path: '/idem/m-', sequential: true }] }
    const first = await post('/multi', body, { 'idempotency-key': key })
    const retry = await post('/multi', body, { 'idempotency-key': key })
    expect(retry.header('idempotent-replayed')).toBe('true')
    expect(retry.json).toEqual(first.json)
    await expectProblem(post('/multi', { ops: [{ op: 'create', path: '/x' }] }, { 'idempotency-key': key }), 422, 'IdempotencyKeyReused')

    const failKey = `fail-${process.pid}-${Date.now()}`
    await expectProblem(del('/znodes/idem-missing', { 'idempotency-key': failKey }), 404, 'NoNode')
    const replayed = await expectProblem(del('/znodes/idem-missing', { 'idempotency-key': failKey }), 404, 'NoNode')
    expect(replayed.header('idempotent-replayed')).toBe('true')
    await expectProblem(put('/znodes/idem-x', '', { 'idempotency-key': 'has space' }), 400, 'BadArguments')
    await expectProblem(put('/znodes/idem-x', '', { 'idempotency-key': 'k'.repeat(256) }), 400, 'BadArguments')
  })
})

describe('sync, cluster, health', () => {
  it('POST /sync answers a zxid covering every write acknowledged before it', async () => {
    const written = await put('/znodes/sync-me', 'x')
    const reply = await post('/sync')
    expect(reply.status).toBe(200)
    expect(reply.json.zxid).toBeGreaterThanOrEqual(written.json.zxid)
    expect((await post('/sync', { path: '/sync-me' })).status).toBe(200)
    await expectProblem(post('/sync', { path: 1 }), 400, 'BadArguments')
    await expectProblem(post('/sync', { other: '/x' }), 400, 'BadArguments')
    await expectProblem(post('/sync', '{}', { 'content-type': 'text/plain' }), 415, 'UnsupportedMediaType')
  })

  it('GET /cluster describes this replica as the leader of a cluster of one', async () => {
    const written = await put('/znodes/cluster-me', 'x')
    const reply = await get('/cluster')
    expect(reply.json).toMatchObject({ id: 1, role: 'leader', leader: 1 })
    expect(reply.json.appliedZxid).toBeGreaterThanOrEqual(written.json.zxid)
    expect(reply.json.commitZxid).toBe(reply.json.appliedZxid)
    expect(reply.json.replicas).toHaveLength(1)
    expect(reply.json.replicas[0]).toMatchObject({ id: 1, role: 'leader', lag: 0 })
    expect(reply.json.znodes).toBeGreaterThan(4)
    expect((await get('/cluster')).json.digest).toBe(reply.json.digest)
    await put('/znodes/cluster-me', 'y')
    expect((await get('/cluster')).json.digest).not.toBe(reply.json.digest)
    await expectProblem(get('/cluster?verbose'), 400, 'BadArguments')
  })

  it('GET /health says ok with the applied zxid', async () => {
    const reply = await get('/health')
    expect(reply.json).toEqual({ status: 'ok', zxid: reply.zxid })
    await expectProblem(get('/health?verbose'), 400, 'BadArguments')
  })
})

describe('routing', () => {
  it('an unknown route is 404 NotFound (not NoNode)', async () => {
    await expectProblem(get('/nope'), 404, 'NotFound')
    await expectProblem(post('/znodes-and-more'), 404, 'NotFound')
    await expectProblem(get('/sessions/1/unknown'), 404, 'NotFound')
  })

  it('a known route with another method is 405 MethodNotAllowed with Allow', async () => {
    const patch = await expectProblem(call(base, 'PATCH', '/znodes/x'), 405, 'MethodNotAllowed')
    expect(patch.header('allow')).toBe('GET, HEAD, PUT, DELETE, OPTIONS')
    const getMulti = await expectProblem(get('/multi'), 405, 'MethodNotAllowed')
    expect(getMulti.header('allow')).toBe('POST, OPTIONS')
    const postHealth = await expectProblem(post('/health'), 405, 'MethodNotAllowed')
    expect(postHealth.header('allow')).toBe('GET, HEAD, OPTIONS')
    await expectProblem(get('/sessions/1/close'), 405, 'MethodNotAllowed')
  })

  it('OPTIONS answers 204 with Allow on known routes and 404 elsewhere', async () => {
    const znodes = await call(base, 'OPTIONS', '/znodes/a/b')
    expect(znodes.status).toBe(204)
    expect(znodes.header('allow')).toBe('GET, HEAD, PUT, DELETE, OPTIONS')
    expect((await call(base, 'OPTIONS', '/multi-read')).header('allow')).toBe('POST, OPTIONS')
    expect((await call(base, 'OPTIONS', '/sessions/5/ephemerals')).header('allow')).toBe('GET, HEAD, OPTIONS')
    await expectProblem(call(base, 'OPTIONS', '/nope'), 404, 'NotFound')
  })
})

describe('CORS (--cors-origins http://app.test)', () => {
  it('a preflight from an allowed origin for PUT and DELETE gets the allow headers', async () => {
    for (const method of ['PUT', 'DELETE']) {
      const reply = await call(base, 'OPTIONS', '/znodes/cors', {
        headers: { origin: appOrigin, 'access-control-request-method': method, 'access-control-request-headers': 'if-match, idempotency-key, herd-session' },
      })
      expect(reply.status).toBe(204)
      expect(reply.header('access-control-allow-origin')).toBe(appOrigin)
      expect(reply.header('access-control-allow-methods')?.split(', ')).toContain(method)
      const allowed = (reply.header('access-control-allow-headers') ?? '').toLowerCase().split(', ')
      for (const header of ['if-match', 'idempotency-key', 'herd-session', 'herd-session-secret', 'last-event-id', 'content-type']) expect(allowed).toContain(header)
      expect(reply.header('vary')).toContain('Origin')
    }
  })

  it('an unlisted origin gets no Access-Control-Allow-Origin, on preflight or on a simple GET', async () => {
    const preflight = await call(base, 'OPTIONS', '/znodes/cors', { headers: { origin: 'http://evil.test', 'access-control-request-method': 'PUT' } })
    expect(preflight.header('access-control-allow-origin')).toBeNull()
    expect(preflight.header('access-control-allow-methods')).toBeNull()
    const simple = await get('/health', { origin: 'http://evil.test' })
    expect(simple.status).toBe(200)
    expect(simple.header('access-control-allow-origin')).toBeNull()
  })

  it('a simple GET from an allowed origin gets ACAO and exposes herd headers', async () => {
    await create('/cors-read', 'x')
    const reply = await get('/znodes/cors-read', { origin: appOrigin })
    expect(reply.header('access-control-allow-origin')).toBe(appOrigin)
    const exposed = (reply.header('access-control-expose-headers') ?? '').toLowerCase().split(', ')
    for (const header of ['etag', 'location', 'herd-zxid', 'herd-stat', 'idempotent-replayed', 'retry-after']) expect(exposed).toContain(header)
    const failed = await get('/znodes/cors-missing', { origin: appOrigin })
    expect(failed.status).toBe(404)
    expect(failed.header('access-control-allow-origin')).toBe(appOrigin)
  })
})
