// Holds many one-shot data watches open on a herd node, for the bench's
// watch-stream run (test/bench/run.ts starts it as a child process):
//
//   node test/bench/watchers.ts --target 127.0.0.1:8181 [--streams 5000] [--keys 1000]
//        [--prefix /anchors/w] [--gapless] [--max-seconds 900]
//
// Stream i watches `<prefix><i mod keys, 6 digits>` with GET /znodes/...?watch=data
// on its own keep-alive connection (raw `net` sockets and a minimal HTTP/1.1
// response parser: 5,000 streams would be costly through a general client).
// Each watch is one-shot; when its event arrives (the response ends) the same
// connection re-arms it at once, so the number of open streams stays at
// --streams. By default a re-armed watch starts from the zxid applied when it
// is armed, as a ZooKeeper client's getData(watch) does (changes during the
// round trip are not reported); with --gapless it passes the fired event's
// zxid, so every change is reported (possibly as an immediate answer).
//
// Control is a line protocol on stdin/stdout, so that the parent needs no IPC:
//   "status" -> one JSON line (see Status below)
//   "reset"  -> zero the event/error counters and the lag histogram, then a status line
//   EOF      -> close every socket and exit (so the watchers die with the parent)
// --max-seconds bounds the process's life whatever happens.
import net from 'node:net'
import readline from 'node:readline'
import { parseArgs } from 'node:util'

const { values: opts } = parseArgs({
  options: {
    target: { type: 'string' },
    streams: { type: 'string', default: '5000' },
    keys: { type: 'string', default: '1000' },
    prefix: { type: 'string', default: '/anchors/w' },
    gapless: { type: 'boolean', default: false },
    'connect-concurrency': { type: 'string', default: '200' },
    'max-seconds': { type: 'string', default: '900' },
  },
})

if (opts.target === undefined) {
  process.stderr.write('watchers: --target host:port is required\n')
  process.exit(2)
}
const targetMatch = /^(.+):(\d+)$/.exec(opts.target)
if (targetMatch === null) {
  process.stderr.write(`watchers: bad --target ${opts.target}\n`)
  process.exit(2)
}
const host = targetMatch[1] as string
const port = Number(targetMatch[2])
const streamCount = Number(opts.streams)
const keyCount = Number(opts.keys)
const connectConcurrency = Number(opts['connect-concurrency'])
const retryMs = 100
const bodyKeepBytes = 16 * 1024

/** What the watcher process reports on its stdout; run.ts reads it. */
export interface Status {
  /** Streams whose watch is armed: a 200 event-stream response has begun and not ended. */
  readonly open: number
  readonly streams: number
  /** Sockets currently connected. */
  readonly connected: number
  /** Watch events received (each ends one watch, which is then re-armed). */
  readonly events: number
  /** Watch requests sent after the first one of each stream. */
  readonly rearms: number
  /** Responses other than 200, by status code. */
  readonly errors: Record<string, number>
  /** Connections that ended or failed unexpectedly (then reconnected). */
  readonly closes: number
  /** Write-to-notification lag (now - the event's stat.mtime), whole ms. */
  readonly lagP50Ms: number | null
  readonly lagP99Ms: number | null
  readonly lagMaxMs: number | null
}

let events = 0
let rearms = 0
let closes = 0
let errors: Record<string, number> = {}
let open = 0
let connected = 0
const lagBucketsMax = 60_000
let lag = new Uint32Array(lagBucketsMax + 1)
let lagCount = 0
let stopping = false

function lagPercentile(p: number): number | null {
  if (lagCount === 0) return null
  const rank = Math.ceil((p / 100) * lagCount)
  let seen = 0
  for (let ms = 0; ms <= lagBucketsMax; ms++) {
    seen += lag[ms] as number
    if (seen >= rank) return ms
  }
  return lagBucketsMax
}

function lagMax(): number | null {
  for (let ms = lagBucketsMax; ms >= 0; ms--) if ((lag[ms] as number) > 0) return ms
  return null
}

function status(): Status {
  return { open, streams: streamCount, connected, events, rearms, errors, closes, lagP50Ms: lagPercentile(50), lagP99Ms: lagPercentile(99), lagMaxMs: lagMax() }
}

