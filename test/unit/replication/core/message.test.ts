// Remote input: isMessage() is the gate for decoded peer bytes, and step()
// never throws on anything, however malformed, stale or contradictory
// (a confused or malicious peer may break Raft's assumptions, but it must
// not crash the replica).
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isMessage, RaftCore, type Message } from '../../../../src/replication/core/index.ts'
import { SimStorage, simMembership, simNoop } from '../../../support/raft-sim-storage.ts'

const valid: Message[] = [
  { type: 'preVote', from: 1, to: 2, term: 3, lastIndex: 4, lastTerm: 2 },
  { type: 'preVoteReply', from: 2, to: 1, term: 3, granted: true },
  { type: 'vote', from: 1, to: 2, term: 3, lastIndex: 4, lastTerm: 2, transfer: false },
  { type: 'voteReply', from: 2, to: 1, term: 3, granted: false },
  { type: 'append', from: 1, to: 2, term: 3, prevIndex: 4, prevTerm: 2, entries: [{ index: 5, term: 3, data: new Uint8Array([1]) }], commit: 4, durable: 0 },
  { type: 'appendReply', from: 2, to: 1, term: 3, success: false, index: 4, hintIndex: 3, hintTerm: 2 },
  { type: 'snapshot', from: 1, to: 2, term: 3, snapshot: { meta: { index: 9, term: 3, extra: new Uint8Array() }, chunks: [new Uint8Array(2)] } },
  { type: 'heartbeat', from: 1, to: 2, term: 3, commit: 4, context: 0 },
  { type: 'heartbeatReply', from: 2, to: 1, term: 3, context: 7 },
  { type: 'timeoutNow', from: 1, to: 2, term: 3 },
]

describe('isMessage', () => {
  it('accepts every well-formed message type', () => {
    for (const message of valid) expect(isMessage(message), message.type).toBe(true)
  })

  it('rejects wrong types, missing fields, bad numbers and bad entries', () => {
    const broken: unknown[] = [
      null,
      [],
      'append',
      { ...valid[0], type: 'nonsense' },
      { ...valid[0], from: 0 },
      { ...valid[0], to: -1 },
      { ...valid[0], term: 1.5 },
      { ...valid[0], term: Number.NaN },
      { ...valid[0], lastIndex: 2 ** 60 },
      { ...valid[1], granted: 'yes' },
      { ...valid[2], transfer: undefined },
      { ...valid[4], entries: [{ index: 5, term: 3, data: [1] }] },
      { ...valid[4], entries: [{ index: 0, term: 3, data: new Uint8Array() }] },
      { ...valid[4], entries: 'none' },
      { ...valid[4], durable: -1 },
      { ...valid[4], durable: undefined },
      { ...valid[6], snapshot: { meta: { index: 9, term: 3 }, chunks: [] } },
      { ...valid[6], snapshot: { meta: { index: 9, term: 3, extra: new Uint8Array() }, chunks: ['x'] } },
      { ...valid[7], context: -1 },
    ]
    for (const value of broken) expect(isMessage(value), JSON.stringify(value)).toBe(false)
  })
})

function newCore(id: number, storage: SimStorage): RaftCore {
  return new RaftCore(
    {
      id,
      voters: [1, 2, 3],
      electionTicks: 5,
      heartbeatTicks: 1,
      random: () => 0.3,
      appendBytesMax: 16,
      inflightAppendsMax: 2,
      noop: simNoop,
      membership: simMembership,
    },
    storage,
  )
}

/** Plays a faithful driver so the core's own invariants (asserts) are exercised after each step. */
function drive(core: RaftCore, storage: SimStorage): void {
  while (core.hasReady()) {
    const ready = core.ready()
    if (ready.snapshot !== null) storage.saveSnapshot(ready.snapshot, 0)
    storage.append(ready.entries, ready.hardState)
    core.advance(ready)
  }
}

/** Well-behaved peers 2 and 3 answering the replica's campaign or appends, so the fuzz reaches every role. */
function cooperate(core: RaftCore, what: 'grant' | 'ack'): void {
  const { role, term, lastIndex } = core.status()
  for (const from of [2, 3]) {
    if (what === 'grant' && role === 'precandidate') core.step({ type: 'preVoteReply', from, to: 1, term: term + 1, granted: true })
    if (what === 'grant' && role === 'candidate') core.step({ type: 'voteReply', from, to: 1, term, granted: true })
    if (what === 'ack' && role === 'leader') core.step({ type: 'appendReply', from, to: 1, term, success: true, index: lastIndex, hintIndex: 0, hintTerm: 0 })
  }
}

