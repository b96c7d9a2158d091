// api/ — the client port: HTTP/JSON and Server-Sent Events.
//
// Handlers speak a small request/reply interface of their own (../http/message.ts);
// Hono carries every route (app.ts); on the client port well-formed /znodes
// requests are read off the socket (../http/fast-http.ts), since Hono's Node adapter
// would cost a third of a read's CPU and node:http more again (measured; see
// app.ts and ../http/fast-http.ts), and node:http takes every other connection.
//
// It validates everything that does not depend on tree state before
// proposing (paths decoded once and never normalised, strict query flags,
// bounded bodies, typed JSON), turns each write into one log entry through
// the replica and answers from that entry's apply result, serves reads from
// the local tree, and maps every failure to problem+json through the single
// status table in problem.ts. openapi.yaml is the contract for all of it.
//
// May import: replication/ (index), sessions/, watches/, tree/ (types and
// path rules), http/, the leaves, hono. Must not import: storage/, undici,
// replication internals.
export { createApp, type Api } from './app.ts'
export type { ApiDeps } from './deps.ts'
export { statusOf } from './problem.ts'
export { startClientServer, type ClientServer, type ListenOptions } from './server.ts'
