// Small reads the fault suite's clients share: a znode's stat, and a pause.
// (test/support/http.ts has the like for vitest tests, but checks every
// answer against openapi.yaml with vitest's expect, which the suite's
// runner, a plain Node script, does not load.)

export interface StatRead {
  readonly version: number
  readonly mzxid: number
}

/** The stat of `path` read at `url` (linearizably if asked); null when it does not answer 200 in time. */
export async function readStat(url: string, path: string, linearizable = false): Promise<StatRead | null> {
  try {
    const response = await fetch(`${url}/znodes${path}?stat${linearizable ? '&linearizable' : ''}`, { signal: AbortSignal.timeout(3000) })
    if (response.status !== 200) {
      await response.arrayBuffer()
      return null
    }
    return ((await response.json()) as { stat: StatRead }).stat
  } catch {
    return null
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
