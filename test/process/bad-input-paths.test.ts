// Znode paths that must be refused, never normalised (RELIABILITY.md, "What
// the HTTP gateway must get right", 1; ZooKeeper's PathUtils.validatePath),
// sent over raw sockets because fetch and new URL() would rewrite `..`,
// `%2e%2e`, `.` and `\` before the server saw them. Each is tried as a
// create (PUT), a read (GET) and a delete: all are 400 problem+json with a
// stable code, and the tree's digest and zxid do not move.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { rawExchange, treeState } from '../support/raw-http.ts'
import { badInput } from './fixtures/bad-input.ts'

let node: NodeProcess
const check = badInput(() => node)

beforeAll(async () => {
  node = await startNode()
  // A real znode next to the bad paths, so "a/../b" would have somewhere to land.
  expect((await fetch(`${node.url}/znodes/a`, { method: 'PUT', body: 'a' })).status).toBe(201)
  expect((await fetch(`${node.url}/znodes/b`, { method: 'PUT', body: 'b' })).status).toBe(201)
})
afterAll(() => stopAll([node]))

const badArguments = { status: 400, code: 'BadArguments' } as const

/**
 * Each bad target, tried with every method that names a znode; as a
 * sequential create's prefix too, unless a trailing slash (which a
 * sequential prefix may have) is the only fault.
 */
async function refusedEverywhere(target: string, isBadPrefix = true): Promise<void> {
  await check.rejectsRaw(`PUT ${target}`, { method: 'PUT', target, body: 'x' }, badArguments)
  if (isBadPrefix) await check.rejectsRaw(`PUT ${target}?sequential`, { method: 'PUT', target: `${target}?sequential`, body: 'x' }, badArguments)
  await check.rejectsRaw(`GET ${target}`, { method: 'GET', target }, badArguments)
  await check.rejectsRaw(`DELETE ${target}`, { method: 'DELETE', target }, badArguments)
}

describe('dot segments, slashes and backslashes are refused, never normalised', () => {
  it.each([
    '/znodes/a/../b',
    '/znodes/a/%2e%2e/b',
    '/znodes/a/%2E%2e/secret',
    '/znodes/a/%2e%2E',
    '/znodes/a/./b',
    '/znodes/a/%2e/b',
    '/znodes/a/..',
    '/znodes/..',
    '/znodes/a\\b',
    '/znodes\\a',
    '/znodes/a%5cb/..',
    '/znodes/a%2fb',
    '/znodes/a%2Fb',
    '/znodes//a',
    '/znodes/a//b',
  ])('%s', async (target) => {
    await refusedEverywhere(target)
  })

  it('/znodes/a/ (a trailing slash, which only a sequential prefix may have)', async () => {
    await refusedEverywhere('/znodes/a/', false)
  })

  it('a target that is not /znodes (//a, a missing leading slash, *) is a 4xx problem too', async () => {
    await check.rejectsRaw('PUT //a', { method: 'PUT', target: '//a', body: 'x' }, { status: [400, 404], code: ['BadArguments', 'NotFound'] })
    await check.rejectsRaw('PUT znodes/a', { method: 'PUT', target: 'znodes/a', body: 'x' }, badArguments)
    await check.rejectsRaw('GET *', { method: 'GET', target: '*' }, badArguments)
    await check.rejectsRaw('GET empty path', 'GET  HTTP/1.1\r\nHost: x\r\n\r\n', badArguments)
  })

  it('the znodes those paths might have been normalised to are untouched', async () => {
    const a = (await (await fetch(`${node.url}/znodes/a`)).json()) as { data: string; stat: { version: number } }
    const b = (await (await fetch(`${node.url}/znodes/b`)).json()) as { data: string; stat: { version: number } }
    expect([a.data, a.stat.version, b.data, b.stat.version]).toEqual(['a', 0, 'b', 0])
    expect((await fetch(`${node.url}/znodes/secret`)).status).toBe(404)
    await check.isAlive()
  })
})

