// The incremental digest (in the spirit of ZooKeeper 3.6's digest.enabled).
import { describe, expect, it } from 'vitest'
import { Perms } from '../../../src/tree/index.ts'
import { hashBytes, hashString, laneSeedA, laneSeedB } from '../../../src/tree/hash.ts'
import { Harness, bytes, createOp } from './harness.ts'

describe('digest', () => {
  it('is 16 hex digits (two 32-bit lanes)', () => {
    expect(new Harness().tree.digest()).toMatch(/^[0-9a-f]{16}$/)
  })

  it('matches a from-scratch recomputation after every kind of change', () => {
    const h = new Harness()
    const session = h.openSession()
    const check = () => expect(h.tree.digest()).toBe(h.tree.computeDigestFromScratch())
    check()
    h.create('/a', { data: bytes('1') })
    check()
    h.create('/a/s-', { isSequential: true })
    check()
    h.create('/e', { kind: 'ephemeral', sessionId: session })
    check()
    h.create('/c', { kind: 'container' })
    h.create('/c/x')
    check()
    h.ok({ type: 'delete', path: '/c/x', version: -1 })
    check()
    h.ok({ type: 'reap', path: '/c', czxid: h.stat('/c').czxid })
    check()
    h.ok({ type: 'setData', path: '/a', data: bytes('22'), version: -1 })
    check()
    h.ok({ type: 'setACL', path: '/a', acl: [{ scheme: 'digest', id: 'u:p', perms: Perms.read }], version: -1 })
    check()
    h.ok({ type: 'put', path: '/p', data: bytes('x'), acl: [{ scheme: 'ip', id: '1.2.3.4', perms: 1 }] })
    check()
    h.fail({ type: 'multi', ops: [createOp('/m'), { type: 'delete', path: '/a', version: -1 }] })
    check()
    h.ok({ type: 'closeSession', sessionId: session, isExpiry: true })
    check()
  })

  it('changes with every field it covers: data, a stat field, the ACL', () => {
    const h = new Harness()
    h.create('/a', { data: bytes('x') })
    const seen = new Set([h.tree.digest()])
    h.ok({ type: 'setData', path: '/a', data: bytes('x'), version: -1 }) // only version and mzxid move
    seen.add(h.tree.digest())
    h.ok({ type: 'setACL', path: '/a', acl: [{ scheme: 'world', id: 'anyone', perms: 1 }], version: -1 })
    seen.add(h.tree.digest())
    h.create('/a/b')
    seen.add(h.tree.digest())
    expect(seen.size).toBe(4)
  })

  it('equal trees have equal digests regardless of history', () => {
    const one = new Harness()
    const two = new Harness()
    // same zxids and times; two takes detours that leave the znodes as they were
    one.create('/a')
    two.create('/a')
    one.apply({ type: 'noop' })
    two.fail({ type: 'multi', ops: [createOp('/b'), { type: 'setData', path: '/a', data: bytes('z'), version: 9 }] })
    one.apply({ type: 'noop' })
    two.openSession()
    one.apply({ type: 'noop' })
    two.ok({ type: 'closeSession', sessionId: 3, isExpiry: false })
    one.apply({ type: 'noop' })
    two.ok({ type: 'reap', path: '/a', czxid: 1 })
    expect(two.tree.digest()).toBe(one.tree.digest())
    expect(two.state()).toEqual(one.state())
  })

  it('different trees have different digests (a sample)', () => {
    const digests = new Set<string>()
    for (const path of ['/a', '/b', '/c', '/ab', '/ba']) {
      const h = new Harness()
      h.create(path)
      digests.add(h.tree.digest())
    }
    expect(digests.size).toBe(5)
  })
})

describe('hash functions', () => {
  it('hashBytes is MurmurHash3 x86_32 (published test vectors)', () => {
    expect(hashBytes(new Uint8Array(0), 0)).toBe(0)
    expect(hashBytes(new Uint8Array(0), 1)).toBe(0x514e28b7)
    expect(hashBytes(bytes('hello'), 0)).toBe(0x248bfa47)
    expect(hashBytes(bytes('Hello, world!'), 1234)).toBe(0xfaf6cdb3)
    expect(hashBytes(bytes('The quick brown fox jumps over the lazy dog'), 0x9747b28c)).toBe(0x2fa826cd)
  })

  it('the two lanes are independent hashes of the same input', () => {
    expect(hashString('/a', laneSeedA)).not.toBe(hashString('/a', laneSeedB))
    expect(hashString('/a', laneSeedA)).not.toBe(hashString('/b', laneSeedA))
  })
})
