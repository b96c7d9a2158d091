// The messages replicas exchange: a discriminated union on `type`, plain data
// only (numbers, booleans, Uint8Array, arrays) so the peer codec can encode
// it compactly. Every message names its sender, its receiver and the sender's
// term (for a pre-vote, the term the sender would campaign in).
//
// isMessage() is the gate for remote input: the driver decodes peer bytes
// into an object and must drop whatever isMessage() rejects. step() checks it
// again, so a malformed message is ignored, never a throw.
import type { RaftEntry, Snapshot } from './types.ts'

interface Envelope {
  readonly from: number
  readonly to: number
  readonly term: number
}

/** §9.6: "would you vote for me in term `term`?"; changes no one's term. */
export interface PreVoteMessage extends Envelope {
  readonly type: 'preVote'
  readonly lastIndex: number
  readonly lastTerm: number
}

export interface PreVoteReplyMessage extends Envelope {
  readonly type: 'preVoteReply'
  readonly granted: boolean
}

/** RequestVote (§5.2). `transfer`: the campaign was asked for by the leader (timeoutNow), so leases do not apply. */
export interface VoteMessage extends Envelope {
  readonly type: 'vote'
  readonly lastIndex: number
  readonly lastTerm: number
  readonly transfer: boolean
}

export interface VoteReplyMessage extends Envelope {
  readonly type: 'voteReply'
  readonly granted: boolean
}

/**
 * AppendEntries (§5.3): entries follow (prevIndex, prevTerm); commit is the
 * leader's. `durable`: the last index of the leader's log that is on its
 * disk by the time the message leaves, so that a follower of a cluster of at
 * most three voters can tell on its own when it and its leader, a majority,
 * both hold an entry (RaftCore's #maybeCommitAsPair).
 */
export interface AppendMessage extends Envelope {
  readonly type: 'append'
  readonly prevIndex: number
  readonly prevTerm: number
  readonly entries: readonly RaftEntry[]
  readonly commit: number
  readonly durable: number
}

/**
 * The answer to append and snapshot. On success `index` is the last index the
 * follower now holds in agreement with the leader (durably: replies leave
 * after the Ready is persisted). On rejection `index` is the prevIndex that
 * did not match and (hintIndex, hintTerm) the follower's last entry at or
 * below it whose term is at most the leader's prevTerm, for fast
 * backtracking (hintTerm 0 when unknown).
 */
export interface AppendReplyMessage extends Envelope {
  readonly type: 'appendReply'
  readonly success: boolean
  readonly index: number
  readonly hintIndex: number
  readonly hintTerm: number
}

/** InstallSnapshot (§7), in one message: the driver may stream the chunks. */
export interface SnapshotMessage extends Envelope {
  readonly type: 'snapshot'
  readonly snapshot: Snapshot
}

/** `commit` is at most what the follower is known to hold; `context` is the newest read index round (§6.4). */
export interface HeartbeatMessage extends Envelope {
  readonly type: 'heartbeat'
  readonly commit: number
  readonly context: number
}

export interface HeartbeatReplyMessage extends Envelope {
  readonly type: 'heartbeatReply'
  readonly context: number
}

/** Leadership transfer (§3.10): campaign now, skipping the pre-vote and the leases. */
export interface TimeoutNowMessage extends Envelope {
  readonly type: 'timeoutNow'
}

export type Message =
  | PreVoteMessage
  | PreVoteReplyMessage
  | VoteMessage
  | VoteReplyMessage
  | AppendMessage
  | AppendReplyMessage
  | SnapshotMessage
  | HeartbeatMessage
  | HeartbeatReplyMessage
  | TimeoutNowMessage

export type MessageType = Message['type']

export const messageTypes: readonly MessageType[] = Object.freeze([
  'preVote',
  'preVoteReply',
  'vote',
  'voteReply',
  'append',
  'appendReply',
  'snapshot',
  'heartbeat',
  'heartbeatReply',
  'timeoutNow',
])

type Fields = Readonly<Record<string, unknown>>

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isId(value: unknown): value is number {
  return isCount(value) && value > 0
}

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isEntry(value: unknown): value is RaftEntry {
  return isObject(value) && isId(value['index']) && isId(value['term']) && value['data'] instanceof Uint8Array
}

function isSnapshot(value: unknown): value is Snapshot {
  if (!isObject(value) || !isObject(value['meta']) || !Array.isArray(value['chunks'])) return false
  const meta = value['meta']
  return (
    isId(meta['index']) &&
    isId(meta['term']) &&
    meta['extra'] instanceof Uint8Array &&
    value['chunks'].every((chunk: unknown) => chunk instanceof Uint8Array)
  )
}

function hasBody(type: MessageType, value: Fields): boolean {
  switch (type) {
    case 'preVote':
      return isCount(value['lastIndex']) && isCount(value['lastTerm'])
    case 'vote':
      return isCount(value['lastIndex']) && isCount(value['lastTerm']) && typeof value['transfer'] === 'boolean'
    case 'preVoteReply':
    case 'voteReply':
      return typeof value['granted'] === 'boolean'
    case 'append':
      return (
        isCount(value['prevIndex']) &&
        isCount(value['prevTerm']) &&
        isCount(value['commit']) &&
        isCount(value['durable']) &&
        Array.isArray(value['entries']) &&
        value['entries'].every(isEntry)
      )
    case 'appendReply':
      return (
        typeof value['success'] === 'boolean' &&
        isCount(value['index']) &&
        isCount(value['hintIndex']) &&
        isCount(value['hintTerm'])
      )
    case 'snapshot':
      return isSnapshot(value['snapshot'])
    case 'heartbeat':
      return isCount(value['commit']) && isCount(value['context'])
    case 'heartbeatReply':
      return isCount(value['context'])
    case 'timeoutNow':
      return true
  }
}

/**
 * Whether a decoded value is a well-formed Message: the fields of its type,
 * positive ids, non-negative safe integers. It says nothing of whether the
 * message makes sense now (stale terms, gaps): step() judges that.
 */
export function isMessage(value: unknown): value is Message {
  if (!isObject(value)) return false
  const type = value['type']
  if (typeof type !== 'string' || !(messageTypes as readonly string[]).includes(type)) return false
  if (!isId(value['from']) || !isId(value['to']) || !isCount(value['term'])) return false
  return hasBody(type as MessageType, value)
}
