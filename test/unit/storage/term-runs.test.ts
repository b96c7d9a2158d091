// TermRuns against the obvious model: an array holding every entry's term.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TermRuns } from '../../../src/storage/term-runs.ts'

type Step = { readonly kind: 'push' | 'truncate' | 'drop' | 'reset'; readonly n: number }

const step: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom<Step['kind']>('push', 'push', 'push', 'truncate', 'drop', 'reset'),
  n: fc.nat(20),
})

describe('TermRuns', () => {
  it('answers term(i) as an array of every term would', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const runs = new TermRuns(1)
        let first = 1
        let terms: number[] = [] // terms[i] is the term at first + i
        let term = 1
        for (const { kind, n } of steps) {
          const last = first + terms.length - 1
          if (kind === 'push') {
            for (let k = 0; k <= n % 4; k++) {
              if (n % 3 === 0) term++
              runs.push(first + terms.length, term)
              terms.push(term)
            }
          } else if (kind === 'truncate') {
            const index = first + (n % (terms.length + 1))
            runs.truncateFrom(index)
            terms = terms.slice(0, index - first)
          } else if (kind === 'drop') {
            const index = first - 1 + (n % (terms.length + 1))
            runs.dropThrough(index)
            terms = terms.slice(index - first + 1)
            first = index + 1
          } else {
            first = last + 1 + n
            terms = []
            runs.reset(first)
          }
          expect(runs.firstIndex()).toBe(first)
          expect(runs.lastIndex()).toBe(first + terms.length - 1)
          for (let index = first - 2; index <= first + terms.length + 1; index++) {
            expect(runs.term(index)).toBe(terms[index - first])
          }
        }
      }),
      { numRuns: 500 },
    )
  })
})
