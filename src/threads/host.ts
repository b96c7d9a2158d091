// The main thread's side of the serving threads. Each serving thread runs
// the whole HTTP app on the shared client port (SO_REUSEPORT: the kernel
// spreads connections over the threads) with a MirrorReplica of the tree.
// This host starts them from a snapshot of the Replica's tree, sends each
// committed batch to all of them (tagging, for each thread, the entries it
// proposed), publishes the Replica's applied zxid in shared memory before any
// write it answers is answered, proposes the writes they forward and does the
// session operations that need the lease table.
//
// Why threads: one event loop serves reads at about two thirds of what a
// bare node:http server manages on this 2-core machine; the second core did
// little else. A thread's failure stops the process (a supervisor restarts
// it): its connections cannot be handed to another thread.
import { Worker } from 'node:worker_threads'
import type { Config } from '../config.ts'
import { isHerdError, type ErrorCode } from '../errors.ts'
import type { Logger } from '../log.ts'
import { packEntries, parseMembershipChange, unpackProposals, type Replica, type SubmitMessage } from '../replication/index.ts'
import type { SessionTracker } from '../sessions/index.ts'
import type { LogRecord } from '../storage/index.ts'
import type { CallMessage, StartMessage, ToMain, ToWorker, WorkerData } from './protocol.ts'

export interface ServingThreadsOptions {
  readonly replica: Replica
  readonly sessions: SessionTracker
  readonly config: Config
  readonly log: Logger
  /** The client port the main thread bound. */
  readonly port: number
  readonly applied: SharedArrayBuffer
  readonly streamCounts: SharedArrayBuffer
  /** Stops the process: a serving thread failed. */
  readonly onFatal: (error: unknown) => void
}

interface Thread {
  readonly index: number
  readonly worker: Worker
  /** zxid -> the thread's request id and the term it was proposed in, for entries it proposed and has not been sent yet. */
  readonly tags: Map<number, { readonly id: number; readonly term: number }>
  /** Writes of this thread forwarded to a leader and not yet answered: their results are asked for by zxid once known. */
  forwarding: number
  isStopping: boolean
}

/** A BigInt64Array(1) over a new SharedArrayBuffer: the Replica's applied zxid. */
export function appliedBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT)
}

export class ServingThreads {
  readonly #options: ServingThreadsOptions
  readonly #applied: BigInt64Array
  readonly #threads: Thread[] = []
  #unsubscribe: (() => void) | null = null

  constructor(options: ServingThreadsOptions) {
    this.#options = options
    this.#applied = new BigInt64Array(options.applied)
  }

