// cli/ — the commands an operator runs besides `npm start`. Each is a script
// of its own, run by an npm script, and imports nothing of the server's
// layers: it starts replicas as processes (src/main.ts), as an operator would.
//
//   cluster.ts   `npm run cluster`: a local 3- or 5-replica cluster on loopback
//
// May import: node:* only. Must not import: any layer (it drives processes).
export const commands = ['cluster'] as const
