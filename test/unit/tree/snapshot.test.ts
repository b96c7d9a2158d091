import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CodecError, Perms, restoreSnapshot, writeSnapshot, type Command } from '../../../src/tree/index.ts'
import { Harness, bytes, createOp, testOptions } from './harness.ts'

/** A tree with one of everything a snapshot must carry. */
function richHarness(): { h: Harness; session: number; idle: number } {
  const h = new Harness()
  const session = h.openSession(7000)
  const idle = h.openSession(9000)
  const digestAcl = [{ scheme: 'digest', id: 'user:aGFzaA==', perms: Perms.read | Perms.write }]
  h.create('/app', { data: bytes('config'), acl: digestAcl })
  h.create('/app/queue')
  for (let i = 0; i < 5; i++) h.create('/app/queue/item-', { isSequential: true, data: bytes(`item ${i}`) })
  h.ok({ type: 'delete', path: '/app/queue/item-0000000001', version: -1 }) // creations stays 5, numChildren 4
  h.create('/app/lock-', { isSequential: true, kind: 'ephemeral', sessionId: session })
  h.create('/app/member', { kind: 'ephemeral', sessionId: session })
  h.create('/c', { kind: 'container' })
  h.create('/c/x')
  h.ok({ type: 'delete', path: '/c/x', version: -1 })
  h.create('/ttl', { kind: 'ttl', ttlMs: 500 })
  h.ok({ type: 'setData', path: '/app', data: bytes('config v2'), version: -1 })
  h.ok({ type: 'setACL', path: '/app/queue', acl: digestAcl, version: -1 })
  const claim = { key: 'retry-1', fingerprint: 'fp', windowMs: 60_000 }
  h.apply(createOp('/app/created-once'), { idempotency: claim })
  h.apply(createOp('/missing/x'), { idempotency: { ...claim, key: 'retry-2' } })
  h.apply({ type: 'multi', ops: [createOp('/m'), createOp('/m')] }, { idempotency: { ...claim, key: 'retry-3' } })
  return { h, session, idle }
}

/** The same commands on both trees must give the same outcomes, events and digests. */
function expectSameBehaviour(a: Harness, b: Harness, commands: readonly (readonly [Command, number])[]): void {
  for (const [command, sessionId] of commands) {
    const claim = { key: 'retry-1', fingerprint: 'fp', windowMs: 60_000 }
    const left = a.apply(command, { sessionId, idempotency: command.type === 'noop' ? claim : null })
    const right = b.apply(command, { sessionId, idempotency: command.type === 'noop' ? claim : null })
    expect(right).toEqual(left)
    expect(b.tree.digest()).toBe(a.tree.digest())
  }
  expect(b.state()).toEqual(a.state())
}