describe('characters ZooKeeper forbids in a path', () => {
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0')
  const controls = Array.from({ length: 0x1f }, (_, i) => `%${hex(i + 1)}`)
  // U+007F, then U+0080..U+009F as UTF-8 (C2 80 .. C2 9F).
  const c1 = ['%7F', ...Array.from({ length: 0x20 }, (_, i) => `%C2%${hex(0x80 + i)}`)]

  it('NUL', async () => {
    await refusedEverywhere('/znodes/%00')
    await refusedEverywhere('/znodes/a%00b')
  })

  it.each([
    ['U+0001..U+001F', controls],
    ['U+007F..U+009F', c1],
  ])('every control character %s', async (_range, encoded) => {
    for (const code of encoded) {
      await check.rejectsRaw(`PUT x${code}`, { method: 'PUT', target: `/znodes/x${code}`, body: 'x' }, badArguments)
      await check.rejectsRaw(`GET x${code}`, { method: 'GET', target: `/znodes/a/x${code}y` }, badArguments)
    }
  })

  it.each([
    ['a lone surrogate', '%ED%A0%80'],
    ['a surrogate pair (ZooKeeper refuses every surrogate)', '%F0%9F%98%80'],
    ['U+FFFE', '%EF%BF%BE'],
    ['U+FFFF', '%EF%BF%BF'],
    ['U+E000 (private use, in ZooKeeper\'s refused range)', '%EE%80%80'],
    ['invalid UTF-8 %ff', '%ff'],
    ['an overlong encoding of "."', '%c0%ae'],
    ['a truncated sequence', '%E2%82'],
    ['a bare %', '%'],
    ['a bad escape %zz', '%zz'],
  ])('%s', async (_name, encoded) => {
    await refusedEverywhere(`/znodes/x${encoded}`)
  })

  it('raw control bytes in the request line are refused by the HTTP parser, still as problem+json', async () => {
    await check.rejectsRaw('raw NUL', Buffer.from('PUT /znodes/a\x00b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx', 'latin1'), badArguments)
    await check.rejectsRaw('raw 0x7f', Buffer.from('PUT /znodes/a\x7fb HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx', 'latin1'), badArguments)
    await check.isAlive()
  })
})

describe('look-alikes are distinct znodes, taken literally', () => {
  it('NFC "café" and NFD "café" are two znodes, both there', async () => {
    const nfc = '/znodes/caf%C3%A9'
    const nfd = '/znodes/cafe%CC%81'
    expect((await rawExchange(node.port, { method: 'PUT', target: nfc, headers: [['If-None-Match', '*']], body: 'nfc' })).response?.status).toBe(201)
    expect((await rawExchange(node.port, { method: 'PUT', target: nfd, headers: [['If-None-Match', '*']], body: 'nfd' })).response?.status).toBe(201)
    expect((await rawExchange(node.port, { target: `${nfc}?raw` })).response?.text()).toBe('nfc')
    expect((await rawExchange(node.port, { target: `${nfd}?raw` })).response?.text()).toBe('nfd')
    const children = (await (await fetch(`${node.url}/znodes/?children`)).json()) as { children: string[] }
    expect(children.children).toContain('caf\u00e9')
    expect(children.children).toContain('cafe\u0301')
    // A fullwidth solidus is a name character, not a separator.
    expect((await rawExchange(node.port, { method: 'PUT', target: '/znodes/a%EF%BC%8Fb', body: 'w' })).response?.status).toBe(201)
    expect((await fetch(`${node.url}/znodes/a/b`)).status).toBe(404)
  })
})

