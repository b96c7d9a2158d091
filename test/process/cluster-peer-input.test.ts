// Bad input on the peer port of real replicas (RELIABILITY.md, "Peer port":
// reject non-members, fuzz every decoder; the contract: bad input gets a
// clear 4xx, changes nothing, crashes nothing). Each request below goes to
// the leader's peer port and to a follower's, straight, not through any
// proxy: no secret or a wrong one (401), a sender that is not a member or
// not a number (403), the wrong target (421), the wrong method (405),
// garbage and truncated encodings, values nested too deep or declaring more
// items than they hold, well-encoded messages of the wrong shape or naming
// another sender, unknown methods and routes, a declared length far beyond
// the limit (413 at once, before any body), and a body cut short by the
// sender. Every one is refused with a 4xx (or, when the sender went away
// first, with nothing), nothing is committed by them, and afterwards every
// replica is alive, serves writes through itself and agrees on the digest.
import { crc32 } from 'node:zlib'
import { afterAll, expect, it } from 'vitest'
import { encodeValue } from '../../src/replication/peer/value-codec.ts'
import { clusterSecret, TestCluster } from '../support/cluster-process.ts'
import { RawConnection, rawExchange, requestBytes, type RawResponse } from '../support/raw-http.ts'

let cluster: TestCluster | null = null
afterAll(async () => {
  await cluster?.stop()
})

type Headers = ReadonlyArray<readonly [string, string]>

const peerHeaders = (from: number, to: number, secret = clusterSecret): Headers => [
  ['x-herd-secret', secret],
  ['x-herd-from', String(from)],
  ['x-herd-to', String(to)],
  ['content-type', 'application/octet-stream'],
]

interface Case {
  readonly name: string
  readonly target: string
  readonly method?: string
  readonly headers: (self: number, member: number) => Headers
  readonly body?: Buffer | ((self: number, member: number) => Buffer)
  /** The body's crc32 header: right (the default, so that the decoders behind it are what is tested), wrong or left out. */
  readonly checksum?: 'wrong' | 'none'
  readonly status: number
  /** The problem code the refusal carries. */
  readonly code?: string
}

/** Tag bytes of the value codec (src/replication/peer/value-codec.ts). */
const tag = { null: 0, uint: 3, string: 6, bytes: 7, array: 8, object: 9 } as const

/** [[[…[null]…]]] 40 deep; encodeValue refuses to nest that deep itself, so the bytes are built by hand. */
const deeplyNested = (): Buffer => {
  const bytes: number[] = []
  for (let i = 0; i < 40; i++) bytes.push(tag.array, 1)
  bytes.push(tag.null)
  return Buffer.from(bytes)
}

const bytesOf = (value: unknown): Buffer => Buffer.from(encodeValue(value))

