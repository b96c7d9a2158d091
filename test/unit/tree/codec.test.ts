import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CodecError,
  anonymous,
  decodeEntry,
  decodeOutcome,
  encodeOutcome,
  encodeProposal,
  membershipOf,
  openAcl,
  stampProposal,
  type Command,
  type Outcome,
  type Proposal,
} from '../../../src/tree/index.ts'
import { commandArb, proposalArb } from './arbitraries.ts'
import { Harness, bytes, createOp } from './harness.ts'

const proposal = (command: Command): Proposal => ({ timeMs: 1_700_000_000_123, caller: anonymous, idempotency: null, command })

/** Every command type once, with every field set to something telling. */
const everyCommand: Command[] = [
  { type: 'create', path: '/tasks/', data: bytes('data'), acl: openAcl, kind: 'ttl', isSequential: true, ttlMs: 0xff_ffff_ffff },
  { type: 'create', path: '/e', data: new Uint8Array(0), acl: [{ scheme: 'digest', id: 'u:h', perms: 3 }], kind: 'ephemeral', isSequential: false, ttlMs: 0 },
  { type: 'create', path: '/c', data: new Uint8Array([0, 255]), acl: [], kind: 'container', isSequential: false, ttlMs: 0 },
  { type: 'delete', path: '/a', version: -1 },
  { type: 'setData', path: '/a', data: new Uint8Array(1000).fill(7), version: 2147483647 },
  { type: 'put', path: '/ü', data: bytes('x'), acl: openAcl },
  { type: 'setACL', path: '/a', acl: [{ scheme: 'ip', id: '10.0.0.0/8', perms: 31 }, ...openAcl], version: 4 },
  {
    type: 'multi',
    ops: [createOp('/m'), { type: 'delete', path: '/m', version: 0 }, { type: 'setData', path: '/x', data: bytes('y'), version: -1 }, { type: 'check', path: '/x', version: 3 }],
  },
  { type: 'multi', ops: [] },
  { type: 'createSession', timeoutMs: 30_000, secretHash: 'ab'.repeat(32) },
  { type: 'closeSession', sessionId: 2 ** 40, isExpiry: true },
  { type: 'reap', path: '/c', czxid: 123456789012 },
  { type: 'noop' },
  { type: 'membership', members: [{ id: 1, host: '127.0.0.1', port: 8281 }, { id: 254, host: 'node-2.example', port: 65535 }] },
]

describe('proposal codec', () => {
  it.each(everyCommand.map((command) => [command.type, command] as const))('round-trips a %s command exactly', (_, command) => {
    const p = proposal(command)
    expect(decodeEntry(42, encodeProposal(p))).toEqual({ zxid: 42, ...p })
  })

  it('stamps a time into a proposal encoded with time 0: the same bytes as encoding it with that time', () => {
    fc.assert(
      fc.property(proposalArb, fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 45 }), fc.constant(Number.MAX_SAFE_INTEGER)), (p, timeMs) => {
        const stamped = stampProposal(encodeProposal({ ...p, timeMs: 0 }), timeMs)
        expect(stamped).toEqual(encodeProposal({ ...p, timeMs }))
        expect(decodeEntry(7, stamped)).toEqual({ zxid: 7, ...p, timeMs })
      }),
    )
    // Only unstamped proposals: a stamped one, another version or a stub is refused.
    expect(() => stampProposal(encodeProposal(proposal({ type: 'noop' })), 5)).toThrow(CodecError)
    expect(() => stampProposal(new Uint8Array([2, 0, 0, 0]), 5)).toThrow(CodecError)
    expect(() => stampProposal(new Uint8Array([1, 0]), 5)).toThrow(CodecError)
  })

  it('tells a membership entry from every other kind by reading only its head', () => {
    for (const command of everyCommand) {
      const members = membershipOf(encodeProposal(proposal(command)))
      expect(members).toEqual(command.type === 'membership' ? command.members : null)
    }
    const claimed: Proposal = {
      ...proposal({ type: 'membership', members: [{ id: 3, host: 'h', port: 1 }] }),
      caller: { sessionId: 5, ids: [{ scheme: 'digest', id: 'a:b' }] },
      idempotency: { key: 'k', fingerprint: 'f', windowMs: 9 },
    }
    expect(membershipOf(encodeProposal(claimed))).toEqual([{ id: 3, host: 'h', port: 1 }])
    expect(() => membershipOf(new Uint8Array([1, 0]))).toThrow(CodecError)
  })

  it('round-trips the caller ids and the idempotency claim', () => {
    const p: Proposal = {
      timeMs: -5,
      caller: { sessionId: 77, ids: [{ scheme: 'digest', id: 'user:hash' }, { scheme: 'ip', id: '127.0.0.1' }] },
      idempotency: { key: 'key-1', fingerprint: 'sha256:abc', windowMs: 300_000 },
      command: { type: 'noop' },
    }
    expect(decodeEntry(1, encodeProposal(p))).toEqual({ zxid: 1, ...p })
  })

  it('round-trips any proposal (property)', () => {
    fc.assert(
      fc.property(proposalArb, fc.integer({ min: 1, max: 2 ** 40 }), (p, zxid) => {
        const encoded = encodeProposal(p)
        expect(decodeEntry(zxid, encoded)).toEqual({ zxid, ...p })
        expect(membershipOf(encoded)).toEqual(p.command.type === 'membership' ? p.command.members : null)
      }),
    )
  })

  it('starts with a version byte; an unknown version is a CodecError', () => {
    const encoded = encodeProposal(proposal({ type: 'noop' }))
    expect(encoded[0]).toBe(1)
    encoded[0] = 2
    expect(() => decodeEntry(1, encoded)).toThrow(CodecError)
  })

  it('refuses to encode what would not round-trip, with a CodecError', () => {
    expect(() => encodeProposal(proposal({ type: 'delete', path: '/a', version: 1.5 }))).toThrow(CodecError)
    expect(() => encodeProposal(proposal({ type: 'delete', path: '/\ud800', version: 1 }))).toThrow(CodecError)
    // a check is a multi op only
    expect(() => encodeProposal(proposal({ type: 'check', path: '/a', version: 1 } as unknown as Command))).toThrow(CodecError)
  })

  it('is compact: a small create is a few dozen bytes', () => {
    expect(encodeProposal(proposal(createOp('/locks/lock-', { isSequential: true, kind: 'ephemeral' }))).length).toBeLessThan(48)
  })
})

