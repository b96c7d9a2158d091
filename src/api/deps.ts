// What the HTTP layer needs from the rest of the replica, injected by main.ts
// (or by a test) so that api/ never builds a layer itself.
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { ReplicaHandle } from '../replication/index.ts'
import type { SessionsHandle } from '../sessions/index.ts'
import type { WatchRegistry } from '../watches/index.ts'

export interface ApiDeps {
  readonly config: Config
  readonly clock: Clock
  readonly log: Logger
  readonly replica: ReplicaHandle
  readonly sessions: SessionsHandle
  readonly watches: WatchRegistry
}
