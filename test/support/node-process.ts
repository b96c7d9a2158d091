// Starts real herd processes for tests, as `npm start` does (node src/main.ts
// under the project's Node 24), on a port chosen at run time and a fresh
// temporary data directory, and makes sure they and their directories are
// gone when the test file ends (afterAll, or process exit as a last resort).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const repoRoot = new URL('../..', import.meta.url).pathname
/** The project's Node 24 (the system node may be older). */
export const nodeBinary = join(repoRoot, 'node_modules/.bin/node')
export const mainScript = join(repoRoot, 'src/main.ts')

export interface StartOptions {
  /** Reuse a data directory (to restart on it); a fresh temporary one otherwise. */
  readonly dataDir?: string
  /** Extra command-line options, e.g. ['--tick-ms', '100']. */
  readonly args?: readonly string[]
  readonly env?: Readonly<Record<string, string>>
  /** Fixed client port; 0 (the default) lets the OS pick. */
  readonly port?: number
  readonly startTimeoutMs?: number
}

export interface NodeProcess {
  readonly url: string
  readonly port: number
  readonly dataDir: string
  readonly child: ChildProcess
  /** Everything the process wrote to stderr and stdout so far. */
  output(): string
  /** Graceful stop (SIGTERM), resolving with the exit code. */
  stop(): Promise<number | null>
  /** SIGKILL: no shutdown hooks run. Resolves once the process is gone. */
  kill(): Promise<void>
  /** Waits for the process to end by itself: its exit code, or the signal that ended it; throws (with its last output) after `withinMs`. */
  ended(withinMs: number): Promise<number | NodeJS.Signals>
  /** A new process on the same data directory (and, unless told otherwise, the same port). */
  restart(options?: Omit<StartOptions, 'dataDir'>): Promise<NodeProcess>
}

const live = new Set<ChildProcess>()
const tempDirs = new Set<string>()

process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})

export function makeTempDir(prefix = 'herd-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

/**
 * Removes a directory makeTempDir made, now: the 'exit' hook above does not
 * run in a vitest worker, so whoever made one removes it when done.
 */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
}

export async function startNode(options: StartOptions = {}): Promise<NodeProcess> {
  const dataDir = options.dataDir ?? join(makeTempDir(), 'data')
  // Two serving threads unless the test says otherwise: the default is one
  // on a 2-CPU machine (one per CPU beyond the first), and a second thread
  // keeps its hop (forwarded writes and session calls, shared watch-stream
  // counts, waiting for the main thread's applied zxid) under every HTTP
  // test, as machines with more CPUs run it. Clusters' tests run one.
  const threads = options.args?.includes('--serve-threads') === true ? [] : ['--serve-threads', '2']
  const args = [mainScript, '--client-port', String(options.port ?? 0), '--data-dir', dataDir, ...threads, ...(options.args ?? [])]
  const child = spawn(nodeBinary, args, {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  let output = ''
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child)
      resolve(code)
    })
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`herd did not start within ${options.startTimeoutMs ?? 20_000} ms:\n${output}`)), options.startTimeoutMs ?? 20_000)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`herd exited with ${code} before listening:\n${output}`))
    })
  })
  const node: NodeProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill('SIGTERM')
      return exited
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGKILL')
      await exited
    },
    async ended(withinMs) {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`herd was still running after ${withinMs} ms:\n${output.slice(-2000)}`)), withinMs)
      })
      try {
        await Promise.race([exited, late])
      } finally {
        clearTimeout(timer)
      }
      return child.exitCode ?? (child.signalCode as NodeJS.Signals)
    },
    async restart(more = {}) {
      await node.stop()
      return startNode({ ...options, ...more, dataDir, port: more.port ?? port })
    },
  }
  return node
}

/** Stops every node given, then removes the temporary directories made so far. */
export async function stopAll(nodes: Iterable<NodeProcess | undefined>): Promise<void> {
  await Promise.all([...nodes].map((node) => node?.kill()))
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}
