// Failpoints: faults a test asks a node to inject into itself, named by the
// HERD_FAILPOINTS environment variable ("name=value,..."), off when it is
// unset. A leaf: main.ts parses the variable and hands the result to the
// layers that honour it. Production configurations never set it.
//
//   sync-delay-ms=N   every append to the log waits N ms before it starts
//                     (a slow disk: writes queue up and time out)

export interface Failpoints {
  readonly syncDelayMs: number
}

export const noFailpoints: Failpoints = Object.freeze({ syncDelayMs: 0 })

/** Parses HERD_FAILPOINTS; throws an Error naming what it does not understand. */
export function parseFailpoints(text: string | undefined): Failpoints {
  if (text === undefined || text.trim() === '') return noFailpoints
  let syncDelayMs = 0
  for (const item of text.split(',')) {
    const [name, value] = item.trim().split('=')
    const number = Number(value)
    if (name === 'sync-delay-ms' && Number.isInteger(number) && number >= 0 && number <= 60_000) syncDelayMs = number
    else throw new Error(`HERD_FAILPOINTS: unknown or malformed failpoint "${item}"`)
  }
  return Object.freeze({ syncDelayMs })
}
