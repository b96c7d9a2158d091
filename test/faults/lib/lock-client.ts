// W6 (RELIABILITY.md): ZooKeeper's lock recipe with a fencing token. Each
// client holds a session, creates an ephemeral sequential child of the lock
// znode, and holds the lock once its child is the first; otherwise it
// watches the child just before its own. A holder reads the resource's
// version, then writes the resource conditionally on that version (the
// fencing token) a few times, and releases by deleting its child.
//
// A nemesis may pause a client (it stops heartbeating and acting, as a
// SIGSTOPped process would). A holder paused long enough loses its session
// and so its lock, and another client takes it; resumed, the old holder still
// believes it holds the lock and writes with the version it read. The fence
// must refuse that write (BadVersion). The check, over every acknowledged
// fenced write ordered by the version it produced: no two writes made the
// same version, and tenures never interleave (once another holder's write
// follows, an earlier tenure never writes again).

import { readStat, sleep } from './znode-reads.ts'

export const lockRoot = '/w6'

export interface FencedWrite {
  /** The holder's tenure: client and the lock child it held. */
  readonly tenure: string
  /** The resource's version after the write. */
  readonly version: number
}

interface Session {
  readonly id: number
  readonly secret: string
}

export class LockClient {
  readonly writes: FencedWrite[] = []
  /** Fenced writes the resource refused (a stale holder's, after a pause). */
  refused = 0
  tenures = 0
  /** Whether the client holds the lock (as far as it knows) right now. */
  isHolding = false
  #session: Session | null = null
  #isPaused = false
  readonly #name: string
  readonly #sessionTimeoutMs: number
  readonly #targets: () => readonly string[]

  constructor(name: string, sessionTimeoutMs: number, targets: () => readonly string[]) {
    this.#name = name
    this.#sessionTimeoutMs = sessionTimeoutMs
    this.#targets = targets
  }

  get isPaused(): boolean {
    return this.#isPaused
  }

  pause(): void {
    this.#isPaused = true
  }

  resume(): void {
    this.#isPaused = false
  }

  async run(isDone: () => boolean): Promise<void> {
    const heartbeats = this.#heartbeat(isDone)
    for (let n = 0; !isDone(); n++) {
      await this.#whilePaused(isDone)
      const url = this.#url(n)
      if (url === undefined || !(await this.#ensureSession(url))) {
        await sleep(200)
        continue
      }
      const child = await this.#enqueue(url)
      if (child === null) {
        await sleep(200)
        continue
      }
      if (await this.#waitForTurn(child, isDone)) await this.#hold(child, isDone)
      await this.#release(child)
    }
    await heartbeats
  }

  /** The lock child named `child` (a full path) is first: hold the lock, write fenced, release. */
  async #hold(child: string, isDone: () => boolean): Promise<void> {
    this.isHolding = true
    try {
      await this.#fencedWrites(child, isDone)
    } finally {
      this.isHolding = false
    }
  }

  async #fencedWrites(child: string, isDone: () => boolean): Promise<void> {
    this.tenures++
    const tenure = `${this.#name}:${child.slice(child.lastIndexOf('/') + 1)}`
    // The fencing token: the resource's version when the lock was taken. Each
    // write must find exactly the version the previous one of this tenure left.
    const url = this.#url(0)
    let version = url === undefined ? null : ((await readStat(url, `${lockRoot}/resource`, true))?.version ?? null)
    for (let write = 0; write < 3 && !isDone() && version !== null; write++) {
      await sleep(50)
      // A pause here is the dangerous one: the session may expire and another client take the lock.
      await this.#whilePaused(isDone)
      const target = this.#url(write + 1)
      if (target === undefined) return
      const written = await fencedWrite(target, tenure, version)
      if (written === 'refused') {
        this.refused++
        return
      }
      if (written === null) return // its outcome is unknown, and so is the version to write at next
      this.writes.push({ tenure, version: written })
      version = written
    }
  }

  async #waitForTurn(child: string, isDone: () => boolean): Promise<boolean> {
    const name = child.slice(child.lastIndexOf('/') + 1)
    for (let n = 0; !isDone(); n++) {
      await this.#whilePaused(isDone)
      const url = this.#url(n)
      if (url === undefined || this.#session === null) return false
      const listed = await listLock(url)
      if (listed === null) {
        await sleep(100)
        continue
      }
      const { names, zxid } = listed
      const index = names.indexOf(name)
      if (index === -1) return false // the session expired and took the child with it
      if (index === 0) return true
      // Watch the one just before: it going away is this client's turn (or its session's end).
      await watchGone(url, `${lockRoot}/lock/${names[index - 1] as string}`, zxid)
    }
    return false
  }