describe('snapshot', () => {
  it('restore(write(tree)) has the same digest, reads, sessions and zxid', () => {
    const { h, session, idle } = richHarness()
    const restored = restoreSnapshot(writeSnapshot(h.tree), testOptions)
    expect(restored.digest()).toBe(h.tree.digest())
    expect(restored.computeDigestFromScratch()).toBe(h.tree.digest())
    expect(restored.zxid).toBe(h.tree.zxid)
    expect(restored.znodeCount).toBe(h.tree.znodeCount)
    const copy = new Harness()
    copy.tree = restored
    expect(copy.state()).toEqual(h.state())
    for (const id of [session, idle]) {
      expect(restored.getSession(id)).toEqual(h.tree.getSession(id))
      expect(restored.getEphemerals(id, '/')).toEqual(h.tree.getEphemerals(id, '/'))
    }
    expect(restored.countDescendants('/')).toBe(h.tree.countDescendants('/'))
    expect(restored.reapCandidates(h.timeMs + 10_000, 10)).toEqual(h.tree.reapCandidates(h.timeMs + 10_000, 10))
  })

  it('restores the hidden state: sequence counters, kinds, TTLs and the idempotency table', () => {
    const { h, session, idle } = richHarness()
    const copy = new Harness()
    copy.tree = restoreSnapshot(writeSnapshot(h.tree), testOptions)
    copy.zxid = h.zxid
    copy.timeMs = h.timeMs
    expectSameBehaviour(h, copy, [
      [createOp('/app/queue/item-', { isSequential: true }), 0], // creations counter, not numChildren
      [createOp('/app/lock-', { isSequential: true, kind: 'ephemeral' }), session],
      [createOp('/c/y'), 0],
      [{ type: 'delete', path: '/c/y', version: -1 }, 0],
      [{ type: 'reap', path: '/c', czxid: h.stat('/c').czxid }, 0], // container kind and its creations
      [{ type: 'noop' }, 0], // carries claim retry-1: replayed from the restored table on both
      [createOp('/app/created-once'), 0],
      [{ type: 'closeSession', sessionId: session, isExpiry: true }, 0],
      [{ type: 'closeSession', sessionId: idle, isExpiry: false }, 0],
      [createOp('/app/x', { kind: 'ephemeral' }), idle],
    ])
    // TTL kind and ttlMs: reaped at the same time on both
    const ttlCzxid = h.stat('/ttl').czxid
    expectSameBehaviour(h, copy, [[{ type: 'reap', path: '/ttl', czxid: ttlCzxid }, 0]])
    const late = { timeMs: h.timeMs + 1000 }
    expect(h.apply({ type: 'reap', path: '/ttl', czxid: ttlCzxid }, late)).toEqual(copy.apply({ type: 'reap', path: '/ttl', czxid: ttlCzxid }, late))
    expect(h.tree.exists('/ttl')).toBeUndefined()
  })

  it('gives byte-identical snapshots for equal states', () => {
    const one = richHarness().h
    const two = richHarness().h
    expect(writeSnapshot(two.tree)).toEqual(writeSnapshot(one.tree))
    const restored = restoreSnapshot(writeSnapshot(one.tree), testOptions)
    expect(writeSnapshot(restored)).toEqual(writeSnapshot(one.tree))
  })

  it('writes each distinct ACL once, however many znodes share it', () => {
    const h = new Harness()
    const acl = [{ scheme: 'digest', id: 'shared-user:' + 'x'.repeat(100), perms: Perms.all }]
    h.create('/p', { acl })
    for (let i = 0; i < 50; i++) h.create('/p/', { isSequential: true, acl })
    const text = new TextDecoder().decode(writeSnapshot(h.tree)[0])
    expect(text.split('shared-user:').length - 1).toBe(1)
  })

  it('splits a large tree into chunks of about 1 MiB', () => {
    const h = new Harness()
    const data = new Uint8Array(100_000).fill(1)
    for (let i = 0; i < 30; i++) h.create(`/big${i}`, { data })
    const chunks = writeSnapshot(h.tree)
    expect(chunks.length).toBeGreaterThanOrEqual(3)
    for (const chunk of chunks.slice(0, -1)) {
      expect(chunk.length).toBeGreaterThanOrEqual(1024 * 1024)
      expect(chunk.length).toBeLessThan(1024 * 1024 + 200_000)
    }
    expect(restoreSnapshot(chunks, testOptions).digest()).toBe(h.tree.digest())
  })

  it('a fresh tree round-trips (the system znodes are part of the snapshot)', () => {
    const h = new Harness()
    const restored = restoreSnapshot(writeSnapshot(h.tree), testOptions)
    expect(restored.digest()).toBe(h.tree.digest())
    expect(restored.getAcl('/zookeeper/config')).toEqual(h.tree.getAcl('/zookeeper/config'))
    expect(restored.exists('/')).toEqual(h.tree.exists('/'))
  })
})

describe('restoreSnapshot on bad input', () => {
  const chunksOf = (h: Harness) => writeSnapshot(h.tree)

  it('throws CodecError with no chunks, missing, reordered or extra chunks', () => {
    const h = new Harness()
    const data = new Uint8Array(200_000)
    for (let i = 0; i < 12; i++) h.create(`/n${i}`, { data })
    const chunks = chunksOf(h)
    expect(chunks.length).toBeGreaterThan(2)
    expect(() => restoreSnapshot([], testOptions)).toThrow(CodecError)
    expect(() => restoreSnapshot(chunks.slice(0, -1), testOptions)).toThrow(CodecError)
    expect(() => restoreSnapshot(chunks.slice(1), testOptions)).toThrow(CodecError)
    expect(() => restoreSnapshot([chunks[1] as Uint8Array, chunks[0] as Uint8Array, ...chunks.slice(2)], testOptions)).toThrow(CodecError)
    expect(() => restoreSnapshot([...chunks, chunks[0] as Uint8Array], testOptions)).toThrow(CodecError)
  })

  it('detects a changed byte of data through the digest', () => {
    const h = new Harness()
    h.create('/a', { data: bytes('payload-payload') })
    const [chunk] = chunksOf(h)
    const copy = Uint8Array.from(chunk as Uint8Array)
    const at = new TextDecoder().decode(copy).indexOf('payload-payload')
    copy[at] = 'q'.charCodeAt(0)
    expect(() => restoreSnapshot([copy], testOptions)).toThrow(/digest mismatch/)
  })

  it('throws CodecError for every truncation', () => {
    const [chunk] = chunksOf(richHarness().h)
    for (let length = 0; length < (chunk as Uint8Array).length; length++) {
      expect(() => restoreSnapshot([(chunk as Uint8Array).subarray(0, length)], testOptions)).toThrow(CodecError)
    }
  })

  it('never fails with anything but CodecError on random or mutated bytes (fuzz)', () => {
    const [chunk] = chunksOf(richHarness().h)
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (flips) => {
        const copy = Uint8Array.from(chunk as Uint8Array)
        for (const [at, value] of flips) copy[at % copy.length] = value
        try {
          restoreSnapshot([copy], testOptions)
        } catch (error) {
          if (!(error instanceof CodecError)) throw error
        }
      }),
      { numRuns: 1000 },
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (input) => {
        try {
          restoreSnapshot([input], testOptions)
        } catch (error) {
          if (!(error instanceof CodecError)) throw error
        }
      }),
      { numRuns: 1000 },
    )
  })
})
