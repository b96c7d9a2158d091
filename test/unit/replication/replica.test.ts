// The replica loop on one voter: entries are made durable before they are
// applied and answered, together when they arrive together, in zxid order,
// and a restart rebuilds exactly the same tree from snapshot + log.
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/clock.ts'
import { HerdError } from '../../../src/errors.ts'
import { Replica, type ReplicaOptions } from '../../../src/replication/index.ts'
import { MemoryStore, type LogStore } from '../../../src/storage/index.ts'
import { anonymous, openAcl, type Command } from '../../../src/tree/index.ts'

const opened: Replica[] = []
afterEach(async () => {
  for (const replica of opened.splice(0)) await replica.close()
})

function open(store: LogStore, overrides: Partial<ReplicaOptions> = {}): Replica {
  const replica = Replica.open({
    replicaId: 1,
    clientUrl: 'http://test',
    store,
    clock: new ManualClock(),
    tree: { znodesMax: 1_000_000, sessionsMax: 1000, ephemeralsPerSessionMax: 1000, idempotencyKeysMax: 1000 },
    proposalsPendingMax: 10_000,
    groupCommitEntriesMax: 1000,
    syncsInFlightMax: 1,
    writeTimeoutMs: 10_000,
    snapshotEntriesInterval: 1_000_000,
    onFatal: (error) => {
      throw error
    },
    ...overrides,
  })
  opened.push(replica)
  return replica
}

const put = (path: string, data = 'x'): Command => ({ type: 'put', path, data: new TextEncoder().encode(data), acl: openAcl })
const submit = (replica: Replica, command: Command) => replica.submit({ caller: anonymous, idempotency: null, command })

/** A store whose appends can be observed and held back. */
class WatchedStore extends MemoryStore {
  appends: number[] = []
  hold: Promise<void> | null = null
  fail: Error | null = null
  override async append(...args: Parameters<MemoryStore['append']>): Promise<void> {
    this.appends.push(args[0].length)
    if (this.fail !== null) throw this.fail
    if (this.hold !== null) await this.hold
    return super.append(...args)
  }
}

describe('group commit', () => {
  it('syncs writes that arrive in one turn together, applies them in zxid order, and answers each from its own apply', async () => {
    const store = new WatchedStore()
    const replica = open(store)
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => submit(replica, put(`/n${i}`))))
    expect(store.appends).toEqual([50])
    expect(results.map((r) => r.zxid)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    for (const [i, result] of results.entries()) {
      expect(result.applied.outcome.ok && result.applied.outcome.result.type === 'put' && result.applied.outcome.result.path).toBe(`/n${i}`)
    }
  })

  it('applies nothing before the store says the batch is durable', async () => {
    const store = new WatchedStore()
    let release = (): void => {}
    store.hold = new Promise((resolve) => (release = resolve))
    const replica = open(store)
    const write = submit(replica, put('/held'))
    await new Promise((resolve) => setImmediate(resolve))
    expect(store.appends).toEqual([1])
    expect(replica.tree.exists('/held')).toBeUndefined()
    expect(replica.appliedZxid).toBe(0)
    store.hold = null
    release()
    expect((await write).zxid).toBe(1)
    expect(replica.tree.exists('/held')).toBeDefined()
  })

  it('keeps at most groupCommitEntriesMax entries in one sync', async () => {
    const store = new WatchedStore()
    const replica = open(store, { groupCommitEntriesMax: 8 })
    await Promise.all(Array.from({ length: 20 }, (_, i) => submit(replica, put(`/g${i}`))))
    expect(store.appends).toEqual([8, 8, 4])
  })
})

describe('limits and failures', () => {
  it('refuses writes past proposalsPendingMax with Throttled', async () => {
    const store = new WatchedStore()
    let release = (): void => {}
    store.hold = new Promise((resolve) => (release = resolve))
    const replica = open(store, { proposalsPendingMax: 3 })
    const writes = [1, 2, 3].map((i) => submit(replica, put(`/t${i}`)))
    await expect(submit(replica, put('/t4'))).rejects.toMatchObject({ code: 'Throttled' })
    release()
    expect((await Promise.all(writes)).map((w) => w.zxid)).toEqual([1, 2, 3])
  })

  it('answers OperationTimeout for a write the disk does not make durable in time', async () => {
    const store = new WatchedStore()
    let release = (): void => {}
    store.hold = new Promise((resolve) => (release = resolve))
    const clock = new ManualClock()
    const replica = open(store, { clock, writeTimeoutMs: 1000, groupCommitEntriesMax: 1 })
    const first = submit(replica, put('/a'))
    const second = submit(replica, put('/b'))
    await new Promise((resolve) => setImmediate(resolve))
    clock.advance(1100)
    await expect(second).rejects.toMatchObject({ code: 'OperationTimeout' })
    release()
    expect((await first).zxid).toBe(1)
  })

  it('stops (onFatal) when a sync fails, and never applies the batch', async () => {
    const store = new WatchedStore()
    store.fail = new Error('EIO')
    let fatal: unknown = null
    const replica = open(store, { onFatal: (error) => (fatal = error) })
    void submit(replica, put('/lost'))
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
    expect((fatal as Error).message).toBe('EIO')
    expect(replica.tree.exists('/lost')).toBeUndefined()
    await expect(submit(replica, put('/after'))).rejects.toMatchObject({ code: 'ConnectionLoss' })
  })

  it('refuses a command that cannot be encoded without leaving a gap in the log', async () => {
    const replica = open(new MemoryStore())
    const bad: Command = { type: 'put', path: '/\ud800', data: new Uint8Array(), acl: openAcl }
    await expect(submit(replica, bad)).rejects.toBeInstanceOf(HerdError)
    await expect(submit(replica, bad)).rejects.toMatchObject({ code: 'BadArguments' })
    expect((await submit(replica, put('/ok'))).zxid).toBe(1)
  })
})

