// Request targets: a znode path becomes `/znodes` followed by the path with
// each name percent-encoded and the slashes kept (openapi.yaml: the path
// appears literally after /znodes and is decoded once by the server).
import { HerdClientError } from './client-error.ts'

/** A query parameter: a bare flag (`?sequential`) or a name with a value. */
export type QueryPart = readonly [name: string, value?: string | number]

export function znodeTarget(path: string, query: readonly QueryPart[] = []): string {
  return withQuery(`/znodes${encodePath(path)}`, query)
}

export function withQuery(pathname: string, query: readonly QueryPart[]): string {
  if (query.length === 0) return pathname
  const parts = query.map(([name, value]) => (value === undefined ? name : `${name}=${encodeURIComponent(String(value))}`))
  return `${pathname}?${parts.join('&')}`
}

function encodePath(path: string): string {
  if (!path.startsWith('/')) {
    throw new HerdClientError({ code: 'BadArguments', detail: `a znode path is absolute (starts with /), got ${JSON.stringify(path.slice(0, 80))}` })
  }
  try {
    return path.split('/').map(encodeURIComponent).join('/')
  } catch (error) {
    // encodeURIComponent refuses lone surrogates, which no znode name may hold.
    throw new HerdClientError({ code: 'BadArguments', detail: 'the znode path is not valid Unicode', cause: error })
  }
}