  async #enqueue(url: string): Promise<string | null> {
    const session = this.#session as Session
    try {
      const response = await fetch(`${url}/znodes${lockRoot}/lock/${this.#name}-?ephemeral&sequential`, {
        method: 'PUT',
        headers: { 'herd-session': String(session.id), 'herd-session-secret': session.secret },
        signal: AbortSignal.timeout(4000),
      })
      const body = (await response.json()) as { path?: string; code?: string }
      if (response.status === 201 && typeof body.path === 'string') return body.path
      if (response.status === 410) this.#session = null
      return null
    } catch {
      return null // an unknown create: its child, if any, goes with the session or blocks nobody for long
    }
  }

  async #release(child: string): Promise<void> {
    const url = this.#url(0)
    if (url === undefined) return
    try {
      const response = await fetch(`${url}/znodes${child}`, { method: 'DELETE', signal: AbortSignal.timeout(4000) })
      await response.arrayBuffer()
    } catch {
      // left to the session's expiry
    }
  }

  async #ensureSession(url: string): Promise<boolean> {
    if (this.#session !== null) return true
    try {
      const response = await fetch(`${url}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ timeoutMs: this.#sessionTimeoutMs }), signal: AbortSignal.timeout(4000) })
      if (response.status !== 201) {
        await response.arrayBuffer()
        return false
      }
      this.#session = (await response.json()) as Session
      return true
    } catch {
      return false
    }
  }

  async #heartbeat(isDone: () => boolean): Promise<void> {
    for (let n = 0; !isDone(); n++) {
      await sleep(this.#sessionTimeoutMs / 3)
      const session = this.#session
      const url = this.#url(n)
      if (this.#isPaused || session === null || url === undefined) continue
      try {
        const response = await fetch(`${url}/sessions/${session.id}/heartbeat`, { method: 'POST', headers: { 'herd-session-secret': session.secret }, signal: AbortSignal.timeout(3000) })
        await response.arrayBuffer()
        if (response.status === 410 && this.#session === session) this.#session = null
      } catch {
        // the next one goes elsewhere
      }
    }
  }

  async #whilePaused(isDone: () => boolean): Promise<void> {
    while (this.#isPaused && !isDone()) await sleep(50)
  }

  #url(n: number): string | undefined {
    const urls = this.#targets()
    return urls[n % Math.max(1, urls.length)]
  }
}

/** The version the write produced, 'refused' when the fence held it off, null when its outcome is unknown. */
async function fencedWrite(url: string, tenure: string, version: number): Promise<number | 'refused' | null> {
  try {
    const response = await fetch(`${url}/znodes${lockRoot}/resource?version=${version}`, { method: 'PUT', body: tenure, signal: AbortSignal.timeout(4000) })
    const body = (await response.json()) as { stat?: { version: number }; code?: string }
    if (response.status === 200 && body.stat !== undefined) return body.stat.version
    if (body.code === 'BadVersion') return 'refused'
    return null
  } catch {
    return null
  }
}

async function listLock(url: string): Promise<{ names: string[]; zxid: number } | null> {
  try {
    const response = await fetch(`${url}/znodes${lockRoot}/lock?children&linearizable`, { signal: AbortSignal.timeout(3000) })
    if (response.status !== 200) {
      await response.arrayBuffer()
      return null
    }
    const names = ((await response.json()) as { children: string[] }).children
    // Order by the sequence suffix, as the recipe does (names differ in their client prefix).
    return { names: names.sort((x, y) => x.slice(-10).localeCompare(y.slice(-10))), zxid: Number(response.headers.get('herd-zxid')) }
  } catch {
    return null
  }
}

/** Waits (at most 2 s) for `path` to change after `zxid` (its deletion, in the recipe), by an exists watch. */
async function watchGone(url: string, path: string, zxid: number): Promise<void> {
  try {
    const response = await fetch(`${url}/znodes${path}?watch=exists&zxid=${zxid}`, { signal: AbortSignal.timeout(2000) })
    await response.text()
  } catch {
    // timed out: look again
  }
}

/** Violations of the fence among acknowledged fenced writes. */
export function checkFencedWrites(writes: readonly FencedWrite[]): string[] {
  const failures: string[] = []
  const byVersion = [...writes].sort((a, b) => a.version - b.version)
  const ended = new Set<string>()
  let current: string | null = null
  for (const [i, write] of byVersion.entries()) {
    const previous = byVersion[i - 1]
    if (previous !== undefined && previous.version === write.version) failures.push(`two fenced writes made version ${write.version} (${previous.tenure} and ${write.tenure})`)
    if (write.tenure !== current) {
      if (ended.has(write.tenure)) failures.push(`${write.tenure} wrote version ${write.version} after another holder's write: tenures interleaved`)
      if (current !== null) ended.add(current)
      current = write.tenure
    }
  }
  return failures.slice(0, 20)
}