const cases: readonly Case[] = [
  { name: 'no secret', target: '/raft', headers: (self, member) => peerHeaders(member, self).filter(([name]) => name !== 'x-herd-secret'), body: bytesOf([]), status: 401, code: 'AuthFailed' },
  { name: 'a wrong secret of the same length', target: '/raft', headers: (self, member) => peerHeaders(member, self, clusterSecret.replace(/.$/, 'X')), body: bytesOf([]), status: 401, code: 'AuthFailed' },
  { name: 'a wrong, short secret', target: '/call/heartbeat', headers: (self, member) => peerHeaders(member, self, 'x'), body: bytesOf({}), status: 401, code: 'AuthFailed' },
  { name: 'an empty secret', target: '/raft', headers: (self, member) => peerHeaders(member, self, ''), body: bytesOf([]), status: 401, code: 'AuthFailed' },
  { name: 'a sender that is not a member', target: '/raft', headers: (self) => peerHeaders(9, self), body: bytesOf([]), status: 403, code: 'NoAuth' },
  { name: 'a sender that is not a number', target: '/call/propose', headers: (self) => [...peerHeaders(0, self).filter(([name]) => name !== 'x-herd-from'), ['x-herd-from', '1e0x']], body: bytesOf([]), status: 403, code: 'NoAuth' },
  { name: 'no sender', target: '/raft', headers: (self, member) => peerHeaders(member, self).filter(([name]) => name !== 'x-herd-from'), body: bytesOf([]), status: 403, code: 'NoAuth' },
  { name: 'a vote request with a huge term from a non-member', target: '/raft', headers: (self) => peerHeaders(9, self), body: (self) => bytesOf([{ type: 'vote', from: 9, to: self, term: 1_000_000, lastIndex: 1_000_000, lastTerm: 1_000_000 }]), status: 403, code: 'NoAuth' },
  { name: 'another replica as the target', target: '/raft', headers: (self, member) => peerHeaders(member, self === 1 ? 2 : 1), body: bytesOf([]), status: 421 },
  { name: 'a GET', method: 'GET', target: '/raft', headers: (self, member) => peerHeaders(member, self), status: 405 },
  { name: 'an empty body', target: '/raft', headers: (self, member) => peerHeaders(member, self), body: Buffer.alloc(0), status: 400, code: 'MarshallingError' },
  { name: 'garbage bytes', target: '/raft', headers: (self, member) => peerHeaders(member, self), body: Buffer.from('\xff\xfe garbage {"type":"append"}', 'latin1'), status: 400, code: 'MarshallingError' },
  { name: 'JSON instead of the value codec', target: '/call/propose', headers: (self, member) => peerHeaders(member, self), body: Buffer.from('[{"type":"append"}]'), status: 400, code: 'MarshallingError' },
  { name: 'a truncated encoding', target: '/raft', headers: (self, member) => peerHeaders(member, self), body: bytesOf([{ type: 'heartbeat', from: 1, to: 2, term: 5, commit: 10 }]).subarray(0, 12), status: 400, code: 'MarshallingError' },
  { name: 'trailing bytes after a value', target: '/raft', headers: (self, member) => peerHeaders(member, self), body: Buffer.concat([bytesOf([]), Buffer.from([0, 0, 0])]), status: 400, code: 'MarshallingError' },
  { name: 'a value nested 40 deep', target: '/raft', headers: (self, member) => peerHeaders(member, self), body: deeplyNested, status: 400, code: 'MarshallingError' },
  { name: 'an array declaring 2^40 items', target: '/raft', headers: (self, member) => peerHeaders(member, self), body: Buffer.from([tag.array, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, tag.null]), status: 400, code: 'MarshallingError' },
  { name: 'a string declaring 2^31 bytes', target: '/call/heartbeat', headers: (self, member) => peerHeaders(member, self), body: Buffer.from([tag.string, 0x80, 0x80, 0x80, 0x80, 0x08, 0x41]), status: 400, code: 'MarshallingError' },
  { name: 'an unknown tag', target: '/raft', headers: (self, member) => peerHeaders(member, self), body: Buffer.from([42]), status: 400, code: 'MarshallingError' },
  { name: 'consensus messages that are not an array', target: '/raft', headers: (self, member) => peerHeaders(member, self), body: bytesOf({ type: 'heartbeat' }), status: 400, code: 'MarshallingError' },
  { name: 'a message of no known type', target: '/raft', headers: (self, member) => peerHeaders(member, self), body: bytesOf([{ type: 'takeover', from: 1, to: 1, term: 1 }]), status: 400, code: 'MarshallingError' },
  // The body says it comes from another member than the header does.
  { name: 'a message naming another sender', target: '/raft', headers: (self, member) => peerHeaders(member, self), body: (self) => bytesOf([{ type: 'heartbeat', from: 77, to: self, term: 1, commit: 0 }]), status: 400, code: 'MarshallingError' },
  { name: 'forwarded writes that are not an array', target: '/call/propose', headers: (self, member) => peerHeaders(member, self), body: bytesOf('write me'), status: 400, code: 'MarshallingError' },
  { name: 'forwarded writes that are not bytes', target: '/call/propose', headers: (self, member) => peerHeaders(member, self), body: bytesOf([{ path: '/x' }]), status: 400, code: 'MarshallingError' },
  { name: 'a heartbeat without a session', target: '/call/heartbeat', headers: (self, member) => peerHeaders(member, self), body: bytesOf({ secret: 'x' }), status: 400, code: 'MarshallingError' },
  // zxid 1 is the first leader's noop, not a session: SessionExpired (a session id past this replica's state would be a retryable 503 on a follower).
  { name: 'a heartbeat for no session', target: '/call/heartbeat', headers: (self, member) => peerHeaders(member, self), body: bytesOf({ sessionId: 1, secret: 'x' }), status: 409, code: 'SessionExpired' },
  { name: 'an unknown method', target: '/call/becomeLeader', headers: (self, member) => peerHeaders(member, self), body: bytesOf(null), status: 400 },
  { name: 'an unknown route', target: '/admin', headers: (self, member) => peerHeaders(member, self), body: bytesOf(null), status: 404 },
  // A message changed on its way (its checksum no longer matches) is never stepped: this one would have started an election.
  {
    name: 'a vote request with a huge term whose checksum does not match',
    target: '/raft',
    headers: (self, member) => peerHeaders(member, self),
    body: (self, member) => bytesOf([{ type: 'vote', from: member, to: self, term: 1_000_000, lastIndex: 1_000_000, lastTerm: 1_000_000 }]),
    checksum: 'wrong',
    status: 400,
    code: 'MarshallingError',
  },
  { name: 'a forwarded write without a checksum', target: '/call/propose', headers: (self, member) => peerHeaders(member, self), body: bytesOf([]), checksum: 'none', status: 400, code: 'MarshallingError' },
]

