// The shapes the Raft core shares with its driver: what it reads from the
// disk (RaftStorage), what it is configured with (CoreConfig) and what it
// hands back (Ready). Plain data only, so the driver can persist and encode
// them without knowing the core.
import type { Message } from './message.ts'

/** One log entry; structurally the same as storage's LogRecord. */
export interface RaftEntry {
  readonly index: number
  readonly term: number
  readonly data: Uint8Array
}

/** Raft's persistent state besides the log. vote 0 = none. */
export interface HardState {
  readonly term: number
  readonly vote: number
  readonly commit: number
}

export interface SnapshotMeta {
  /** The index of the last entry the snapshot covers. */
  readonly index: number
  /** The term of that entry. */
  readonly term: number
  /** config.membership.encode(voters at index); may be empty for a snapshot taken before membership existed. */
  readonly extra: Uint8Array
}

export interface Snapshot {
  readonly meta: SnapshotMeta
  readonly chunks: readonly Uint8Array[]
}

/**
 * The durable state, read synchronously. storage's LogStore satisfies it
 * structurally. The driver may compact it (drop entries up to a snapshot)
 * between Readies; the core never caches what it reads here.
 */
export interface RaftStorage {
  hardState(): HardState
  snapshotMeta(): SnapshotMeta | null
  /** First entry held; lastIndex() + 1 when the log is empty. */
  firstIndex(): number
  /** Last entry held; the snapshot's index (or 0) when the log is empty. */
  lastIndex(): number
  /** For index in [firstIndex() - 1, lastIndex()]; undefined otherwise. */
  term(index: number): number | undefined
  /** Entries in [lo, hi), at least one when lo < hi, stopping once more than bytesMax. */
  entries(lo: number, hi: number, bytesMax: number): RaftEntry[]
  loadSnapshot(): Snapshot | null
}

export interface MembershipCodec {
  encode(voters: readonly number[]): Uint8Array
  /** Non-null iff the entry is a membership change. */
  decode(data: Uint8Array): readonly number[] | null
}

export interface CoreConfig {
  /** This replica's id: a positive integer. */
  readonly id: number
  /** Bootstrap membership, used only when neither the snapshot nor the log says otherwise. */
  readonly voters: readonly number[]
  /** The election timeout is drawn from [electionTicks, 2 * electionTicks). */
  readonly electionTicks: number
  readonly heartbeatTicks: number
  /** In [0, 1), seeded by the caller: the core's only source of randomness. */
  readonly random: () => number
  /** Bytes of entry data per append message (at least one entry is always sent). */
  readonly appendBytesMax: number
  /** Append messages in flight per follower before the leader waits for replies. */
  readonly inflightAppendsMax: number
  /** The data of the entry a new leader appends at the start of its term. */
  readonly noop: Uint8Array
  readonly membership: MembershipCodec
  /**
   * Bytes of committed entries per Ready (at least one entry when any is
   * committed); unlimited when absent. Bounds a restart's replay.
   */
  readonly committedBytesMax?: number
  /**
   * The index the driver's state machine has already applied on start (for a
   * state machine that outlives the process); defaults to the snapshot's
   * index, so committed entries after the snapshot are emitted again.
   */
  readonly applied?: number
}

export type Role = 'leader' | 'follower' | 'candidate' | 'precandidate'

/** A linearizable read with this context may be served once `index` is applied. */
export interface ReadState {
  readonly context: number
  readonly index: number
}

export interface SoftState {
  readonly role: Role
  /** 0 when unknown. */
  readonly leader: number
  readonly term: number
}

/**
 * What the core hands the driver, accumulated since the previous advance().
 * The driver handles it in this order: persist (snapshot, then entries with
 * the hard state, synced), send the messages, apply the committed entries,
 * then call advance(ready). See index.ts for the whole contract.
 */
export interface Ready {
  /** Persist (synced) when non-null. */
  readonly hardState: HardState | null
  /** Append (synced); entries[0] may overwrite the log from its index on. */
  readonly entries: readonly RaftEntry[]
  /** A leader's snapshot to install: persist it and restore the state machine from it before applying `committed`. */
  readonly snapshot: Snapshot | null
  /** Send only once this Ready's snapshot, entries and hard state are durable. */
  readonly messages: readonly Message[]
  /** Apply in order, after persisting. */
  readonly committed: readonly RaftEntry[]
  /** A linearizable read with this context may be served once `index` is applied. */
  readonly readStates: readonly ReadState[]
  /** Non-null when role, leader or term changed since the previous Ready. */
  readonly soft: SoftState | null
  /**
   * Whether the writes must be synced before the messages go out: false when
   * the only change is the commit index (which a restart can learn again).
   */
  readonly mustSync: boolean
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot'

export interface ProgressView {
  readonly match: number
  readonly next: number
  readonly state: ProgressState
}

export interface CoreStatus {
  readonly id: number
  readonly term: number
  readonly role: Role
  readonly leader: number
  readonly commit: number
  readonly applied: number
  readonly lastIndex: number
  readonly voters: readonly number[]
  /** On the leader only: per replica it replicates to (the voters, itself, and any being removed). */
  readonly progress: ReadonlyMap<number, ProgressView> | null
}