  /** Starts `count` serving threads and resolves once every one listens. */
  async start(count: number): Promise<void> {
    const { replica } = this.#options
    Atomics.store(this.#applied, 0, BigInt(replica.appliedZxid))
    const unsubscribeBatches = replica.onAppliedBatch((records) => this.#broadcast(records))
    const unsubscribeStatus = replica.onStatusChange(() => {
      const status = replica.status()
      for (const thread of this.#threads) thread.worker.postMessage({ t: 'status', status } satisfies ToWorker)
    })
    const unsubscribeResets = replica.onReset((_before, _after, chunks) => {
      for (const thread of this.#threads) thread.worker.postMessage({ t: 'reset', chunks } satisfies ToWorker)
    })
    this.#unsubscribe = () => {
      unsubscribeBatches()
      unsubscribeStatus()
      unsubscribeResets()
    }
    await Promise.all(Array.from({ length: count }, (_, i) => this.#spawn(i + 1)))
  }

  /** Asks every thread to stop serving, and waits for them (then terminates what is left). */
  async stop(graceMs: number): Promise<void> {
    this.#unsubscribe?.()
    await Promise.all(
      this.#threads.map(async (thread) => {
        thread.isStopping = true
        const exited = new Promise<void>((resolve) => thread.worker.once('exit', () => resolve()))
        thread.worker.postMessage({ t: 'stop' } satisfies ToWorker)
        const timer = setTimeout(() => void thread.worker.terminate(), graceMs)
        timer.unref()
        await exited
        clearTimeout(timer)
      }),
    )
  }

  #spawn(index: number): Promise<void> {
    const { config, port, replica } = this.#options
    const data: WorkerData = { index, config, port, applied: this.#options.applied, streamCounts: this.#options.streamCounts }
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: data })
    const thread: Thread = { index, worker, tags: new Map(), forwarding: 0, isStopping: false }
    this.#threads.push(thread)
    // The snapshot and every batch after it go out in order on the same port,
    // so the thread starts exactly where the stream of entries begins.
    const chunks = replica.snapshotChunks()
    const start: StartMessage = { t: 'start', chunks, status: replica.status() }
    worker.postMessage(start, chunks.map((chunk) => chunk.buffer as ArrayBuffer))
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (message: ToMain) => {
        if (message.t === 'ready') resolve()
        else this.#onMessage(thread, message)
      })
      worker.once('error', (error) => {
        reject(error)
        this.#options.onFatal(new Error(`serving thread ${index} failed: ${error.stack ?? error.message}`))
      })
      worker.once('exit', (code) => {
        if (thread.isStopping) return
        const error = new Error(`serving thread ${index} exited (${code})`)
        reject(error)
        this.#options.onFatal(error)
      })
    })
  }

  #broadcast(records: readonly LogRecord[]): void {
    const last = records[records.length - 1]
    if (last === undefined) return
    // Published before any write of this batch is answered anywhere.
    Atomics.store(this.#applied, 0, BigInt(last.index))
    for (const thread of this.#threads) {
      const tags: Array<readonly [number, number]> = []
      if (thread.tags.size > 0) {
        for (let i = 0; i < records.length; i++) {
          const record = records[i] as LogRecord
          const tag = thread.tags.get(record.index)
          if (tag === undefined) continue
          thread.tags.delete(record.index)
          // Another leader's entry at this zxid: the write was lost, and its rejection follows.
          if (tag.term === record.term) tags.push([i, tag.id])
        }
      }
      const message = packEntries(records, tags, thread.forwarding > 0)
      thread.worker.postMessage(message, [message.buffer])
    }
  }

  #onMessage(thread: Thread, message: SubmitMessage | CallMessage | { readonly t: 'stopped' }): void {
    if (message.t === 'submit') this.#submit(thread, message)
    else if (message.t === 'call') void this.#call(thread, message)
  }

  #submit(thread: Thread, message: SubmitMessage): void {
    const proposals = unpackProposals(message)
    for (let i = 0; i < message.ids.length; i++) {
      const id = message.ids[i] as number
      const { zxid, term, committed } = this.#options.replica.proposeEncoded(proposals[i] as Uint8Array)
      if (zxid !== null) {
        thread.tags.set(zxid, { id, term })
      } else {
        // Forwarded to the leader: its zxid is known once applied here, so
        // it is answered by a DoneMessage after the batch that carried it.
        thread.forwarding++
        committed.then(
          ({ zxid: applied }) => {
            thread.forwarding--
            thread.worker.postMessage({ t: 'done', id, zxid: applied } satisfies ToWorker)
          },
          () => thread.forwarding--,
        )
      }
      committed.catch((error: unknown) => {
        if (zxid !== null) thread.tags.delete(zxid)
        const { code, detail } = describe(error)
        thread.worker.postMessage({ t: 'failed', id, code, detail } satisfies ToWorker)
      })
    }
  }

  async #call(thread: Thread, message: CallMessage): Promise<void> {
    const { sessions } = this.#options
    try {
      let value: unknown
      if (message.method === 'heartbeat') value = await sessions.heartbeat(message.sessionId, message.secret)
      else if (message.method === 'createSession') value = await sessions.create(message.timeoutMs)
      else if (message.method === 'clusterStatus') value = await this.#options.replica.clusterStatus(message.timeoutMs ?? 1000)
      else if (message.method === 'sync') value = await this.#options.replica.sync(message.timeoutMs ?? 1000)
      else if (message.method === 'membership') value = await this.#options.replica.changeMembership(parseMembershipChange(message.args))
      else value = await sessions.close(message.sessionId, message.secret)
      thread.worker.postMessage({ t: 'reply', id: message.id, value } satisfies ToWorker)
    } catch (error) {
      const { code, detail } = describe(error)
      thread.worker.postMessage({ t: 'callFailed', id: message.id, code, detail } satisfies ToWorker)
    }
  }
}

function describe(error: unknown): { code: ErrorCode; detail: string } {
  if (isHerdError(error)) return { code: error.code, detail: error.detail }
  return { code: 'SystemError', detail: 'internal error on the replica thread' }
}