async function exchange(port: number, method: string, target: string, headers: Headers, body: Buffer | undefined): Promise<RawResponse | null> {
  const { response } = await rawExchange(port, { method, target, host: '127.0.0.1', headers, ...(body === undefined ? {} : { body }) }, 5000)
  return response
}

function codeOf(response: RawResponse): string | undefined {
  try {
    return (response.json() as { code?: string }).code
  } catch {
    return undefined
  }
}

it('refuses bad peer requests with a 4xx, commits nothing for them, and keeps serving and committing', async () => {
  cluster = await TestCluster.start({ size: 3 })
  const leader = await cluster.leader()
  const follower = cluster.ids.find((id) => id !== leader) as number
  expect((await fetch(`${cluster.url(leader)}/znodes/pi`, { method: 'PUT', body: '' })).status).toBe(201)
  const [before] = await cluster.converged()

  for (const self of [leader, follower]) {
    const member = cluster.ids.find((id) => id !== self) as number
    const port = cluster.peerPort(self)
    for (const each of cases) {
      const body = typeof each.body === 'function' ? each.body(self, member) : each.body
      const sum = crc32(body ?? Buffer.alloc(0))
      const headers: Headers =
        each.checksum === 'none' ? each.headers(self, member) : [...each.headers(self, member), ['x-herd-crc32', String(each.checksum === 'wrong' ? (sum + 1) >>> 0 : sum)]]
      const response = await exchange(port, each.method ?? 'POST', each.target, headers, body)
      expect(response, `${each.name} (replica ${self})`).not.toBeNull()
      expect(response?.status, `${each.name} (replica ${self}): ${response?.text()}`).toBe(each.status)
      if (each.code !== undefined) expect(codeOf(response as RawResponse), `${each.name} (replica ${self})`).toBe(each.code)
    }

    // A declared length far beyond the limit is refused at once, before any body arrives.
    const huge = await RawConnection.open(port)
    await huge.write(requestBytes({ method: 'POST', target: '/raft', host: '127.0.0.1', headers: [...peerHeaders(member, self), ['content-length', String(8 * 1024 * 1024 * 1024)]] }))
    await huge.write(Buffer.from([tag.array, 0]))
    const tooLarge = await huge.response(3000)
    huge.destroy()
    expect(tooLarge?.status, `a declared length of 8 GiB (replica ${self}): ${tooLarge?.text() ?? 'no answer within 3 s'}`).toBe(413)

    // A body cut short: the sender declares 1000 bytes, sends 10 and closes its side.
    const cut = await RawConnection.open(port)
    await cut.write(requestBytes({ method: 'POST', target: '/raft', host: '127.0.0.1', headers: [...peerHeaders(member, self), ['content-length', '1000']] }))
    await cut.write(bytesOf([{ type: 'heartbeat', from: member, to: self, term: 1, commit: 0 }]).subarray(0, 10))
    cut.socket.end()
    const truncated = await cut.response(3000)
    const isClosed = await cut.closed(3000)
    cut.destroy()
    // Either a 4xx or, as the sender is gone, the connection closed without an answer; never a 2xx or 5xx.
    if (truncated !== null) expect(truncated.status, `a body cut short (replica ${self}): ${truncated.text()}`).toBeGreaterThanOrEqual(400)
    if (truncated !== null) expect(truncated.status).toBeLessThan(500)
    else expect(isClosed).toBe(true)
  }

  // Nothing above committed anything, and nobody was disrupted into a new term.
  const after = await cluster.converged()
  for (const status of after) {
    expect(status.appliedZxid, `replica ${status.id}`).toBe(before?.appliedZxid)
    expect(status.digest).toBe(before?.digest)
    expect(status.term, `replica ${status.id}`).toBe(before?.term)
  }
  expect(await cluster.leader()).toBe(leader)

  // Every replica is alive and takes writes through itself; all agree.
  for (const id of cluster.ids) {
    expect(cluster.nodes.get(id)?.child.exitCode, `replica ${id} exited`).toBeNull()
    const response = await fetch(`${cluster.url(id)}/znodes/pi/after-${id}`, { method: 'PUT', body: `${id}`, signal: AbortSignal.timeout(10_000) })
    expect(response.status, `a write through replica ${id}`).toBe(201)
  }
  const statuses = await cluster.converged()
  expect(new Set(statuses.map((status) => status.digest)).size).toBe(1)
  expect(statuses[0]?.appliedZxid).toBe((before?.appliedZxid ?? 0) + 3)
  for (const id of cluster.ids) {
    const output = cluster.nodes.get(id)?.output() ?? ''
    expect(output, `replica ${id} logged an internal error`).not.toMatch(/peer request .* failed/)
  }
}, 60_000)
