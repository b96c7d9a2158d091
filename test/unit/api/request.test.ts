// The pure parts of reading a request: query flags, integers, znode paths
// decoded once and never normalised, ETags.
import { describe, expect, it } from 'vitest'
import { HerdError } from '../../../src/errors.ts'
import { checkTarget, flag, integer, parseEtag, parseQuery, znodePath } from '../../../src/api/request.ts'

function codeOf(action: () => unknown): string | undefined {
  try {
    action()
  } catch (error) {
    return error instanceof HerdError ? error.code : `not a HerdError: ${String(error)}`
  }
  return undefined
}

describe('query parameters', () => {
  it('accepts allowed flags bare or with true/false', () => {
    const query = parseQuery('sequential&ephemeral=true&container=false', ['sequential', 'ephemeral', 'container'])
    expect([flag(query, 'sequential'), flag(query, 'ephemeral'), flag(query, 'container'), flag(query, 'ttl')]).toEqual([true, true, false, false])
  })

  it('rejects unknown parameters, repeats of single ones, and flag values that are not booleans', () => {
    expect(codeOf(() => parseQuery('sequentail', ['sequential']))).toBe('BadArguments')
    expect(codeOf(() => parseQuery('version=1&version=2', ['version']))).toBe('BadArguments')
    expect(codeOf(() => flag(parseQuery('sequential=yes', ['sequential']), 'sequential'))).toBe('BadArguments')
    expect(parseQuery('acl=a&acl=b', ['acl'], ['acl']).get('acl')).toEqual(['a', 'b'])
  })

  it.each(['1.5', '-2', '9007199254740993', '"1"', 'null', '', '0x10'])('rejects %j as a version', (text) => {
    expect(codeOf(() => integer(text, 'version', -1, 2_147_483_647))).toBe('BadArguments')
  })
})

describe('znode paths from the request target (ZooKeeper PathUtils, decoded once)', () => {
  const path = (target: string, isSequential = false) => znodePath(target, '/znodes', 4096, isSequential)

  it('maps /znodes and /znodes/ to the root and keeps names literal', () => {
    expect(path('/znodes')).toBe('/')
    expect(path('/znodes/')).toBe('/')
    expect(path('/znodes/app/config')).toBe('/app/config')
    expect(path('/znodes/a%20b/%C3%A9')).toBe('/a b/é')
  })

  it('allows a trailing slash only for a sequential create', () => {
    expect(path('/znodes/tasks/', true)).toBe('/tasks/')
    expect(codeOf(() => path('/znodes/tasks/'))).toBe('BadArguments')
  })

  it.each([
    ['/znodes/a%2fb', 'encoded slash'],
    ['/znodes/a//b', 'empty segment'],
    ['/znodes/a/%00', 'NUL'],
    ['/znodes/a/%1F', 'control character'],
    ['/znodes/a/%C2%85', 'C1 control'],
    ['/znodes/a/%ED%A0%80', 'lone surrogate (invalid UTF-8)'],
    ['/znodes/a/%EF%BF%BE', 'U+FFFE'],
    ['/znodes/a/%EE%80%80', 'U+E000 (ZooKeeper forbids \\uD800-\\uF8FF)'],
    ['/znodes/a/%ff', 'invalid UTF-8'],
    ['/znodes/a/%c0%ae', 'overlong UTF-8'],
    ['/znodes/a/%', 'truncated escape'],
  ])('rejects %s (%s)', (target) => {
    expect(codeOf(() => path(target))).toBe('BadArguments')
  })

  it('rejects a path longer than pathBytesMax', () => {
    expect(codeOf(() => znodePath('/znodes/' + 'a'.repeat(100), '/znodes', 64, false))).toBe('BadArguments')
  })

  it.each(['/znodes/a/../b', '/znodes/a/%2e%2e/b', '/znodes/a/%2E%2e/secret', '/znodes/a/./b', '/znodes/a/.%2e', '/znodes/a\\b', 'znodes/a'])(
    'rejects %s before routing (a URL parser would rewrite it)',
    (pathname) => {
      expect(codeOf(() => checkTarget({ pathname, search: '' }))).toBe('BadArguments')
    },
  )

  it('lets names that merely contain dots through', () => {
    expect(codeOf(() => checkTarget({ pathname: '/znodes/a/...', search: '' }))).toBeUndefined()
    expect(path('/znodes/a/.hidden/b..c')).toBe('/a/.hidden/b..c')
  })
})

describe('ETags', () => {
  it.each([
    ['"3"', 3],
    ['3', 3],
    ['W/"3"', 3],
    ['*', -1],
  ])('reads %s as version %d', (text, version) => {
    expect(parseEtag(text, 'If-Match')).toBe(version)
  })

  it.each(['"a"', '"-1"', '"1", "2"', ''])('rejects %j', (text) => {
    expect(codeOf(() => parseEtag(text, 'If-Match'))).toBe('BadArguments')
  })
})
