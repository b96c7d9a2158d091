// RELIABILITY.md, "Durability", guarantee D1 on one node: SIGKILL while
// writes are in flight, restart on the same data directory, and every
// acknowledged write is there (or superseded by a later acknowledged write
// of the same client), no sequence number is handed out twice, nothing that
// got a definite 4xx is visible, and the restarted node's digest and zxid
// are exactly those of an offline replay of its store (snapshot + log).
//
// 32 clients, each with one request outstanding (so "acknowledged" and
// "in flight" are exact per client), write for a while; the node is killed
// at three different moments, on the same data directory, so each round
// starts from what the previous crash left. A small snapshot interval makes
// snapshots and log truncation happen while the writes run.
//
// A kill -9 loses nothing in the page cache, so this cannot catch a missing
// fsync (that needs a power-loss simulation; see RELIABILITY.md). It does
// catch acknowledging before the write reached RocksDB, losing or
// reordering entries on replay, and a snapshot or truncation that a crash
// leaves half done.
import { afterAll, expect, it } from 'vitest'
import { startNode, stopAll, type NodeProcess } from '../support/node-process.ts'
import { treeState } from '../support/raw-http.ts'
import { replayDataDir } from '../support/replay.ts'

const clients = 32
const snapshotEntriesInterval = 500
const args = ['--snapshot-entries-interval', String(snapshotEntriesInterval)]
/** When, after the writers start, each round's SIGKILL lands. */
const killAfterMs = [350, 900, 1600]

const nodes: NodeProcess[] = []
afterAll(() => stopAll(nodes))

interface AckedCreate {
  readonly client: number
  readonly path: string
  readonly data: string
  readonly sequence: number
  readonly zxid: number
}

interface AckedSet {
  readonly client: number
  readonly n: number
  readonly data: string
  readonly version: number
  readonly zxid: number
}

interface History {
  readonly creates: AckedCreate[]
  /** Per client, its acknowledged setData of /reg/c<client>, in order. */
  readonly sets: AckedSet[][]
  /** Data of writes that got a definite 4xx: never to be seen. */
  readonly refused: string[]
  /** Per client, the data of its write in flight right now, if any. */
  readonly inFlight: Array<string | null>
  /**
   * Per client, the setData writes whose outcome is unknown (in flight at a
   * kill) since its last acknowledged setData: any of them may have landed.
   */
  readonly unknownSets: string[][]
}

const sequenceOf = (path: string): number => Number(path.slice(-10))

/** One client: one request at a time, until the node dies under it. */
async function runClient(url: string, client: number, round: number, history: History, stopped: () => boolean): Promise<number> {
  let n = 0
  for (; !stopped(); n++) {
    const data = `c${client}-r${round}-n${n}`
    const kind = n % 5
    try {
      if (kind <= 1) {
        history.inFlight[client] = data
        const response = await fetch(`${url}/znodes/seq/c${client}-?sequential`, { method: 'PUT', body: data })
        if (response.status !== 201) throw new Error(`create answered ${response.status}`)
        const body = (await response.json()) as { path: string; zxid: number }
        history.creates.push({ client, path: body.path, data, sequence: sequenceOf(body.path), zxid: body.zxid })
      } else if (kind <= 3) {
        history.inFlight[client] = data
        const response = await fetch(`${url}/znodes/reg/c${client}`, { method: 'PUT', headers: { 'if-match': '*' }, body: data })
        if (response.status !== 200) throw new Error(`setData answered ${response.status}`)
        const body = (await response.json()) as { zxid: number; stat: { version: number } }
        ;(history.sets[client] as AckedSet[]).push({ client, n, data, version: body.stat.version, zxid: body.zxid })
        history.unknownSets[client] = []
      } else {
        // Writes that must fail, each with data seen nowhere else.
        const refused = `refused-${data}`
        history.inFlight[client] = refused
        const [headers, expected] = n % 2 === 0 ? [{ 'if-match': '"999999"' }, 412] : [{ 'if-none-match': '*' }, 409]
        const response = await fetch(`${url}/znodes/reg/c${client}`, { method: 'PUT', headers, body: refused })
        await response.arrayBuffer()
        if (response.status !== expected) throw new Error(`a refused write answered ${response.status}`)
        history.refused.push(refused)
      }
      history.inFlight[client] = null
    } catch {
      // The node died under this request: its outcome is unknown.
      if (kind === 2 || kind === 3) (history.unknownSets[client] as string[]).push(data)
      return n
    }
  }
  return n
}

