// Carries HttpRequest and Reply through Hono: every route is registered on
// the Hono app with this adapter, which in-process tests drive with
// app.request() and the client port uses for everything but /znodes.
import type { IncomingMessage } from 'node:http'
import type { Context } from 'hono'
import { isStreamBody, splitTarget, type HttpRequest, type Reply, type StreamBody, type Target } from '../http/index.ts'

export type Env = { Bindings: { incoming?: IncomingMessage } }
export type Ctx = Context<Env>

/** A class, like NodeRequest, so no getter is allocated per request. */
class HonoRequest implements HttpRequest {
  readonly method: string
  readonly target: Target
  readonly incoming: IncomingMessage | null
  readonly #c: Ctx

  constructor(c: Ctx) {
    this.#c = c
    this.method = c.req.method
    this.incoming = c.env?.incoming ?? null
    if (this.incoming !== null) {
      this.target = splitTarget(this.incoming.url ?? '/')
    } else {
      // In-process requests: the Request's URL is all there is.
      const url = new URL(c.req.url)
      this.target = { pathname: url.pathname, search: url.search.slice(1) }
    }
  }

  header(name: string): string | undefined {
    return this.#c.req.header(name)
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#c.req.arrayBuffer()
  }

  get remoteAddress(): string {
    return this.incoming?.socket.remoteAddress ?? 'in-process'
  }
}

export function honoRequest(c: Ctx): HttpRequest {
  return new HonoRequest(c)
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
          end: (last) => {
            isEnded = true
            if (last !== undefined) controller.enqueue(encoder.encode(last))
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
