import { describe, expect, it } from 'vitest'
import { baseName, formatSequence, isReservedPath, joinPath, parentPath, validatePath } from '../../../src/tree/index.ts'

describe('PathUtils.validatePath', () => {
  it.each([
    ['/'],
    ['/a'],
    ['/a/b/c'],
    ['/zookeeper'],
    ['/a.b'],
    ['/...'],
    ['/.a'],
    ['/a.'],
    ['/..a'],
    ['/a b'],
    ['/é/ü'],
    ['/\u00a0'],
    ['/\uf900'],
    ['/\uffef'],
    ['/0000000001'],
  ])('accepts %j', (path) => {
    expect(validatePath(path, false)).toBeNull()
  })

  it.each([
    ['', /length must be > 0/],
    ['a', /must start with \//],
    ['a/b', /must start with \//],
    ['/a/', /must not end with \//],
    ['//', /must not end with \//],
    ['//a', /empty node name/],
    ['/a//b', /empty node name/],
    ['/.', /relative paths/],
    ['/..', /relative paths/],
    ['/a/.', /relative paths/],
    ['/a/..', /relative paths/],
    ['/./a', /relative paths/],
    ['/../a', /relative paths/],
    ['/a\u0000b', /null character/],
    ['/a\u0001', /invalid character/],
    ['/a\u001f', /invalid character/],
    ['/a\u007f', /invalid character/],
    ['/a\u0085', /invalid character/],
    ['/a\u009f', /invalid character/],
    ['/a\ud800', /invalid character/],
    ['/a\udfff', /invalid character/],
    ['/a\ud83d\ude00', /invalid character/],
    ['/a\ue000', /invalid character/],
    ['/a\uf8ff', /invalid character/],
    ['/a\ufff0', /invalid character/],
    ['/a\ufffe', /invalid character/],
    ['/a\uffff', /invalid character/],
  ])('rejects %j', (path, reason) => {
    expect(validatePath(path, false)).toMatch(reason)
  })

  it('checks a sequential create as path + "1", so a trailing / is allowed', () => {
    expect(validatePath('/tasks/', true)).toBeNull()
    expect(validatePath('/', true)).toBeNull()
    expect(validatePath('/tasks/job-', true)).toBeNull()
    expect(validatePath('/tasks/', false)).toMatch(/must not end with/)
    expect(validatePath('/tasks//', true)).toMatch(/empty node name/)
    expect(validatePath('/a/./', true)).toMatch(/relative paths/)
    expect(validatePath('tasks/', true)).toMatch(/must start with/)
    // "/." + "1" is the legal name ".1"
    expect(validatePath('/.', true)).toBeNull()
  })
})

describe('path helpers', () => {
  it.each([
    ['/', null],
    ['/a', '/'],
    ['/a/b', '/a'],
    ['/tasks/', '/tasks'],
    ['/tasks/job-', '/tasks'],
  ])('parentPath(%j) = %j', (path, parent) => {
    expect(parentPath(path)).toBe(parent)
  })

  it('baseName and joinPath are inverses of parentPath', () => {
    expect(baseName('/')).toBe('')
    expect(baseName('/a')).toBe('a')
    expect(baseName('/a/b')).toBe('b')
    expect(joinPath('/', 'a')).toBe('/a')
    expect(joinPath('/a', 'b')).toBe('/a/b')
  })

  it('reserves /zookeeper and everything under it, and nothing else', () => {
    expect(isReservedPath('/zookeeper')).toBe(true)
    expect(isReservedPath('/zookeeper/quota')).toBe(true)
    expect(isReservedPath('/zookeeper/config/x')).toBe(true)
    expect(isReservedPath('/zookeeper2')).toBe(false)
    expect(isReservedPath('/zoo')).toBe(false)
    expect(isReservedPath('/')).toBe(false)
    expect(isReservedPath('/a/zookeeper')).toBe(false)
  })
})

describe('sequence suffix: String.format("%010d", int)', () => {
  it.each([
    [0, '0000000000'],
    [7, '0000000007'],
    [1234567890, '1234567890'],
    [2147483647, '2147483647'],
    // past Integer.MAX_VALUE the Java int wraps to negative
    [2147483648, '-2147483648'],
    [2 ** 32 - 1, '-000000001'],
    [2 ** 32 - 2, '-000000002'],
    [2 ** 32 - 123, '-000000123'],
    [2 ** 32, '0000000000'],
  ])('formats creations=%d as %j', (creations, suffix) => {
    expect(formatSequence(creations)).toBe(suffix)
  })
})