const mtimePattern = /"mtime":(\d+)/
const idPattern = /(?:^|\n)id: (\d+)\n/

class WatchStream {
  readonly path: string
  socket: net.Socket | null = null
  lastZxid: string | null = null
  armed = false
  sentFirst = false
  // parser state of the current response
  head = ''
  inBody = false
  statusCode = 0
  chunked = false
  contentLength = -1
  closeAfter = false
  body = ''
  chunkLeft = 0
  chunkState: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size'
  sizeLine = ''
  bodyLeft = 0

  constructor(index: number) {
    this.path = `/znodes${opts.prefix}${String(index % keyCount).padStart(6, '0')}`
  }

  connect(onFirst: () => void): void {
    let first = true
    let didConnect = false
    const socket = net.connect({ host, port })
    this.socket = socket
    socket.setNoDelay(true)
    socket.on('connect', () => {
      didConnect = true
      connected++
      this.request()
    })
    socket.on('data', (chunk: Buffer) => {
      if (first) {
        first = false
        onFirst()
      }
      this.receive(chunk.toString('latin1'))
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      if (didConnect) connected--
      if (first) {
        first = false
        onFirst()
      }
      if (this.socket !== socket) return
      this.socket = null
      if (this.armed) {
        this.armed = false
        open--
      }
      if (stopping) return
      closes++
      setTimeout(() => this.connect(() => {}), retryMs).unref()
    })
  }

  request(): void {
    const socket = this.socket
    if (socket === null || stopping) return
    if (this.sentFirst) rearms++
    this.sentFirst = true
    this.resetParser()
    const since = opts.gapless && this.lastZxid !== null ? `&zxid=${this.lastZxid}` : ''
    socket.write(`GET ${this.path}?watch=data${since} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`)
  }

  resetParser(): void {
    this.head = ''
    this.inBody = false
    this.statusCode = 0
    this.chunked = false
    this.contentLength = -1
    this.closeAfter = false
    this.body = ''
    this.chunkLeft = 0
    this.chunkState = 'size'
    this.sizeLine = ''
    this.bodyLeft = 0
  }

  receive(text: string): void {
    let rest = text
    while (rest.length > 0) {
      if (!this.inBody) {
        this.head += rest
        const end = this.head.indexOf('\r\n\r\n')
        if (end < 0) return
        rest = this.head.slice(end + 4)
        this.parseHead(this.head.slice(0, end))
        this.inBody = true
        if (!this.chunked && this.contentLength === 0) {
          this.finish()
          continue
        }
        continue
      }
      rest = this.chunked ? this.readChunked(rest) : this.readPlain(rest)
    }
  }

  parseHead(head: string): void {
    const lines = head.split('\r\n')
    this.statusCode = Number(/^HTTP\/1\.\d (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0)
    let eventStream = false
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      if (colon < 0) continue
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim().toLowerCase()
      if (name === 'transfer-encoding' && value.includes('chunked')) this.chunked = true
      else if (name === 'content-length') this.contentLength = Number(value)
      else if (name === 'connection' && value.includes('close')) this.closeAfter = true
      else if (name === 'content-type' && value.startsWith('text/event-stream')) eventStream = true
    }
    if (!this.chunked && this.contentLength >= 0) this.bodyLeft = this.contentLength
    // A waiting watch streams (chunked); a watch that fired at once answers with a whole body.
    if (this.statusCode === 200 && eventStream && this.chunked && !this.armed) {
      this.armed = true
      open++
    }
  }

  readPlain(text: string): string {
    if (this.contentLength < 0) {
      // Until the connection closes.
      this.keep(text)
      return ''
    }
    const take = text.slice(0, this.bodyLeft)
    this.keep(take)
    this.bodyLeft -= take.length
    if (this.bodyLeft === 0) this.finish()
    return text.slice(take.length)
  }