describe('decodeEntry on bad input', () => {
  it('throws CodecError for every truncation of a valid encoding', () => {
    fc.assert(
      fc.property(proposalArb, (p) => {
        const encoded = encodeProposal(p)
        for (let length = 0; length < encoded.length; length++) {
          expect(() => decodeEntry(1, encoded.subarray(0, length))).toThrow(CodecError)
        }
      }),
      { numRuns: 50 },
    )
  })

  it('throws CodecError for trailing garbage', () => {
    const encoded = encodeProposal(proposal({ type: 'noop' }))
    expect(() => decodeEntry(1, new Uint8Array([...encoded, 0]))).toThrow(CodecError)
  })

  it('never fails with anything but CodecError on random bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (input) => {
        decodeOrCodecError(() => decodeEntry(1, input))
      }),
      { numRuns: 2000 },
    )
  })

  it('never fails with anything but CodecError on mutated valid encodings (fuzz)', () => {
    fc.assert(
      fc.property(proposalArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (p, flips) => {
        const encoded = encodeProposal(p)
        for (const [at, value] of flips) encoded[at % encoded.length] = value
        decodeOrCodecError(() => decodeEntry(1, encoded))
      }),
      { numRuns: 1000 },
    )
  })

  it('a decoded entry from random bytes applies without a throw (apply is total for any decodable entry)', () => {
    fc.assert(
      fc.property(commandArb, (command) => {
        const h = new Harness()
        h.create('/a')
        const entry = decodeEntry(h.zxid + 1, encodeProposal(proposal(command)))
        const applied = h.tree.apply(entry)
        expect(typeof applied.outcome.ok).toBe('boolean')
        expect(h.tree.digest()).toBe(h.tree.computeDigestFromScratch())
      }),
      { numRuns: 500 },
    )
  })
})

function decodeOrCodecError(decode: () => unknown): void {
  try {
    decode()
  } catch (error) {
    if (!(error instanceof CodecError)) throw error
  }
}

describe('outcome codec', () => {
  function outcomes(): Outcome[] {
    const h = new Harness()
    const session = h.openSession()
    const list: Outcome[] = []
    const run = (command: Command, sessionId = 0) => list.push(h.apply(command, { sessionId }).outcome)
    run(createOp('/a', { data: bytes('x') }))
    run(createOp('/a'))
    run({ type: 'setData', path: '/a', data: bytes('y'), version: -1 })
    run({ type: 'delete', path: '/zookeeper', version: -1 })
    run({ type: 'put', path: '/b', data: bytes('p'), acl: openAcl })
    run({ type: 'setACL', path: '/b', acl: openAcl, version: 0 })
    run({ type: 'multi', ops: [createOp('/m'), { type: 'check', path: '/m', version: 0 }, { type: 'delete', path: '/m', version: 0 }] })
    run({ type: 'multi', ops: [createOp('/m'), { type: 'check', path: '/m', version: 5 }, createOp('/n')] })
    run(createOp('/e', { kind: 'ephemeral' }), session)
    run({ type: 'closeSession', sessionId: session, isExpiry: true })
    run({ type: 'reap', path: '/a', czxid: 1 })
    run({ type: 'noop' })
    run({ type: 'createSession', timeoutMs: 1, secretHash: 'h' })
    run({ type: 'delete', path: '/a', version: -1 })
    return list
  }

  it('round-trips every result type and failure, multi failures included', () => {
    const list = outcomes()
    expect(new Set(list.map((o) => (o.ok ? o.result.type : o.failure.code))).size).toBeGreaterThanOrEqual(12)
    for (const outcome of list) expect(decodeOutcome(encodeOutcome(outcome))).toEqual(outcome)
  })

  it('throws CodecError on truncations and random bytes', () => {
    for (const outcome of outcomes()) {
      const encoded = encodeOutcome(outcome)
      for (let length = 0; length < encoded.length; length++) {
        expect(() => decodeOutcome(encoded.subarray(0, length))).toThrow(CodecError)
      }
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (input) => decodeOrCodecError(() => decodeOutcome(input))),
      { numRuns: 1000 },
    )
  })
})