/** Reads many znodes in /multi-read batches: path -> data, or null when missing. */
async function readAll(url: string, paths: readonly string[]): Promise<Map<string, { data: string; version: number } | null>> {
  const found = new Map<string, { data: string; version: number } | null>()
  for (let i = 0; i < paths.length; i += 500) {
    const ops = paths.slice(i, i + 500).map((path) => ({ op: 'getData', path }))
    const response = await fetch(`${url}/multi-read`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops }) })
    expect(response.status).toBe(200)
    const { results } = (await response.json()) as { results: Array<{ path: string; data?: string; stat?: { version: number }; code?: string }> }
    for (const result of results) found.set(result.path, result.data === undefined ? null : { data: result.data, version: result.stat?.version ?? -1 })
  }
  return found
}

it('SIGKILL during 32 concurrent writers, three times: every acknowledged write survives, and the node equals a replay of its store', async () => {
  const history: History = {
    creates: [],
    sets: Array.from({ length: clients }, () => []),
    refused: [],
    inFlight: Array(clients).fill(null),
    unknownSets: Array.from({ length: clients }, () => []),
  }
  let node = await startNode({ args })
  nodes.push(node)
  const { dataDir, port } = node
  expect((await fetch(`${node.url}/znodes/seq`, { method: 'PUT', body: '' })).status).toBe(201)
  expect((await fetch(`${node.url}/znodes/reg`, { method: 'PUT', body: '' })).status).toBe(201)
  for (let c = 0; c < clients; c++) expect((await fetch(`${node.url}/znodes/reg/c${c}`, { method: 'PUT', body: 'initial' })).status).toBe(201)

  for (const [round, delayMs] of killAfterMs.entries()) {
    // ---- write, then kill while writes are in flight
    const createsBefore = history.creates.length
    const setsBefore = history.sets.reduce((sum, sets) => sum + sets.length, 0)
    let isKilled = false
    const url = node.url
    const running = Array.from({ length: clients }, (_, c) => runClient(url, c, round, history, () => isKilled))
    await new Promise((resolve) => setTimeout(resolve, delayMs))
    const inFlightAtKill = history.inFlight.filter((data) => data !== null).length
    await node.kill()
    isKilled = true
    const attempts = (await Promise.all(running)).reduce((sum, n) => sum + n, 0)
    const acked = history.creates.length - createsBefore + history.sets.reduce((sum, sets) => sum + sets.length, 0) - setsBefore

    // ---- restart on the same directory and check what it serves
    node = await startNode({ dataDir, port, args })
    nodes.push(node)
    const served = await treeState(node.url)

    // Every acknowledged sequential create is there, with its own data: no sequence number was lost or reused.
    const sequences = history.creates.map((create) => create.sequence)
    expect(new Set(sequences).size, 'a sequence number was acknowledged twice').toBe(sequences.length)
    const created = await readAll(node.url, history.creates.map((create) => create.path))
    const lostCreates = history.creates.filter((create) => created.get(create.path)?.data !== create.data)
    expect(lostCreates.slice(0, 5), `${lostCreates.length} acknowledged creates lost`).toEqual([])

    // Every client's register holds its last acknowledged setData, or a later write of that client whose outcome was unknown.
    const registers = await readAll(node.url, Array.from({ length: clients }, (_, c) => `/reg/c${c}`))
    for (let c = 0; c < clients; c++) {
      const last = (history.sets[c] as AckedSet[]).at(-1) ?? { data: 'initial', version: 0 }
      const unknown = history.unknownSets[c] as string[]
      const register = registers.get(`/reg/c${c}`)
      expect(register, `/reg/c${c} is gone`).toBeTruthy()
      if (register === null || register === undefined) continue
      expect(register.data.startsWith('refused-'), `/reg/c${c} holds a refused write`).toBe(false)
      if (register.version === last.version) {
        expect(register.data, `/reg/c${c} at the acknowledged version`).toBe(last.data)
      } else {
        expect(register.version, `/reg/c${c} went back from the acknowledged version ${last.version}`).toBeGreaterThan(last.version)
        expect(register.version - last.version).toBeLessThanOrEqual(unknown.length)
        expect(unknown, `/reg/c${c} holds data nobody wrote after its last acknowledgement`).toContain(register.data)
      }
    }
    // No acknowledged zxid is beyond what the node applied after restart.
    const maxAckedZxid = Math.max(...history.creates.map((create) => create.zxid), ...history.sets.flat().map((set) => set.zxid))
    expect(served.appliedZxid).toBeGreaterThanOrEqual(maxAckedZxid)

    // The next sequential create continues past every number ever acknowledged.
    const next = await fetch(`${node.url}/znodes/seq/after-r${round}-?sequential`, { method: 'PUT', body: `after-r${round}` })
    expect(next.status).toBe(201)
    const nextSequence = sequenceOf(((await next.json()) as { path: string }).path)
    expect(nextSequence).toBeGreaterThan(Math.max(...sequences))
    history.creates.push({ client: -1, path: `/seq/after-r${round}-${String(nextSequence).padStart(10, '0')}`, data: `after-r${round}`, sequence: nextSequence, zxid: 0 })

    // ---- stop it, and replay its store offline: the same tree, to the zxid
    const before = await treeState(node.url)
    expect(await node.stop()).toBe(0)
    const replay = await replayDataDir(dataDir)
    expect({ digest: replay.digest, zxid: replay.zxid }).toEqual({ digest: before.digest, zxid: before.appliedZxid })
    expect(replay.digestFromScratch).toBe(replay.digest)
    // No refused write is anywhere in the tree.
    const seen = new Set<string>()
    for (const path of [...history.creates.map((create) => create.path), ...Array.from({ length: clients }, (_, c) => `/reg/c${c}`)]) {
      const znode = replay.read(path)
      if (znode !== undefined) seen.add(znode.data)
    }
    expect(history.refused.filter((data) => seen.has(data))).toEqual([])
    const children = replay.tree.getChildren('/seq', null, 1_000_000)?.children ?? []
    expect(children.length).toBeGreaterThanOrEqual(history.creates.length)

    console.log(
      `round ${round + 1}: SIGKILL ${delayMs} ms into the writes; ${acked} writes acknowledged ` +
        `(${attempts} attempted by ${clients} clients), ${inFlightAtKill} in flight at the kill; ` +
        `restarted at zxid ${served.appliedZxid}; store holds a snapshot at ${replay.snapshotIndex ?? 'none'} and the log from ${replay.firstIndex}; ` +
        `totals so far: ${history.creates.length} creates, ${history.sets.flat().length} setData acknowledged, ${history.refused.length} refused`,
    )
    expect(inFlightAtKill, 'the kill must land while writes are in flight').toBeGreaterThan(0)
    expect(acked).toBeGreaterThan(0)

    node = await startNode({ dataDir, port, args })
    nodes.push(node)
  }
  // Over three rounds the log was truncated behind a snapshot at least once.
  await node.stop()
  const final = await replayDataDir(dataDir)
  expect(final.snapshotIndex).not.toBeNull()
  expect(final.firstIndex).toBeGreaterThan(1)
})
