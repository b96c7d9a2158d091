// A znode's child names, kept sorted as they change so that a page of
// getChildren is a binary search and a slice, never a sort. Sequential
// children arrive in increasing order, so the common insert is an append.

/** Index of the first name greater than `name` (JS string order). */
export function upperBound(names: readonly string[], name: string): number {
  let low = 0
  let high = names.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((names[middle] as string) <= name) low = middle + 1
    else high = middle
  }
  return low
}

/** Index of the first name not less than `name`. */
function lowerBound(names: readonly string[], name: string): number {
  let low = 0
  let high = names.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((names[middle] as string) < name) low = middle + 1
    else high = middle
  }
  return low
}

/** Inserts a name known to be absent. */
export function insertName(names: string[], name: string): void {
  const count = names.length
  if (count === 0 || (names[count - 1] as string) < name) {
    names.push(name)
    return
  }
  names.splice(lowerBound(names, name), 0, name)
}

/** Removes a name; false when it was not there. */
export function removeName(names: string[], name: string): boolean {
  const count = names.length
  if (count > 0 && names[count - 1] === name) {
    names.pop()
    return true
  }
  if (count > 0 && names[0] === name) {
    names.shift() // a queue consumer deletes the oldest child; V8 shifts without a copy
    return true
  }
  const index = lowerBound(names, name)
  if (names[index] !== name) return false
  names.splice(index, 1)
  return true
}
