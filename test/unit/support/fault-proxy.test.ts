// The fault proxy the cluster tests route every peer link through
// (RELIABILITY.md, "Network faults"): each mode checked with real sockets on
// loopback, so a fault the cluster tests rely on is known to do what it says
// before a replica's behaviour under it is judged. Bounds are lower bounds
// or generous upper ones: a loaded 2-core machine may be slow, never early.
import { createHook } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { createServer as createHttpServer } from 'node:http'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { LinkTable, startFaultProxy, type FaultProxy, type Target } from '../../support/fault-proxy.ts'

const cleanups: Array<() => Promise<void> | void> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function listen(server: Server): Promise<Target> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const address = server.address()
  if (address === null || typeof address !== 'object') throw new Error('no address')
  return { host: '127.0.0.1', port: address.port }
}

async function proxyTo(target: Target | null, seed?: number): Promise<FaultProxy> {
  const proxy = await startFaultProxy(target, seed === undefined ? {} : { seed })
  cleanups.push(() => proxy.close())
  return proxy
}

/** A TCP target that keeps every accepted socket and everything it received on it. */
interface Recorder {
  readonly target: Target
  readonly sockets: Socket[]
  received(index: number): Buffer
}

async function recorder(onSocket: (socket: Socket) => void = () => {}): Promise<Recorder> {
  const sockets: Socket[] = []
  const chunks: Buffer[][] = []
  const server = createServer((socket) => {
    const mine: Buffer[] = []
    sockets.push(socket)
    chunks.push(mine)
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => mine.push(chunk))
    onSocket(socket)
  })
  const target = await listen(server)
  // Runs before the listener's close, which waits for these sockets.
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy()
  })
  return { target, sockets, received: (index) => Buffer.concat(chunks[index] ?? []) }
}

async function echo(): Promise<Target> {
  return (await recorder((socket) => socket.pipe(socket))).target
}

async function dial(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  cleanups.push(() => {
    socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return socket
}

/** Everything the socket receives until it ends or closes. */
function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))))
}

