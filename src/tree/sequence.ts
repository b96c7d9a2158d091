// The suffix of a sequential znode: ZooKeeper's
// `String.format(Locale.ENGLISH, "%010d", parentCVersion)`, where the
// counter is the parent's count of child creations held in a Java int.

/**
 * Formats `creations` as Java's %010d of a signed 32-bit int: the count
 * wraps past 2147483647 to negative numbers, which Java prints as a sign
 * followed by zero padding to a width of 10 ("-000000001"); the width is a
 * minimum, so -2147483648 prints in full.
 */
export function formatSequence(creations: number): string {
  const value = creations | 0
  if (value >= 0) return String(value).padStart(10, '0')
  return '-' + String(-value).padStart(9, '0')
}