  readChunked(text: string): string {
    let i = 0
    while (i < text.length) {
      switch (this.chunkState) {
        case 'size': {
          const nl = text.indexOf('\n', i)
          if (nl < 0) {
            this.sizeLine += text.slice(i)
            return ''
          }
          this.sizeLine += text.slice(i, nl)
          i = nl + 1
          const size = parseInt(this.sizeLine.trim(), 16)
          this.sizeLine = ''
          if (size === 0) {
            this.chunkState = 'trailer'
          } else {
            this.chunkLeft = size
            this.chunkState = 'data'
          }
          break
        }
        case 'data': {
          const take = text.slice(i, i + this.chunkLeft)
          this.keep(take)
          this.chunkLeft -= take.length
          i += take.length
          if (this.chunkLeft === 0) this.chunkState = 'data-crlf'
          break
        }
        case 'data-crlf': {
          const nl = text.indexOf('\n', i)
          if (nl < 0) return ''
          i = nl + 1
          this.chunkState = 'size'
          break
        }
        case 'trailer': {
          // Trailer lines until an empty one.
          const nl = text.indexOf('\n', i)
          if (nl < 0) {
            this.sizeLine += text.slice(i)
            return ''
          }
          const line = (this.sizeLine + text.slice(i, nl)).trim()
          this.sizeLine = ''
          i = nl + 1
          if (line === '') {
            this.finish()
            return text.slice(i)
          }
          break
        }
      }
    }
    return ''
  }

  keep(text: string): void {
    this.body += text
    if (this.body.length > bodyKeepBytes) this.body = this.body.slice(-bodyKeepBytes)
  }

  /** The current response is complete: count it and re-arm. */
  finish(): void {
    if (this.armed) {
      this.armed = false
      open--
    }
    if (this.statusCode === 200) {
      if (this.body.includes('\nevent: ') || this.body.startsWith('event: ') || this.body.startsWith('id: ')) {
        events++
        const id = idPattern.exec(this.body)
        if (id !== null) this.lastZxid = id[1] as string
        const mtime = mtimePattern.exec(this.body)
        if (mtime !== null) {
          const ms = Math.min(lagBucketsMax, Math.max(0, Date.now() - Number(mtime[1])))
          lag[ms] = (lag[ms] as number) + 1
          lagCount++
        }
      }
    } else {
      const key = String(this.statusCode)
      errors[key] = (errors[key] ?? 0) + 1
    }
    const retry = this.statusCode !== 200
    if (this.closeAfter) {
      // The server ends the connection; the close handler reconnects.
      this.resetParser()
      return
    }
    this.resetParser()
    if (retry) setTimeout(() => this.request(), retryMs).unref()
    else this.request()
  }
}

const streams: WatchStream[] = []
for (let i = 0; i < streamCount; i++) streams.push(new WatchStream(i))

// Connect with bounded concurrency (a burst of 5,000 SYNs would overflow the listen backlog).
let next = 0
let pending = 0
function pump(): void {
  while (!stopping && pending < connectConcurrency && next < streams.length) {
    const stream = streams[next++] as WatchStream
    pending++
    stream.connect(() => {
      pending--
      pump()
    })
  }
}
pump()

function shutdown(code: number): void {
  if (stopping) return
  stopping = true
  for (const stream of streams) stream.socket?.destroy()
  // Give the FINs a moment to leave, then go.
  setTimeout(() => process.exit(code), 200).unref()
}

const lifetime = setTimeout(() => {
  process.stderr.write(`watchers: --max-seconds ${opts['max-seconds']} reached, exiting\n`)
  shutdown(1)
}, Number(opts['max-seconds']) * 1000)
lifetime.unref()

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const command = line.trim()
  if (command === 'status') {
    process.stdout.write(JSON.stringify(status()) + '\n')
  } else if (command === 'reset') {
    events = 0
    rearms = 0
    closes = 0
    errors = {}
    lag = new Uint32Array(lagBucketsMax + 1)
    lagCount = 0
    process.stdout.write(JSON.stringify(status()) + '\n')
  } else if (command !== '') {
    process.stdout.write(JSON.stringify({ error: `unknown command ${command}` }) + '\n')
  }
})
lines.on('close', () => shutdown(0))
process.on('SIGTERM', () => shutdown(0))
process.on('SIGINT', () => shutdown(0))
// Keep the process alive while stdin is open even if every socket is idle.
setInterval(() => {}, 60_000)