describe('restart', () => {
  it('rebuilds the same tree from snapshot plus log, and goes on at the next zxid', async () => {
    const store = new MemoryStore()
    const first = open(store, { snapshotEntriesInterval: 10 })
    for (let i = 0; i < 25; i++) await submit(first, put(`/r${i % 7}`, `v${i}`))
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(store.snapshotMeta()?.index).toBeGreaterThanOrEqual(20)
    expect(store.firstIndex()).toBeGreaterThan(1)
    const digest = first.tree.digest()
    await first.close()
    const second = open(store)
    expect(second.appliedZxid).toBe(25)
    expect(second.tree.digest()).toBe(digest)
    expect((await submit(second, put('/next'))).zxid).toBe(26)
  })

  it('tells listeners about every replayed entry after the snapshot, so the watch history covers them', async () => {
    const store = new MemoryStore()
    const first = open(store, { snapshotEntriesInterval: 5 })
    for (let i = 0; i < 8; i++) await submit(first, put(`/l${i}`))
    await new Promise((resolve) => setTimeout(resolve, 10))
    await first.close()
    const snapshotIndex = store.snapshotMeta()?.index ?? 0
    expect(snapshotIndex).toBeGreaterThan(0)
    const seen: number[] = []
    const replica = Replica.open(
      {
        replicaId: 1,
        clientUrl: 'http://test',
        store,
        clock: new ManualClock(),
        tree: { znodesMax: 100, sessionsMax: 10, ephemeralsPerSessionMax: 10, idempotencyKeysMax: 10 },
        proposalsPendingMax: 10,
        groupCommitEntriesMax: 10,
        syncsInFlightMax: 1,
        writeTimeoutMs: 1000,
        snapshotEntriesInterval: 1000,
        onFatal: () => {},
      },
      [(entry, applied) => seen.push(entry.zxid, applied.events.length)],
    )
    opened.push(replica)
    const expected = []
    for (let zxid = snapshotIndex + 1; zxid <= 8; zxid++) expected.push(zxid, 2)
    expect(seen).toEqual(expected)
  })
})

describe('several batches on their way to the disk', () => {
  /** A store whose appends complete only when the test says, one by one. */
  class SteppedStore extends MemoryStore {
    readonly started: number[][] = []
    readonly #releases: Array<() => void> = []
    override append(...args: Parameters<MemoryStore['append']>): Promise<void> {
      this.started.push(args[0].map((record) => record.index))
      return new Promise<void>((resolve) => this.#releases.push(resolve)).then(() => super.append(...args))
    }
    releaseNext(): void {
      ;(this.#releases.shift() as () => void)()
    }
  }

  it('starts the next sync before the previous one is applied, and applies them in zxid order', async () => {
    const store = new SteppedStore()
    const replica = open(store, { syncsInFlightMax: 3 })
    const writes: Array<Promise<unknown>> = []
    for (let turn = 0; turn < 3; turn++) {
      writes.push(submit(replica, put(`/b${turn}a`)), submit(replica, put(`/b${turn}b`)))
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(store.started).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ])
    expect(replica.appliedZxid).toBe(0)
    for (let i = 0; i < 3; i++) {
      store.releaseNext()
      await new Promise((resolve) => setImmediate(resolve))
      expect(replica.appliedZxid).toBe(2 * (i + 1))
    }
    await Promise.all(writes)
  })

  it('keeps no more than syncsInFlightMax batches in flight', async () => {
    const store = new SteppedStore()
    const replica = open(store, { syncsInFlightMax: 2 })
    const writes: Array<Promise<unknown>> = []
    for (let turn = 0; turn < 4; turn++) {
      writes.push(submit(replica, put(`/c${turn}`)))
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(store.started).toEqual([[1], [2]])
    store.releaseNext()
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
    expect(store.started).toEqual([[1], [2], [3, 4]])
    store.releaseNext()
    store.releaseNext()
    await Promise.all(writes)
    expect(replica.appliedZxid).toBe(4)
  })
})
