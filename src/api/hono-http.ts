// Carries HttpRequest and Reply through Hono: every route is registered on
// the Hono app with this adapter, which in-process tests drive with
// app.request() and the client port uses for everything but /znodes.
import type { IncomingMessage } from 'node:http'
import type { Context } from 'hono'
import { isStreamBody, splitTarget, type HttpRequest, type Reply, type StreamBody } from './http.ts'

export type Env = { Bindings: { incoming?: IncomingMessage } }
export type Ctx = Context<Env>

export function honoRequest(c: Ctx): HttpRequest {
  const incoming = c.env?.incoming ?? null
  let target = incoming === null ? null : splitTarget(incoming.url ?? '/')
  if (target === null) {
    // In-process requests: the Request's URL is all there is.
    const url = new URL(c.req.url)
    target = { pathname: url.pathname, search: url.search.slice(1) }
  }
  return {
    method: c.req.method,
    target,
    header: (name) => c.req.header(name),
    incoming,
    arrayBuffer: () => c.req.arrayBuffer(),
    remoteAddress: incoming?.socket.remoteAddress ?? 'in-process',
    get signal() {
      return c.req.raw.signal
    },
    socket: incoming?.socket ?? null,
  }
}

const encoder = new TextEncoder()

export function toResponse(reply: Reply): Response {
  const { body } = reply
  if (!isStreamBody(body)) return new Response(body, { status: reply.status, headers: reply.headers })
  return new Response(webStream(body), { status: reply.status, headers: reply.headers })
}

function webStream(body: StreamBody): ReadableStream<Uint8Array> {
  let isEnded = false
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        body.open({
          write: (chunk) => controller.enqueue(encoder.encode(chunk)),
          end: () => {
            isEnded = true
            controller.close()
          },
          destroy: () => {
            isEnded = true
            controller.error(new Error('stream cut off'))
          },
          get queuedBytes() {
            return -(controller.desiredSize ?? 0)
          },
        })
      },
      cancel() {
        if (!isEnded) body.close()
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 0 }),
  )
}
