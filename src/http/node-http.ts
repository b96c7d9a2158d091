// Carries HttpRequest and Reply over node:http directly: the client port's
// /znodes routes that the fast path handed over (api/app.ts), and the peer
// port's requests that its fast path does not serve (replication/peer).
//
// NodeRequest is a class on purpose: an object literal with a getter, made
// per request, cost this path a fifth of its throughput (measured: V8 then
// promotes far more of each request's garbage, and scavenges took five times
// longer). Methods and getters on a prototype are allocated once.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isStreamBody, splitTarget, type HttpRequest, type Reply, type StreamBody, type StreamChannel, type Target } from './message.ts'

class NodeRequest implements HttpRequest {
  readonly method: string
  readonly target: Target
  readonly incoming: IncomingMessage

  constructor(req: IncomingMessage) {
    this.method = req.method ?? 'GET'
    this.target = splitTarget(req.url ?? '/')
    this.incoming = req
  }

  header(name: string): string | undefined {
    const value = this.incoming.headers[name]
    return Array.isArray(value) ? value.join(', ') : value
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.reject(new Error('a node request streams its body through `incoming`'))
  }

  get remoteAddress(): string {
    return this.incoming.socket.remoteAddress ?? 'unknown'
  }
}

export function nodeRequest(req: IncomingMessage): HttpRequest {
  return new NodeRequest(req)
}

export function sendNode(res: ServerResponse, reply: Reply): void {
  const { body } = reply
  if (!isStreamBody(body)) {
    // The length goes in the headers: writeHead() fixes them before the body
    // is known, and without it Node frames the body as chunks (measured:
    // five iovecs per reply instead of two, and more for the client to parse).
    const headers = reply.headers
    if (body !== null) headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength)
    res.writeHead(reply.status, headers)
    res.end(body ?? undefined)
    return
  }
  res.writeHead(reply.status, reply.headers)
  // No flushHeaders(): the stream's first write carries the headers with it.
  body.open(new NodeChannel(res, body))
}

/** A stream reply's channel over a Node response; a class for the same reason as NodeRequest. */
class NodeChannel implements StreamChannel {
  readonly #res: ServerResponse
  #isEnded = false

  constructor(res: ServerResponse, body: StreamBody) {
    this.#res = res
    res.once('close', () => {
      if (!this.#isEnded) body.close()
    })
  }

  write(chunk: string): void {
    this.#res.write(chunk)
  }

  end(last?: string): void {
    this.#isEnded = true
    if (last === undefined) this.#res.end()
    else this.#res.end(last)
  }

  destroy(): void {
    this.#isEnded = true
    this.#res.destroy()
  }

  get queuedBytes(): number {
    return this.#res.writableLength
  }
}
