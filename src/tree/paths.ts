// Znode paths: ZooKeeper's PathUtils.validatePath to the letter, and the
// small string helpers the tree needs (parent, name, join, reserved).

export const rootPath = '/'

/** ZooKeeper's system subtree: readable, never writable through the API. */
export const reservedPath = '/zookeeper'

/**
 * ZooKeeper's `PathUtils.validatePath(path, isSequential)`: null when the
 * path is valid, else the reason. A sequential create is checked as
 * `path + "1"`, so its name prefix may be empty ("/tasks/" names children
 * "/tasks/0000000007").
 */
export function validatePath(path: string, isSequential: boolean): string | null {
  return validatePathString(isSequential ? path + '1' : path)
}

/**
 * The Java loop transcribed. Java strings are UTF-16 like JS ones, so the
 * code unit ranges apply as they are: every surrogate (\uD800-\uDFFF) is
 * refused, paired or not, as ZooKeeper does.
 */
function validatePathString(path: string): string | null {
  const length = path.length
  if (length === 0) return 'path length must be > 0'
  if (path.charCodeAt(0) !== 0x2f) return 'path must start with / character'
  if (length === 1) return null
  if (path.charCodeAt(length - 1) === 0x2f) return 'path must not end with / character'
  let last = 0x2f
  for (let i = 1; i < length; last = path.charCodeAt(i), i++) {
    const c = path.charCodeAt(i)
    if (c === 0) return `null character not allowed @${i}`
    if (c === 0x2f && last === 0x2f) return `empty node name specified @${i}`
    if (c === 0x2e && last === 0x2e) {
      // ".." as a whole segment
      if (path.charCodeAt(i - 2) === 0x2f && (i + 1 === length || path.charCodeAt(i + 1) === 0x2f)) {
        return `relative paths not allowed @${i}`
      }
    } else if (c === 0x2e) {
      // "." as a whole segment
      if (last === 0x2f && (i + 1 === length || path.charCodeAt(i + 1) === 0x2f)) {
        return `relative paths not allowed @${i}`
      }
    } else if ((c > 0x00 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || c >= 0xfff0) {
      return `invalid character @${i}`
    }
  }
  return null
}

/**
 * The parent of a path, or null for the root. Works on a sequential
 * create's prefix too: the parent of "/tasks/" and of "/tasks/job-" is
 * "/tasks", as ZooKeeper takes everything before the last '/'.
 */
export function parentPath(path: string): string | null {
  const slash = path.lastIndexOf('/')
  if (slash < 0 || path === rootPath) return null
  return slash === 0 ? rootPath : path.slice(0, slash)
}

/** The last segment of a path: "" for the root. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

export function joinPath(parent: string, name: string): string {
  return parent === rootPath ? rootPath + name : parent + '/' + name
}

/** True for '/zookeeper' and everything under it. */
export function isReservedPath(path: string): boolean {
  return path.startsWith(reservedPath) && (path.length === reservedPath.length || path.charCodeAt(reservedPath.length) === 0x2f)
}
