// Types for the part of @nxtedition/rocksdb (12.2.12, untyped JS over an
// N-API binding) that the rocks store uses, read from its index.js,
// chained-batch.js, iterator.js and binding.cc. Only storage/ imports it.
//
// Facts from the source that the store relies on:
// - ChainedBatch.write() calls _writeSync(), which calls RocksDB's DB::Write
//   inline on the calling thread (WriteOptions.sync = write + fdatasync of
//   the WAL) and throws on failure; write() only defers the outcome to the
//   next tick. The store calls _writeSync() itself so that its in-memory
//   state changes in the same synchronous step as the disk.
// - clear({ gte, lt }) without a limit is one DeleteRange, written unsynced.
// - _getManySync() is a MultiGet on the calling thread; a missing key comes
//   back undefined. It must not be called after close (the binding
//   dereferences the closed DB and the process dies).
// - Keys and values are copied into and out of the binding.

declare module '@nxtedition/rocksdb' {
  export interface RocksOpenOptions {
    readonly createIfMissing?: boolean
    readonly errorIfExists?: boolean
    /** Compress the WAL with zstd (the binding's default is true). */
    readonly walCompression?: boolean
  }

  export interface RocksBatch {
    put(key: Uint8Array, value: Uint8Array): this
    del(key: Uint8Array): this
    write(options?: { readonly sync?: boolean }): Promise<void>
    /** DB::Write on the calling thread; throws if RocksDB fails. The batch stays open: close() it after. */
    _writeSync(options: { readonly sync: boolean }): void
    close(): Promise<void>
    readonly length: number
  }

  export interface RocksIteratorOptions {
    readonly gte?: Uint8Array
    readonly lt?: Uint8Array
    readonly reverse?: boolean
    readonly limit?: number
    readonly keys?: boolean
    readonly values?: boolean
    /** The binding stops a nextv() once the bytes read pass this. */
    readonly highWaterMarkBytes?: number
  }

  export interface RocksIterator {
    /** Up to `size` entries; an empty array once the range is exhausted. */
    nextv(size: number): Promise<[Buffer, Buffer | undefined][]>
    close(): Promise<void>
  }

  export class RocksLevel {
    constructor(location: string, options: { readonly keyEncoding: 'buffer'; readonly valueEncoding: 'buffer' })
    readonly status: 'opening' | 'open' | 'closing' | 'closed'
    readonly location: string
    /** The native database pointer, for opening the same database in a worker thread (binding.db_init). */
    readonly handle: bigint
    open(options?: RocksOpenOptions): Promise<void>
    close(): Promise<void>
    batch(): RocksBatch
    iterator(options: RocksIteratorOptions): RocksIterator
    clear(options: { readonly gte: Uint8Array; readonly lt: Uint8Array }): Promise<void>
    get(key: Uint8Array): Promise<Buffer>
    put(key: Uint8Array, value: Uint8Array, options?: { readonly sync?: boolean }): Promise<void>
    _getManySync(keys: readonly Uint8Array[]): (Buffer | undefined | null)[]
  }
}