const small = fc.integer({ min: 0, max: 8 })
const id = fc.integer({ min: 1, max: 4 })
const entries = fc.array(fc.record({ index: fc.integer({ min: 1, max: 10 }), term: fc.integer({ min: 1, max: 6 }), data: fc.uint8Array({ maxLength: 4 }) }), { maxLength: 4 })
const arbitraryMessage: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ type: fc.constantFrom('preVote', 'vote'), from: id, to: fc.constant(1), term: small, lastIndex: small, lastTerm: small, transfer: fc.boolean() }),
  fc.record({ type: fc.constantFrom('preVoteReply', 'voteReply'), from: id, to: fc.constant(1), term: small, granted: fc.boolean() }),
  fc.record({ type: fc.constant('append'), from: id, to: fc.constant(1), term: small, prevIndex: small, prevTerm: small, entries, commit: small, durable: small }),
  // Appends that pass the shape checks: contiguous entries, terms that never go back.
  fc
    .record({ from: id, term: small, prevIndex: small, prevTerm: small, terms: fc.array(small, { maxLength: 4 }), commit: small, durable: small })
    .map(({ from, term, prevIndex, prevTerm, terms, commit, durable }) => {
      const sorted = terms.map((t) => Math.max(1, Math.min(t, term))).sort((a, b) => a - b)
      const prev = Math.min(prevTerm, sorted[0] ?? term)
      return {
        type: 'append',
        from,
        to: 1,
        term,
        prevIndex,
        prevTerm: prev,
        entries: sorted.map((t, i) => ({ index: prevIndex + 1 + i, term: t, data: new Uint8Array([t]) })),
        commit,
        durable,
      }
    }),
  fc.record({ type: fc.constant('appendReply'), from: id, to: fc.constant(1), term: small, success: fc.boolean(), index: small, hintIndex: small, hintTerm: small }),
  fc.record({
    type: fc.constant('snapshot'),
    from: id,
    to: fc.constant(1),
    term: small,
    snapshot: fc.record({
      meta: fc.record({ index: fc.integer({ min: 1, max: 10 }), term: fc.integer({ min: 1, max: 6 }), extra: fc.oneof(fc.uint8Array({ maxLength: 3 }), fc.constant(simMembership.encode([1, 2, 3]))) }),
      chunks: fc.array(fc.uint8Array({ maxLength: 2 }), { maxLength: 2 }),
    }),
  }),
  fc.record({ type: fc.constantFrom('heartbeat', 'heartbeatReply', 'timeoutNow'), from: id, to: fc.constant(1), term: small, commit: small, context: small }),
  fc.anything(),
)

describe('step never throws on remote input', () => {
  it('random messages, valid or not, to a replica in every role', () => {
    const reached = { lastIndex: 0, commit: 0, roles: new Set<string>() }
    fc.assert(
      fc.property(fc.array(fc.oneof(arbitraryMessage, fc.constantFrom('tick', 'campaign', 'propose', 'read', 'grant', 'ack')), { maxLength: 60 }), (inputs) => {
        const storage = new SimStorage()
        const core = newCore(1, storage)
        for (const input of inputs) {
          if (input === 'tick') core.tick()
          else if (input === 'campaign') core.campaign()
          else if (input === 'propose') core.propose([new Uint8Array([9])])
          else if (input === 'read') core.readIndex(1)
          else if (input === 'grant' || input === 'ack') cooperate(core, input)
          else core.step(input as Message)
          drive(core, storage)
          const status = core.status()
          expect(status.commit).toBeLessThanOrEqual(status.lastIndex)
          reached.lastIndex = Math.max(reached.lastIndex, status.lastIndex)
          reached.commit = Math.max(reached.commit, status.commit)
          reached.roles.add(status.role)
        }
      }),
      { numRuns: Number(process.env['FUZZ_RUNS'] ?? 300), seed: Number(process.env['FUZZ_SEED'] ?? 42) },
    )
    // The inputs reach deep enough to matter.
    expect(reached.lastIndex).toBeGreaterThan(3)
    expect(reached.commit).toBeGreaterThan(1)
    expect([...reached.roles].sort()).toEqual(['candidate', 'follower', 'leader', 'precandidate'])
  })
})
