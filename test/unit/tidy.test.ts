// The style rules that can be checked, checked (in the manner of
// TigerBeetle's tidy.zig), so the repository needs no lint configuration:
// layer boundaries (STYLE.md, "Module boundaries"), every folder entered only
// through its index.ts, a pure tree, named exports, kebab-case file names and
// a module comment at the top of every folder's door.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = resolve(new URL('../..', import.meta.url).pathname)
const src = join(root, 'src')

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}

const sourceFiles = walk(src).filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
const testFiles = walk(join(root, 'test')).filter((file) => file.endsWith('.ts'))

interface Import {
  readonly file: string
  readonly specifier: string
  /** The imported file, for a relative specifier. */
  readonly target: string | null
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8')
  const found: Import[] = []
  const pattern = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g
  for (const match of text.matchAll(pattern)) {
    const specifier = (match[1] ?? match[2] ?? match[3]) as string
    found.push({ file, specifier, target: specifier.startsWith('.') ? resolve(dirname(file), specifier) : null })
  }
  return found
}

/** The layer a source file belongs to: its first folder under src/, or 'leaf' / 'root' for top-level files. */
function layerOf(file: string): string {
  const rel = relative(src, file)
  const parts = rel.split('/')
  if (parts.length === 1) return ['main.ts', 'assemble.ts'].includes(rel) ? 'root' : 'leaf'
  if (parts[0] === 'replication' && parts[1] === 'core') return 'replication/core'
  return parts[0] as string
}

const leaves = ['leaf']
const allowed: Record<string, { layers: readonly string[]; packages: readonly string[] }> = {
  leaf: { layers: [], packages: [] },
  tree: { layers: [], packages: [] },
  'replication/core': { layers: [], packages: [] },
  storage: { layers: [], packages: ['@nxtedition/rocksdb', 'node:'] },
  http: { layers: [], packages: ['node:'] },
  replication: { layers: ['replication/core', 'storage', 'tree', 'http'], packages: ['undici', 'hono', '@hono/node-server', 'node:'] },
  sessions: { layers: ['replication', 'tree'], packages: ['node:'] },
  watches: { layers: ['tree'], packages: [] },
  reaper: { layers: ['replication', 'tree'], packages: [] },
  api: { layers: ['sessions', 'watches', 'replication', 'tree', 'http'], packages: ['hono', '@hono/node-server', 'node:'] },
  client: { layers: [], packages: ['undici', 'node:'] },
  cli: { layers: ['root', 'api', 'sessions', 'watches', 'replication', 'storage', 'tree', 'reaper', 'client'], packages: ['node:'] },
  threads: { layers: ['api', 'sessions', 'watches', 'replication', 'storage', 'tree'], packages: ['node:'] },
  root: { layers: ['api', 'sessions', 'watches', 'replication', 'storage', 'tree', 'reaper', 'threads'], packages: ['node:'] },
}
/** The client SDK is for other programs: of the server it may see only the contract's types and the error codes. */
const clientLeaves = ['openapi.gen.ts', 'errors.ts']

describe('module boundaries (STYLE.md)', () => {
  const imports = sourceFiles.flatMap(importsOf)

  it('every layer imports only the layers and packages below it', () => {
    const violations: string[] = []
    for (const { file, specifier, target } of imports) {
      const from = layerOf(file)
      const rule = allowed[from]
      if (rule === undefined) {
        violations.push(`${relative(root, file)}: folder src/${from} has no rule in tidy.test.ts`)
        continue
      }
      if (target === null) {
        if (!rule.packages.some((allowedPackage) => specifier === allowedPackage || specifier.startsWith(allowedPackage.endsWith(':') ? allowedPackage : `${allowedPackage}/`))) {
          violations.push(`${relative(root, file)} (${from}) imports package ${specifier}`)
        }
        continue
      }
      const to = layerOf(target)
      if (to === from) continue
      if (from === 'client' && !(to === 'leaf' && clientLeaves.includes(relative(src, target)))) {
        violations.push(`${relative(root, file)} (client) imports ${relative(root, target)}`)
      } else if (from !== 'client' && !leaves.includes(to) && !rule.layers.includes(to)) {
        violations.push(`${relative(root, file)} (${from}) imports ${relative(root, target)} (${to})`)
      }
    }
    expect(violations).toEqual([])
  })

  it('a folder is entered only through its index.ts', () => {
    const violations = imports
      .filter(({ file, target }) => target !== null && layerOf(target) !== 'leaf' && layerOf(target) !== 'root' && layerOf(target) !== layerOf(file))
      .filter(({ target }) => !(target as string).endsWith('/index.ts'))
      .map(({ file, specifier }) => `${relative(root, file)} imports ${specifier}`)
    expect(violations).toEqual([])
  })

  it('leaves import no layer', () => {
    const violations = imports
      .filter(({ file, target }) => layerOf(file) === 'leaf' && target !== null && layerOf(target) !== 'leaf')
      .map(({ file, specifier }) => `${relative(root, file)} imports ${specifier}`)
    expect(violations).toEqual([])
  })
})

describe('the tree is a function of its inputs (STYLE.md rule 1)', () => {
  const pure = sourceFiles.filter((file) => ['tree', 'replication/core'].includes(layerOf(file)))
  const banned: ReadonlyArray<readonly [RegExp, string]> = [
    [/\bDate\b/, 'Date'],
    [/\bMath\.random\b/, 'Math.random'],
    [/\bset(?:Timeout|Interval|Immediate)\b/, 'timers'],
    [/\bprocess\./, 'process'],
    [/\bperformance\./, 'performance'],
    [/\bawait\b/, 'await'],
    [/from\s+['"]node:/, 'node:* imports'],
  ]

  it.each(pure.map((file) => [relative(root, file), file]))('%s uses no clock, randomness, timers, process or I/O', (_name, file) => {
    const code = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '')
    expect(banned.filter(([pattern]) => pattern.test(code)).map(([, what]) => what)).toEqual([])
  })
})

describe('naming and shape (STYLE.md rule 8)', () => {
  it('source and test files are kebab-case', () => {
    const names = [...sourceFiles, ...testFiles].map((file) => relative(root, file))
    expect(names.filter((name) => !/^[a-z0-9.-]+$/.test(name.split('/').pop() as string))).toEqual([])
  })

  it('there are no default exports', () => {
    expect(sourceFiles.filter((file) => /\bexport\s+default\b/.test(readFileSync(file, 'utf8'))).map((file) => relative(root, file))).toEqual([])
  })

  it('every folder under src/ has an index.ts that opens with a comment saying what it is for', () => {
    const folders = readdirSync(src).filter((name) => statSync(join(src, name)).isDirectory())
    const missing = folders.filter((folder) => {
      const index = join(src, folder, 'index.ts')
      try {
        return !readFileSync(index, 'utf8').trimStart().startsWith('//')
      } catch {
        return true
      }
    })
    expect(missing).toEqual([])
  })
})
