// A znode's children, kept sorted by name as they change so that a page of
// getChildren is a binary search and a slice, never a sort, and a walk of
// the tree follows references instead of building and looking up paths.
//
// The children live in blocks of at most blockMax, each sorted, the blocks in
// order (a one-level B-tree, like Python's sortedcontainers). An insert or
// delete costs O(log n + blockMax) however wide the parent is: a flat array
// would move half of a million names on every random insert. Sequential
// names arrive in increasing order, so their insert is a push onto the
// last block; a queue consumer deletes from the front of the first block.

const blockMax = 1024

export interface Named {
  readonly name: string
}

/** Index of the first child whose name is greater than `name` (JS string order). */
function upperBound(children: readonly Named[], name: string): number {
  let low = 0
  let high = children.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((children[middle] as Named).name <= name) low = middle + 1
    else high = middle
  }
  return low
}

/** Index of the first child whose name is not less than `name`. */
function lowerBound(children: readonly Named[], name: string): number {
  let low = 0
  let high = children.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((children[middle] as Named).name < name) low = middle + 1
    else high = middle
  }
  return low
}

export interface NamesPage {
  readonly names: string[]
  /** True when names follow the last one returned. */
  readonly hasMore: boolean
}

export class SortedChildren<T extends Named> {
  /** Never empty blocks; every name of block i sorts before every name of block i + 1. */
  private readonly blocks: T[][] = []
  private count = 0

  get size(): number {
    return this.count
  }

  /** Inserts a child whose name is known to be absent. */
  insert(child: T): void {
    const blocks = this.blocks
    const name = child.name
    this.count++
    if (blocks.length === 0) {
      blocks.push([child])
      return
    }
    const last = blocks[blocks.length - 1] as T[]
    let index: number
    let block: T[]
    if ((last[last.length - 1] as T).name < name) {
      index = blocks.length - 1
      block = last
      block.push(child)
    } else {
      index = this.blockFor(name)
      block = blocks[index] as T[]
      block.splice(lowerBound(block, name), 0, child)
    }
    if (block.length > blockMax) blocks.splice(index + 1, 0, block.splice(block.length >>> 1))
  }

  /** Removes the child of that name; false when there is none. */
  remove(name: string): boolean {
    const blocks = this.blocks
    if (blocks.length === 0) return false
    const index = this.blockFor(name)
    const block = blocks[index] as T[]
    if ((block[0] as T).name === name) {
      block.shift()
    } else if ((block[block.length - 1] as T).name === name) {
      block.pop()
    } else {
      const at = lowerBound(block, name)
      if (block[at]?.name !== name) return false
      block.splice(at, 1)
    }
    this.count--
    if (block.length === 0) blocks.splice(index, 1)
    return true
  }

  /** The names of at most `limit` children after `after` (exclusive; null = from the first). */
  page(after: string | null, limit: number): NamesPage {
    const blocks = this.blocks
    const names: string[] = []
    let index = after === null ? 0 : this.blockAfter(after)
    let at = after === null || index >= blocks.length ? 0 : upperBound(blocks[index] as T[], after)
    while (index < blocks.length && names.length < limit) {
      const block = blocks[index] as T[]
      const end = Math.min(block.length, at + limit - names.length)
      for (let i = at; i < end; i++) names.push((block[i] as T).name)
      at = end
      if (at >= block.length) {
        index++
        at = 0
      }
    }
    return { names, hasMore: index < blocks.length }
  }

  /** Children in name order. */
  *[Symbol.iterator](): Generator<T> {
    for (const block of this.blocks) yield* block
  }

  /** The block that holds `name` or would: the first whose last name is not less than it, else the last. */
  private blockFor(name: string): number {
    const blocks = this.blocks
    let low = 0
    let high = blocks.length - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      const block = blocks[middle] as T[]
      if ((block[block.length - 1] as T).name < name) low = middle + 1
      else high = middle
    }
    return low
  }

  /** The first block with a name greater than `after`; blocks.length when there is none. */
  private blockAfter(after: string): number {
    const blocks = this.blocks
    let low = 0
    let high = blocks.length
    while (low < high) {
      const middle = (low + high) >>> 1
      const block = blocks[middle] as T[]
      if ((block[block.length - 1] as T).name <= after) low = middle + 1
      else high = middle
    }
    return low
  }
}
