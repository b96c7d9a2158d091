// The worker thread behind AppendWriter: it opens the store's RocksDB by its
// native handle (the same database, not a second one), and writes each batch
// it is sent with WriteOptions.sync, then says so. RocksDB's DB::Write is
// safe to call from any thread. One batch at a time, in the order sent.
import { createRequire } from 'node:module'
import { parentPort, workerData } from 'node:worker_threads'
import { decodeOps } from './append-ops.ts'

interface Binding {
  db_init(handle: bigint): unknown
  batch_init(): unknown
  batch_put(batch: unknown, key: Uint8Array, value: Uint8Array, options: object): void
  batch_del(batch: unknown, key: Uint8Array, options: object): void
  batch_write(db: unknown, batch: unknown, options: { readonly sync: boolean }): void
  batch_clear(batch: unknown): void
}

const binding = createRequire(import.meta.url)('@nxtedition/rocksdb/binding.js') as Binding
const db = binding.db_init((workerData as { handle: bigint }).handle)
const batch = binding.batch_init()
const noOptions = {}
const port = parentPort
if (port === null) throw new Error('append-worker.ts runs as a worker thread')

port.on('message', (message: { readonly id: number; readonly ops: ArrayBuffer; readonly sync: boolean }) => {
  try {
    decodeOps(message.ops, (key, value) => {
      if (value === null) binding.batch_del(batch, key, noOptions)
      else binding.batch_put(batch, key, value, noOptions)
    })
    binding.batch_write(db, batch, { sync: message.sync })
    port.postMessage({ id: message.id, error: null })
  } catch (error) {
    port.postMessage({ id: message.id, error: String((error as Error)?.stack ?? error) })
  } finally {
    binding.batch_clear(batch)
  }
})
