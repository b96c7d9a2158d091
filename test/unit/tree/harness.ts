// A small driver for tree tests: applies commands with increasing zxids and
// a controllable clock, and unwraps outcomes.
import { expect } from 'vitest'
import {
  DataTree,
  openAcl,
  type Acl,
  type Applied,
  type Command,
  type CreateOp,
  type Failure,
  type IdempotencyClaim,
  type Result,
  type TreeOptions,
  type ZnodeKind,
} from '../../../src/tree/index.ts'

export const testOptions: TreeOptions = Object.freeze({
  znodesMax: 1000,
  sessionsMax: 100,
  ephemeralsPerSessionMax: 100,
  idempotencyKeysMax: 100,
})

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

export interface ApplyOptions {
  readonly sessionId?: number
  readonly idempotency?: IdempotencyClaim | null
  /** Absolute time of the entry; otherwise the clock advances by 1 ms. */
  readonly timeMs?: number
}

export function createOp(
  path: string,
  options: { data?: Uint8Array; acl?: Acl; kind?: ZnodeKind; isSequential?: boolean; ttlMs?: number } = {},
): CreateOp {
  return {
    type: 'create',
    path,
    data: options.data ?? new Uint8Array(0),
    acl: options.acl ?? openAcl,
    kind: options.kind ?? 'persistent',
    isSequential: options.isSequential ?? false,
    ttlMs: options.ttlMs ?? 0,
  }
}

export class Harness {
  tree: DataTree
  zxid = 0
  timeMs = 1_700_000_000_000

  constructor(options: TreeOptions = testOptions) {
    this.tree = new DataTree(options)
  }

  apply(command: Command, options: ApplyOptions = {}): Applied {
    this.zxid++
    this.timeMs = options.timeMs ?? this.timeMs + 1
    return this.tree.apply({
      zxid: this.zxid,
      timeMs: this.timeMs,
      caller: { sessionId: options.sessionId ?? 0, ids: [] },
      idempotency: options.idempotency ?? null,
      command,
    })
  }

  /** Applies a command that must succeed and returns its result. */
  ok<T extends Result['type']>(command: Command, options: ApplyOptions = {}, type?: T): Extract<Result, { type: T }> {
    const applied = this.apply(command, options)
    if (!applied.outcome.ok) throw new Error(`expected success, got ${JSON.stringify(applied.outcome.failure)}`)
    if (type !== undefined) expect(applied.outcome.result.type).toBe(type)
    return applied.outcome.result as Extract<Result, { type: T }>
  }

  /** Applies a command that must fail and returns the failure. */
  fail(command: Command, options: ApplyOptions = {}): Failure {
    const applied = this.apply(command, options)
    if (applied.outcome.ok) throw new Error(`expected failure, got ${JSON.stringify(applied.outcome.result)}`)
    expect(applied.events).toEqual([])
    return applied.outcome.failure
  }

  create(path: string, options: Parameters<typeof createOp>[1] & ApplyOptions = {}): string {
    return this.ok(createOp(path, options), options, 'create').path
  }

  openSession(timeoutMs = 10_000): number {
    return this.ok({ type: 'createSession', timeoutMs, secretHash: 'secret-hash' }, {}, 'createSession').sessionId
  }

  stat(path: string) {
    const stat = this.tree.exists(path)
    if (stat === undefined) throw new Error(`${path} does not exist`)
    return stat
  }

  children(path: string): readonly string[] {
    return this.tree.getChildren(path, null, 1_000_000)?.children ?? []
  }

  /** Every znode's path, data, ACL and stat: a whole-state fingerprint for "nothing changed" checks. */
  state(): unknown {
    const out: unknown[] = []
    const walk = (path: string): void => {
      out.push({ path, ...this.tree.getData(path), acl: this.tree.getAcl(path)?.acl })
      for (const name of this.children(path)) walk(path === '/' ? `/${name}` : `${path}/${name}`)
    }
    walk('/')
    return { znodes: out, digest: this.tree.digest(), count: this.tree.znodeCount, sessions: this.tree.sessionIds() }
  }
}
