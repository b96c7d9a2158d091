// Retrying a write safely. A write that met a transient failure
// (ConnectionLoss, OperationTimeout, Throttled) may or may not have happened;
// sent again with the same Idempotency-Key it happens at most once, and the
// retry returns the first attempt's result (a sequential create gets back the
// same name). Backoff is exponential with full jitter, or the server's
// Retry-After, and the number of attempts is bounded.
import { HerdClientError, isTransient } from './client-error.ts'

/** The most retries one call may ask for. */
export const retriesMax = 100

const backoffBaseMs = 50
const backoffMaxMs = 2000

/** A fresh Idempotency-Key (a random UUID: 36 visible ASCII characters). */
export function newIdempotencyKey(): string {
  return crypto.randomUUID()
}

export function checkRetries(retries: number): number {
  if (!Number.isSafeInteger(retries) || retries < 0 || retries > retriesMax) {
    throw new HerdClientError({ code: 'BadArguments', detail: `retries must be an integer from 0 to ${retriesMax}, got ${retries}` })
  }
  return retries
}

/** Runs `attempt` until it succeeds, fails for good, or has been retried `retries` times. */
export async function withRetries<T>(retries: number, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await attempt()
    } catch (error) {
      if (!(error instanceof HerdClientError) || !isTransient(error.code) || failures >= retries) throw error
      await sleep(error.retryAfterMs ?? Math.random() * Math.min(backoffMaxMs, backoffBaseMs * 2 ** failures), signal)
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
