// Programmer errors are broken invariants: they crash (Tiger Style). Expected
// failures are HerdErrors instead (errors.ts). This file imports nothing.

export class AssertionError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AssertionError'
  }
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message)
}

/** For the branch a discriminated union makes impossible. */
export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`)
}
