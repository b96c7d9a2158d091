// HTTP/1.1 below the API: the request and reply every handler speaks
// (message.ts), the fast path that reads well-formed requests off the
// socket in front of a node:http server (fast-http.ts), and the adapter
// that carries them over node:http itself (node-http.ts), used by the
// client port (api/) and the peer port (replication/peer/).
//
// May import: the leaves (errors), node:. Must not import any other layer.
export * from './message.ts'
export * from './fast-http.ts'
export * from './node-http.ts'
