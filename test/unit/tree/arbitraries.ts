// fast-check generators of every Command shape, for codec round trips.
import fc from 'fast-check'
import type { Acl, Caller, Command, IdempotencyClaim, MultiOp, Proposal, ZnodeKind } from '../../../src/tree/index.ts'

const text = fc.string({ unit: 'binary', maxLength: 20 })
const int = fc.maxSafeInteger()
const data = fc.uint8Array({ maxLength: 40 })
const kind = fc.constantFrom<ZnodeKind>('persistent', 'ephemeral', 'container', 'ttl')

export const aclArb: fc.Arbitrary<Acl> = fc.array(fc.record({ scheme: text, id: text, perms: int }), { maxLength: 4 })

const createArb = fc.record({
  type: fc.constant('create' as const),
  path: text,
  data,
  acl: aclArb,
  kind,
  isSequential: fc.boolean(),
  ttlMs: int,
})
const deleteArb = fc.record({ type: fc.constant('delete' as const), path: text, version: int })
const setDataArb = fc.record({ type: fc.constant('setData' as const), path: text, data, version: int })
const checkArb = fc.record({ type: fc.constant('check' as const), path: text, version: int })

export const multiOpArb: fc.Arbitrary<MultiOp> = fc.oneof(createArb, deleteArb, setDataArb, checkArb)

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  createArb,
  deleteArb,
  setDataArb,
  fc.record({ type: fc.constant('put' as const), path: text, data, acl: aclArb }),
  fc.record({ type: fc.constant('setACL' as const), path: text, acl: aclArb, version: int }),
  fc.record({ type: fc.constant('multi' as const), ops: fc.array(multiOpArb, { maxLength: 5 }) }),
  fc.record({ type: fc.constant('createSession' as const), timeoutMs: int, secretHash: text }),
  fc.record({ type: fc.constant('closeSession' as const), sessionId: int, isExpiry: fc.boolean() }),
  fc.record({ type: fc.constant('reap' as const), path: text, czxid: int }),
  fc.constant({ type: 'noop' as const }),
  fc.record({
    type: fc.constant('membership' as const),
    members: fc.array(fc.record({ id: fc.integer({ min: 1, max: 254 }), host: text, port: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 5 }),
  }),
)

const callerArb: fc.Arbitrary<Caller> = fc.record({
  sessionId: int,
  ids: fc.array(fc.record({ scheme: text, id: text }), { maxLength: 3 }),
})

const claimArb: fc.Arbitrary<IdempotencyClaim | null> = fc.option(fc.record({ key: text, fingerprint: text, windowMs: int }), { nil: null })

export const proposalArb: fc.Arbitrary<Proposal> = fc.record({ timeMs: int, caller: callerArb, idempotency: claimArb, command: commandArb })
