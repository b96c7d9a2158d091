// Disks that can be filled up, for RELIABILITY.md's F15: a size-capped
// tmpfs mounted on a data directory, and a filler file that takes every
// byte left on it. Mounting needs root (CI runs as root on these machines);
// canMountTmpfs() says whether this process may, so a test can say why it
// did not run instead of failing on a machine that forbids mounts.
import { execFileSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, rmdirSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { makeTempDir, removeTempDir } from './node-process.ts'

/** Whether this process can mount (and unmount) a tmpfs. */
export function canMountTmpfs(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false
  const dir = makeTempDir('herd-tmpfs-probe-')
  try {
    mountTmpfs(dir, 1024 * 1024)
    unmountTmpfs(dir)
    return true
  } catch {
    return false
  } finally {
    removeTempDir(dir)
  }
}

/** Mounts a tmpfs of `bytes` on `dir` (made if missing). */
export function mountTmpfs(dir: string, bytes: number): void {
  mkdirSync(dir, { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' })
}

/** Unmounts the tmpfs on `dir` (lazily, should a dying process still hold a file there); its contents go with it. */
export function unmountTmpfs(dir: string): void {
  execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
}

/**
 * Writes a file in `dir` until the filesystem refuses with ENOSPC, in ever
 * smaller pieces down to one byte, so not a page is left. Answers its path:
 * removing it frees the disk again.
 */
export function fillUp(dir: string): string {
  const path = join(dir, 'filler')
  const fd = openSync(path, 'w')
  try {
    for (let size = 1024 * 1024; size >= 1; size = Math.floor(size / 4)) {
      const chunk = Buffer.alloc(size, 0x5a)
      for (;;) {
        try {
          writeSync(fd, chunk)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break
          throw error
        }
      }
    }
  } finally {
    closeSync(fd)
  }
  return path
}

/** Removes a filler fillUp made. */
export function unfill(path: string): void {
  unlinkSync(path)
}

/** Unmounts, then removes the (now empty) mount point. */
export function releaseTmpfs(dir: string): void {
  try {
    unmountTmpfs(dir)
  } catch {
    // not mounted (a test that failed before it mounted)
  }
  try {
    rmdirSync(dir)
  } catch {
    // removed with its parent later
  }
}