/** Resolves with the socket's first error code ('none' for a plain close) once it is closed. */
function closedWith(socket: Socket): Promise<string> {
  let code = 'none'
  socket.on('error', (error: NodeJS.ErrnoException) => {
    if (code === 'none') code = error.code ?? 'unknown'
  })
  socket.resume()
  return new Promise((resolve) => (socket.closed ? resolve(code) : socket.once('close', () => resolve(code))))
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

describe('pass', () => {
  it('carries 8 MiB each way byte for byte, and a half-close after it', async () => {
    const toTarget = randomBytes(8 * 1024 * 1024)
    const toClient = randomBytes(8 * 1024 * 1024)
    // The target ends its side once the client's end arrives (allowHalfOpen is off).
    const target = await recorder((socket) => socket.write(toClient))
    const proxy = await proxyTo(target.target)
    const client = await dial(proxy.port)
    const received = readAll(client)
    client.end(toTarget)
    expect((await received).equals(toClient)).toBe(true)
    await until(() => target.sockets[0]?.readableEnded === true, 'the target to see the end')
    expect(target.received(0).equals(toTarget)).toBe(true)
  })
})

describe('blackhole', () => {
  it('stalls a keep-alive HTTP connection already open, and lets it carry on after the heal', async () => {
    const seen: string[] = []
    const server = createHttpServer((request, response) => {
      seen.push(`${request.url} from ${request.socket.remotePort}`)
      response.end(`ok ${request.url}`)
    })
    const proxy = await proxyTo(await listen(server))
    const client = new Client(`http://127.0.0.1:${proxy.port}`, { keepAliveTimeout: 60_000 })
    cleanups.push(() => client.destroy())
    const first = await client.request({ path: '/1', method: 'GET' })
    expect(await first.body.text()).toBe('ok /1')
    expect(proxy.connections()).toBe(1)

    proxy.setMode({ kind: 'blackhole' })
    let isAnswered = false
    const second = client.request({ path: '/2', method: 'GET', headersTimeout: 30_000 })
    void second.then(() => (isAnswered = true), () => {})
    await sleep(500)
    expect({ isAnswered, seen: seen.length }).toEqual({ isAnswered: false, seen: 1 })

    proxy.setMode({ kind: 'pass' })
    expect(await (await second).body.text()).toBe('ok /2')
    // The same connection carried both: the held request went through it, not a new one.
    const port = seen[0]?.split(' from ')[1]
    expect(seen).toEqual([`/1 from ${port}`, `/2 from ${port}`])
    expect(proxy.connections()).toBe(1)
  })

  it('holds a new connection so a request times out (no fast failure), and a request after the heal succeeds', async () => {
    const seen: string[] = []
    const server = createHttpServer((request, response) => {
      seen.push(request.url ?? '')
      response.end('ok')
    })
    const proxy = await proxyTo(await listen(server))
    proxy.setMode({ kind: 'blackhole' })
    const client = new Client(`http://127.0.0.1:${proxy.port}`)
    cleanups.push(() => client.destroy())
    const startedMs = performance.now()
    const error = await client.request({ path: '/held', method: 'GET', headersTimeout: 300 }).then(() => null, (caught: { code?: string }) => caught)
    expect(error?.code).toBe('UND_ERR_HEADERS_TIMEOUT')
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(290)
    expect(seen).toEqual([])

    proxy.setMode({ kind: 'pass' })
    const after = await client.request({ path: '/after', method: 'GET', headersTimeout: 10_000 })
    expect(await after.body.text()).toBe('ok')
    expect(seen).toContain('/after')
  })

  it('forward only: nothing reaches the target, new connections included, while its replies still reach the client', async () => {
    const target = await recorder()
    const proxy = await proxyTo(target.target)
    const client = await dial(proxy.port)
    await until(() => target.sockets.length === 1, 'the target to accept')
    const fromTarget: Buffer[] = []
    client.on('data', (chunk: Buffer) => fromTarget.push(chunk))

    proxy.setMode({ kind: 'blackhole' }, 'forward')
    expect(proxy.mode()).toEqual({ forward: { kind: 'blackhole' }, backward: { kind: 'pass' } })
    client.write('request')
    target.sockets[0]?.write('reply')
    await until(() => Buffer.concat(fromTarget).toString() === 'reply', 'the reply to reach the client')
    await dial(proxy.port)
    await sleep(300)
    expect({ received: target.received(0).toString(), accepted: target.sockets.length }).toEqual({ received: '', accepted: 1 })

    proxy.setMode({ kind: 'pass' }, 'forward')
    await until(() => target.received(0).toString() === 'request', 'the held request after the heal')
    await until(() => target.sockets.length === 2, 'the held connection to reach the target')
  })
})

describe('reject', () => {
  it('resets the open connections on both sides when set', async () => {
    const target = await recorder((socket) => socket.pipe(socket))
    const proxy = await proxyTo(target.target)
    const client = await dial(proxy.port)
    client.write('hello')
    await new Promise((resolve) => client.once('data', resolve))
    const clientClosed = closedWith(client)
    const targetSide = target.sockets[0] as Socket
    const targetClosed = new Promise((resolve) => (targetSide.closed ? resolve(null) : targetSide.once('close', resolve)))

    proxy.setMode({ kind: 'reject' })
    expect(await clientClosed).toBe('ECONNRESET')
    await targetClosed
    await until(() => proxy.connections() === 0, 'the proxy to forget the connection')
  })

  it('resets new connections at once, without ever connecting to the target', async () => {
    const target = await recorder()
    const proxy = await proxyTo(target.target)
    proxy.setMode({ kind: 'reject' })
    const startedMs = performance.now()
    const client = connect({ host: '127.0.0.1', port: proxy.port })
    cleanups.push(() => {
      client.destroy()
    })
    expect(await closedWith(client)).toBe('ECONNRESET')
    // A blackhole would hold it forever; 3 s is far above a reset even on a loaded machine.
    expect(performance.now() - startedMs).toBeLessThan(3_000)
    expect(target.sockets).toHaveLength(0)
    expect(proxy.connections()).toBe(0)
  })
})

describe('delay', () => {
  it('adds at least the delay each way and keeps the order of the bytes despite the jitter', async () => {
    const proxy = await proxyTo(await echo())
    proxy.setMode({ kind: 'delay', ms: 150, jitterMs: 100 })
    const client = await dial(proxy.port)
    const chunks: Buffer[] = []
    let firstByteMs = 0
    client.on('data', (chunk: Buffer) => {
      if (chunks.length === 0) firstByteMs = performance.now()
      chunks.push(chunk)
    })
    const sent: string[] = []
    const startedMs = performance.now()
    for (let i = 0; i < 40; i++) {
      const message = `message ${String(i).padStart(2, '0')};`
      sent.push(message)
      client.write(message)
      await sleep(3)
    }
    await until(() => Buffer.concat(chunks).length === sent.join('').length, 'every echo')
    expect(Buffer.concat(chunks).toString()).toBe(sent.join(''))
    // Out and back: two delays of at least 150 ms (a millisecond of slack for timer rounding).
    expect(firstByteMs - startedMs).toBeGreaterThanOrEqual(299)
  })
})

describe('garble', () => {
  it('flips bytes in the chosen direction and leaves the other one intact', async () => {
    const zeros = Buffer.alloc(64 * 1024)
    const target = await recorder((socket) => socket.write(zeros))
    const proxy = await proxyTo(target.target, 42)
    proxy.setMode({ kind: 'garble', probability: 1 }, 'forward')
    const client = await dial(proxy.port)
    const back: Buffer[] = []
    client.on('data', (chunk: Buffer) => back.push(chunk))
    for (let i = 0; i < 16; i++) client.write(zeros.subarray(0, 4096))
    await until(() => target.received(0).length === zeros.length, 'every forwarded byte')
    await until(() => Buffer.concat(back).length === zeros.length, 'every byte back')
    const flipped = [...target.received(0)].filter((byte) => byte !== 0).length
    // One byte per chunk with probability 1: at least one, at most one per write.
    expect(flipped).toBeGreaterThanOrEqual(1)
    expect(flipped).toBeLessThanOrEqual(16)
    expect(Buffer.concat(back).equals(zeros)).toBe(true)
  })
})

describe('drop', () => {
  /** '1' for a connection whose echo came back, '0' for one the proxy dropped. */
  async function dropPattern(seed: number): Promise<string> {
    const proxy = await proxyTo(await echo(), seed)
    proxy.setMode({ kind: 'drop', probability: 0.5 })
    let pattern = ''
    for (let i = 0; i < 16; i++) {
      const client = connect({ host: '127.0.0.1', port: proxy.port })
      const closed = closedWith(client)
      const echoed = new Promise<string>((resolve) => client.once('data', () => resolve('1')))
      client.write('x')
      pattern += await Promise.race([echoed, closed.then(() => '0')])
      client.destroy()
      await closed
    }
    await proxy.close()
    return pattern
  }

  it('drops connections at random, and the same seed drops the same ones', async () => {
    const pattern = await dropPattern(7)
    expect(pattern).toMatch(/0/)
    expect(pattern).toMatch(/1/)
    expect(await dropPattern(7)).toBe(pattern)
  })
})

describe('close', () => {
  /**
   * Timers made from now on and not yet fired or cleared. (async_hooks sees a
   * timer's end at once, but a TCP handle's only when it is garbage collected,
   * so sockets are counted with getActiveResourcesInfo instead.)
   */
  function trackTimers(): () => number {
    const live = new Set<number>()
    const hook = createHook({
      init: (id, type) => {
        if (type === 'Timeout') live.add(id)
      },
      destroy: (id) => {
        live.delete(id)
      },
    }).enable()
    cleanups.push(() => {
      hook.disable()
    })
    return () => live.size
  }

  function tcpHandles(): string {
    return process
      .getActiveResourcesInfo()
      .filter((name) => name.startsWith('TCP'))
      .sort()
      .join()
  }

  it('closes the listener and every connection, held and delayed ones included, and leaves no socket or timer behind', async () => {
    const target = await recorder()
    const timers = trackTimers()
    const proxy = await startFaultProxy(target.target)
    const delayed = await dial(proxy.port)
    await until(() => target.sockets.length === 1, 'the target to accept')
    proxy.setMode({ kind: 'delay', ms: 60_000, jitterMs: 0 }, 'forward')
    delayed.write('queued behind a one-minute timer')
    proxy.setMode({ kind: 'blackhole' }, 'backward')
    const held = await dial(proxy.port)
    await until(() => proxy.connections() === 2, 'both connections to be counted')
    expect(timers()).toBeGreaterThanOrEqual(1)
    const closings = [closedWith(delayed), closedWith(held), closedWith(target.sockets[0] as Socket)]

    await proxy.close()
    await Promise.all(closings)
    expect(await closedWith(connect({ host: '127.0.0.1', port: proxy.port }))).toBe('ECONNREFUSED')
    // Only the target's own listener may stay (a closed handle goes a loop turn later, hence the wait).
    await until(() => tcpHandles() === 'TCPServerWrap' && timers() === 0, `no socket and no timer of the proxy's: ${tcpHandles()}, ${timers()} timers`)
    expect(proxy.connections()).toBe(0)
    expect(target.received(0).length).toBe(0)
  })
})

describe('LinkTable', () => {
  it('partitions three replicas into a majority and a minority: blackhole across, pass inside', async () => {
    const table = await LinkTable.start([1, 2, 3])
    cleanups.push(() => table.close())
    table.partition([[1, 2], [3]])
    expect(table.describe()).toBe(['1->2 pass', '1->3 blackhole', '2->1 pass', '2->3 blackhole', '3->1 blackhole', '3->2 blackhole'].join('\n'))
    table.heal()
    expect(table.describe()).not.toMatch(/blackhole/)
  })

  it('partitions five replicas 2 | 3, and a later partition replaces the earlier one', async () => {
    const table = await LinkTable.start([1, 2, 3, 4, 5])
    cleanups.push(() => table.close())
    table.partition([[1], [2, 3, 4, 5]])
    table.partition([
      [1, 2],
      [3, 4, 5],
    ])
    const expected = [1, 2, 3, 4, 5].flatMap((from) =>
      [1, 2, 3, 4, 5].filter((to) => to !== from).map((to) => `${from}->${to} ${(from <= 2) === (to <= 2) ? 'pass' : 'blackhole'}`),
    )
    expect(table.describe().split('\n')).toEqual(expected)
    expect(table.describe().match(/blackhole/g)).toHaveLength(12)
  })

  it('cuts one direction with oneWay, on the connections either side opens', async () => {
    const table = await LinkTable.start([1, 2, 3])
    cleanups.push(() => table.close())
    table.oneWay(1, 3, { kind: 'blackhole' })
    expect(table.describe()).toBe(
      ['1->2 pass', '1->3 forward=blackhole backward=pass', '2->1 pass', '2->3 pass', '3->1 forward=pass backward=blackhole', '3->2 pass'].join('\n'),
    )
    table.isolate(2)
    expect(table.describe()).toBe(
      ['1->2 blackhole', '1->3 forward=blackhole backward=pass', '2->1 blackhole', '2->3 blackhole', '3->1 forward=pass backward=blackhole', '3->2 blackhole'].join('\n'),
    )
  })

  it('refuses groups that miss a replica or name one twice', async () => {
    const table = await LinkTable.start([1, 2, 3])
    cleanups.push(() => table.close())
    expect(() => table.partition([[1, 2]])).toThrow(/cover/)
    expect(() => table.partition([[1, 2], [2, 3]])).toThrow(/two groups/)
  })

  it('routes each link to the replica it names, and a partition really stops the bytes', async () => {
    const table = await LinkTable.start([1, 2, 3])
    cleanups.push(() => table.close())
    for (const id of [1, 2, 3]) {
      const replica = await recorder((socket) => socket.end(`replica ${id}`))
      table.setTarget(id, replica.target)
    }
    const answer = async (from: number, to: number): Promise<string> => (await readAll(await dial(table.address(from, to).port))).toString()
    expect(await answer(1, 3)).toBe('replica 3')
    expect(await answer(3, 2)).toBe('replica 2')

    table.partition([[1, 2], [3]])
    expect(await answer(2, 1)).toBe('replica 1')
    const cut = await dial(table.address(1, 3).port)
    const cutAnswer = readAll(cut)
    let isAnswered = false
    void cutAnswer.then(() => (isAnswered = true))
    await sleep(300)
    expect(isAnswered).toBe(false)
    table.heal()
    expect((await cutAnswer).toString()).toBe('replica 3')
  })
})
