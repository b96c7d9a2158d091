// Writes batches from a worker thread, so that the main thread goes on
// parsing and answering requests while RocksDB syncs its WAL (measured: with
// the sync on the main thread, a write-heavy replica spent about a tenth of
// its time blocked in it and was idle for much of the rest, waiting for
// clients that waited for that sync). The store still decides what is in a
// batch and updates its own state only after the worker says the batch is
// durable; batches are written one at a time, in order.
import { Worker } from 'node:worker_threads'
import { assert } from '../assert.ts'
import { encodeOps, type Op } from './append-ops.ts'

interface Waiter {
  resolve(): void
  reject(error: Error): void
}

export class AppendWriter {
  readonly #worker: Worker
  readonly #waiting = new Map<number, Waiter>()
  #nextId = 1
  #isClosed = false

  constructor(handle: bigint) {
    this.#worker = new Worker(new URL('./append-worker.ts', import.meta.url), { workerData: { handle } })
    this.#worker.on('message', (message: { readonly id: number; readonly error: string | null }) => {
      const waiter = this.#waiting.get(message.id)
      assert(waiter !== undefined, `append worker answered unknown batch ${message.id}`)
      this.#waiting.delete(message.id)
      if (this.#waiting.size === 0) this.#worker.unref()
      if (message.error === null) waiter.resolve()
      else waiter.reject(new Error(message.error))
    })
    this.#worker.on('error', (error) => this.#failAll(error))
    this.#worker.on('exit', (code) => {
      if (!this.#isClosed) this.#failAll(new Error(`the append worker exited (${code})`))
    })
    // Referenced only while a batch is in flight: an idle writer must not keep
    // the process alive, and a busy one must (its answer is awaited).
    this.#worker.unref()
  }

  /** Resolves once the batch is written (and, with sync, durable); rejects if RocksDB refused it. */
  write(ops: readonly Op[], sync: boolean): Promise<void> {
    assert(!this.#isClosed, 'append writer used after close')
    const id = this.#nextId++
    const buffer = encodeOps(ops)
    return new Promise<void>((resolve, reject) => {
      if (this.#waiting.size === 0) this.#worker.ref()
      this.#waiting.set(id, { resolve, reject })
      this.#worker.postMessage({ id, ops: buffer, sync }, [buffer])
    })
  }

  /** Stops the worker; the database must stay open until this resolved. */
  async close(): Promise<void> {
    this.#isClosed = true
    await this.#worker.terminate()
    this.#failAll(new Error('the append writer was closed'))
  }

  #failAll(error: Error): void {
    for (const waiter of this.#waiting.values()) waiter.reject(error)
    this.#waiting.clear()
  }
}
