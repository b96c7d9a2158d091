// ZooKeeper's Transaction: operations gathered one by one and committed as
// one multi, applied at one zxid or not at all. On failure commit() rejects
// with a HerdClientError whose `results` say, per operation, `Ok` (rolled
// back), the failing error, or `RuntimeInconsistency`, and `failedOp` points
// at the one that failed.
import { dataField } from './data.ts'
import type { AclEntry, CreateOp, Data, MultiOp, MultiResponse } from './types.ts'

export interface TransactionCreateOptions {
  readonly sequential?: boolean
  readonly ephemeral?: boolean
  readonly container?: boolean
  readonly ttlMs?: number
  readonly acl?: readonly AclEntry[]
}

export type Commit<Options> = (ops: readonly MultiOp[], options: Options | undefined) => Promise<MultiResponse>

export class Transaction<Options> {
  readonly #ops: MultiOp[] = []
  readonly #commit: Commit<Options>

  constructor(commit: Commit<Options>) {
    this.#commit = commit
  }

  /** The operations so far, as the multi request will carry them. */
  get ops(): readonly MultiOp[] {
    return this.#ops
  }

  create(path: string, data: Data = '', options: TransactionCreateOptions = {}): this {
    const op: CreateOp = { op: 'create', path, ...dataField(data) }
    if (options.sequential === true) op.sequential = true
    if (options.ephemeral === true) op.ephemeral = true
    if (options.container === true) op.container = true
    if (options.ttlMs !== undefined) op.ttl = options.ttlMs
    if (options.acl !== undefined) op.acl = [...options.acl]
    this.#ops.push(op)
    return this
  }

  delete(path: string, version = -1): this {
    this.#ops.push({ op: 'delete', path, version })
    return this
  }

  setData(path: string, data: Data, version = -1): this {
    this.#ops.push({ op: 'setData', path, ...dataField(data), version })
    return this
  }

  /** Fails the transaction unless the znode exists with this version (-1: any). */
  check(path: string, version = -1): this {
    this.#ops.push({ op: 'check', path, version })
    return this
  }

  commit(options?: Options): Promise<MultiResponse> {
    return this.#commit(this.#ops, options)
  }
}
