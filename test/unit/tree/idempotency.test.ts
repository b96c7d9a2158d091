// Idempotency-Key: a retried write gets the first outcome and changes nothing.
import { describe, expect, it } from 'vitest'
import type { IdempotencyClaim } from '../../../src/tree/index.ts'
import { Harness, createOp, testOptions } from './harness.ts'

const claim = (key: string, fingerprint: string, windowMs: number): IdempotencyClaim => ({ key, fingerprint, windowMs })

describe('Idempotency-Key', () => {
  it('replays the stored outcome for the same key and fingerprint, with no events and no change', () => {
    const h = new Harness()
    const first = h.apply(createOp('/a'), { idempotency: claim('k', 'f', 9000), timeMs: 1000 })
    expect(first.replayOf).toBe(null)
    expect(first.events).toHaveLength(2)
    const before = h.state()
    const again = h.apply(createOp('/a'), { idempotency: claim('k', 'f', 9000), timeMs: 2000 })
    expect(again).toEqual({ outcome: first.outcome, events: [], replayOf: 1 })
    expect(h.state()).toEqual(before)
    expect(h.tree.zxid).toBe(2)
  })

  it('replays a sequential create with the name it got, not a new one', () => {
    const h = new Harness()
    h.create('/q')
    const first = h.apply(createOp('/q/', { isSequential: true }), { idempotency: claim('k', 'f', 9000), timeMs: 1000 })
    const again = h.apply(createOp('/q/', { isSequential: true }), { idempotency: claim('k', 'f', 9000), timeMs: 1001 })
    expect(again.outcome).toEqual(first.outcome)
    expect(h.children('/q')).toEqual(['0000000000'])
  })

  it('stores failed outcomes too', () => {
    const h = new Harness()
    const first = h.apply(createOp('/x/y'), { idempotency: claim('k', 'f', 9000), timeMs: 1000 })
    expect(first.outcome.ok).toBe(false)
    h.create('/x', { timeMs: 1001 })
    const again = h.apply(createOp('/x/y'), { idempotency: claim('k', 'f', 9000), timeMs: 1002 })
    expect(again.replayOf).not.toBe(null)
    expect(again.outcome).toEqual(first.outcome)
    expect(h.tree.exists('/x/y')).toBeUndefined()
  })

  it('fails IdempotencyKeyReused for the same key with another fingerprint, changing nothing', () => {
    const h = new Harness()
    h.apply(createOp('/a'), { idempotency: claim('k', 'f1', 9000), timeMs: 1000 })
    const before = h.state()
    const applied = h.apply(createOp('/b'), { idempotency: claim('k', 'f2', 9000), timeMs: 1001 })
    expect(applied.outcome).toMatchObject({ ok: false, failure: { code: 'IdempotencyKeyReused' } })
    expect(applied.replayOf).toBe(null)
    expect(applied.events).toEqual([])
    expect(h.state()).toEqual(before)
    // the first outcome is still the one remembered
    expect(h.apply(createOp('/a'), { idempotency: claim('k', 'f1', 9000), timeMs: 1002 }).replayOf).not.toBe(null)
  })

  it('forgets a key once entry.timeMs reaches the storing entry\'s time plus the window', () => {
    const h = new Harness()
    h.apply(createOp('/a'), { idempotency: claim('k', 'f', 4000), timeMs: 1000 })
    expect(h.apply(createOp('/a'), { idempotency: claim('k', 'f', 4000), timeMs: 4999 }).replayOf).not.toBe(null)
    const late = h.apply(createOp('/a'), { idempotency: claim('k', 'f', 4000), timeMs: 5000 })
    expect(late.replayOf).toBe(null)
    expect(late.outcome).toMatchObject({ ok: false, failure: { code: 'NodeExists' } })
    // and the new outcome is remembered under the new expiry
    expect(h.apply(createOp('/a'), { idempotency: claim('k', 'f', 4000), timeMs: 8999 }).outcome).toEqual(late.outcome)
  })

  it('an expired key behind a live one is ignored even before it is pruned', () => {
    const h = new Harness()
    h.apply(createOp('/a'), { idempotency: claim('long', 'f', 99000), timeMs: 1000 })
    h.apply(createOp('/b'), { idempotency: claim('short', 'f', 999), timeMs: 1001 })
    expect(h.apply(createOp('/b'), { idempotency: claim('short', 'f', 999), timeMs: 3000 }).replayOf).toBe(null)
  })

  it('drops expired keys from the table when a claimed entry arrives', () => {
    const h = new Harness()
    h.apply(createOp('/1'), { idempotency: claim('k1', 'f', 1000), timeMs: 1000 })
    h.apply(createOp('/2'), { idempotency: claim('k2', 'f', 1499), timeMs: 1001 })
    h.apply(createOp('/3'), { idempotency: claim('k3', 'f', 7998), timeMs: 1002 })
    const keys = () => Array.from(h.tree.idempotencyInOrder(), (record) => record.key)
    h.apply({ type: 'noop' }, { timeMs: 5000 }) // an entry without a claim leaves the table alone
    expect(keys()).toEqual(['k1', 'k2', 'k3'])
    h.apply({ type: 'noop' }, { idempotency: claim('k4', 'f', 3999), timeMs: 5001 })
    expect(keys()).toEqual(['k3', 'k4'])
  })

  it('keeps at most idempotencyKeysMax keys, dropping the oldest', () => {
    const h = new Harness({ ...testOptions, idempotencyKeysMax: 2 })
    h.apply(createOp('/1'), { idempotency: claim('k1', 'f', 10000), timeMs: 1000 })
    h.apply(createOp('/2'), { idempotency: claim('k2', 'f', 10000), timeMs: 1001 })
    h.apply(createOp('/3'), { idempotency: claim('k3', 'f', 10000), timeMs: 1002 })
    expect(h.apply(createOp('/1'), { idempotency: claim('k1', 'f', 10000), timeMs: 1003 }).replayOf).toBe(null)
    expect(h.apply(createOp('/3'), { idempotency: claim('k3', 'f', 10000), timeMs: 1004 }).replayOf).not.toBe(null)
  })

  it('applies a session check inside the claim: a replay answers even after the session is gone', () => {
    const h = new Harness()
    const session = h.openSession()
    const first = h.apply(createOp('/e', { kind: 'ephemeral' }), { sessionId: session, idempotency: claim('k', 'f', 100_000) })
    h.ok({ type: 'closeSession', sessionId: session, isExpiry: true })
    const again = h.apply(createOp('/e', { kind: 'ephemeral' }), { sessionId: session, idempotency: claim('k', 'f', 100_000) })
    expect(again.replayOf).not.toBe(null)
    expect(again.outcome).toEqual(first.outcome)
  })

  it('a window counts from the entry that stored the key, whatever clock the replica that took the request had', () => {
    // Fault suite, clock-skew seed 400: claims carried an absolute expiry
    // from the gateway replica's wall clock; behind a leader whose clock ran
    // an hour ahead, every key was expired on arrival, and a delete retried
    // with its key ran a second time. The claim now carries only the window.
    const h = new Harness()
    const hourAheadMs = 1_700_000_000_000 + 3_600_000
    h.apply(createOp('/a'), { idempotency: claim('k', 'f', 300_000), timeMs: hourAheadMs })
    expect(h.apply(createOp('/a'), { idempotency: claim('k', 'f', 300_000), timeMs: hourAheadMs + 1 }).replayOf).not.toBe(null)
  })
})
