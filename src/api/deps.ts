// What the HTTP layer needs from the rest of the replica, injected by main.ts
// (or by a test) so that api/ never builds a layer itself.
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { Replica } from '../replication/index.ts'
import type { SessionTracker } from '../sessions/index.ts'
import type { WatchRegistry } from '../watches/index.ts'

export interface ApiDeps {
  readonly config: Config
  readonly clock: Clock
  readonly log: Logger
  readonly replica: Replica
  readonly sessions: SessionTracker
  readonly watches: WatchRegistry
}
