// openapi.yaml is the contract and src/openapi.gen.ts is generated from it:
// this fails when someone edits one without regenerating the other
// (fix with `npm run gen`).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'

const root = new URL('../..', import.meta.url).pathname

it('src/openapi.gen.ts is generated from the current openapi.yaml', () => {
  const dir = mkdtempSync(join(tmpdir(), 'herd-gen-'))
  try {
    const fresh = join(dir, 'openapi.gen.ts')
    execFileSync(join(root, 'node_modules/.bin/openapi-typescript'), [join(root, 'openapi.yaml'), '-o', fresh], { stdio: 'pipe' })
    expect(readFileSync(join(root, 'src/openapi.gen.ts'), 'utf8')).toBe(readFileSync(fresh, 'utf8'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
