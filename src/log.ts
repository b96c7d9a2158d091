// A minimal leveled logger writing one line per message to stderr. A leaf:
// imports nothing. main.ts builds the one instance; layers get it injected.

export type LogLevel = 'error' | 'warn' | 'info' | 'debug'

const rank: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 }

export interface Logger {
  error(message: string): void
  warn(message: string): void
  info(message: string): void
  debug(message: string): void
}

export function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(rank, value)
}

export function createLogger(level: LogLevel, write: (line: string) => void, name = 'herd'): Logger {
  const at = (messageLevel: LogLevel) => (message: string) => {
    if (rank[messageLevel] <= rank[level]) write(`${new Date().toISOString()} ${messageLevel.padEnd(5)} ${name}: ${message}\n`)
  }
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') }
}

export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} }
