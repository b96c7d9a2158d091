// The session table as the tree keeps it: what createSession made and
// closeSession removes, with the paths of each session's ephemerals so that
// a close deletes them without a scan. Liveness (heartbeats, expiry) is not
// here: the leader decides it and proposes closeSession (DESIGN.md).

export interface Session {
  /** The zxid of the createSession entry. */
  readonly sessionId: number
  readonly timeoutMs: number
  /** Hex SHA-256 of the session secret; the secret never enters the log. */
  readonly secretHash: string
  /** Paths of the ephemerals this session owns. */
  readonly ephemerals: Set<string>
}

export function makeSession(sessionId: number, timeoutMs: number, secretHash: string): Session {
  return { sessionId, timeoutMs, secretHash, ephemerals: new Set() }
}
