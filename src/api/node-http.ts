// Carries HttpRequest and Reply over node:http directly (the /znodes fast path).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isStreamBody, splitTarget, type HttpRequest, type Reply } from './http.ts'

export function nodeRequest(req: IncomingMessage, res: ServerResponse): HttpRequest {
  let controller: AbortController | null = null
  return {
    method: req.method ?? 'GET',
    target: splitTarget(req.url ?? '/'),
    header: (name) => {
      const value = req.headers[name]
      return Array.isArray(value) ? value.join(', ') : value
    },
    incoming: req,
    arrayBuffer: () => Promise.reject(new Error('a node request streams its body through `incoming`')),
    remoteAddress: req.socket.remoteAddress ?? 'unknown',
    get signal() {
      if (controller === null) {
        const created = new AbortController()
        controller = created
        // 'close' before the response finished: the client went away.
        res.once('close', () => {
          if (!res.writableFinished) created.abort()
        })
      }
      return controller.signal
    },
    socket: req.socket,
  }
}

export function sendNode(res: ServerResponse, reply: Reply): void {
  const { body } = reply
  res.writeHead(reply.status, reply.headers)
  if (!isStreamBody(body)) {
    res.end(body ?? undefined)
    return
  }
  res.flushHeaders()
  let isEnded = false
  res.once('close', () => {
    if (!isEnded) body.close()
  })
  body.open({
    write: (chunk) => void res.write(chunk),
    end: () => {
      isEnded = true
      res.end()
    },
    destroy: () => {
      isEnded = true
      res.destroy()
    },
    get queuedBytes() {
      return res.writableLength
    },
  })
}