describe('size and depth', () => {
  it('a 64 KiB path is refused before any route (header block too large), as problem+json', async () => {
    const target = '/znodes/' + 'p'.repeat(64 * 1024)
    const problem = await check.rejectsRaw('PUT 64 KiB path', { method: 'PUT', target, body: 'x' }, { status: [400, 413, 414, 431], code: ['PayloadTooLarge', 'BadArguments'] })
    expect(problem.headers['connection']).toBe('close')
    await check.rejectsRaw('GET 64 KiB path', { target }, { status: [400, 413, 414, 431], code: ['PayloadTooLarge', 'BadArguments'] })
  })

  it('a path over pathBytesMax (4096) that fits in the headers is 400', async () => {
    await refusedEverywhere('/znodes/' + 'p'.repeat(5000))
    await refusedEverywhere('/znodes' + '/d'.repeat(3000))
  })

  it('a 10 000-level path, in the URL and in a multi body', async () => {
    const deep = '/d'.repeat(10_000)
    await check.rejectsRaw('PUT 10 000 levels', { method: 'PUT', target: `/znodes${deep}`, body: 'x' }, { status: [400, 413, 414, 431], code: ['PayloadTooLarge', 'BadArguments'] })
    await check.rejects(
      'multi create 10 000 levels',
      () => fetch(`${node.url}/multi`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops: [{ op: 'create', path: deep }] }) }),
      badArguments,
    )
    await check.rejects(
      'multi-read 10 000 levels',
      () => fetch(`${node.url}/multi-read`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops: [{ op: 'getData', path: deep }] }) }),
      badArguments,
    )
    await check.isAlive()
  })
})

describe('/zookeeper is reserved: reads work, writes are 400 and cost nothing', () => {
  it('reads', async () => {
    const children = (await (await fetch(`${node.url}/znodes/zookeeper?children`)).json()) as { children: string[] }
    expect(children.children).toEqual(['config', 'quota'])
    expect((await fetch(`${node.url}/znodes/zookeeper/config`)).status).toBe(200)
  })

  it.each([
    ['PUT /zookeeper', { method: 'PUT', target: '/znodes/zookeeper', body: 'x' }],
    ['PUT /zookeeper/quota (upsert of an existing znode)', { method: 'PUT', target: '/znodes/zookeeper/quota', body: 'x' }],
    ['PUT /zookeeper/config If-Match *', { method: 'PUT', target: '/znodes/zookeeper/config', headers: [['If-Match', '*']], body: 'x' }],
    ['PUT /zookeeper/new If-None-Match *', { method: 'PUT', target: '/znodes/zookeeper/new', headers: [['If-None-Match', '*']], body: 'x' }],
    ['PUT /zookeeper/?sequential', { method: 'PUT', target: '/znodes/zookeeper/?sequential', body: 'x' }],
    ['PUT /zookeeper?acl', { method: 'PUT', target: '/znodes/zookeeper?acl', headers: [['Content-Type', 'application/json']], body: '{"acl":[{"scheme":"world","id":"anyone","perms":"r"}]}' }],
    ['DELETE /zookeeper/quota', { method: 'DELETE', target: '/znodes/zookeeper/quota' }],
    ['DELETE /zookeeper', { method: 'DELETE', target: '/znodes/zookeeper' }],
  ] as const)('%s', async (name, request) => {
    await check.rejectsRaw(name, request, badArguments)
  })

  it('multi writes under /zookeeper', async () => {
    for (const op of [
      { op: 'create', path: '/zookeeper/m' },
      { op: 'create', path: '/zookeeper/', sequential: true },
      { op: 'create', path: '/zookeeper/q-', sequential: true },
      { op: 'setData', path: '/zookeeper/quota', data: 'x' },
      { op: 'delete', path: '/zookeeper/config' },
    ]) {
      await check.rejects(
        `multi ${JSON.stringify(op)}`,
        () => fetch(`${node.url}/multi`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops: [{ op: 'create', path: '/fine' }, op] }) }),
        badArguments,
      )
    }
    expect((await fetch(`${node.url}/znodes/fine`)).status).toBe(404)
    // A check only reads, so it may name /zookeeper (ZooKeeper allows it).
    const before = await treeState(node.url)
    const response = await fetch(`${node.url}/multi`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops: [{ op: 'check', path: '/zookeeper' }] }) })
    expect(response.status).toBe(200)
    expect((await treeState(node.url)).digest).toBe(before.digest)
    await check.isAlive()
  })
})
