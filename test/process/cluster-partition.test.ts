// A minority partition on real processes, every peer link through a fault
// proxy (test/support/fault-proxy.ts). First one follower is cut off, then
// the leader. Each time the majority keeps or elects a leader and commits
// (the time it needed to serve a write after the cut is printed); a write
// sent to the cut-off replica is never acknowledged (503 or 504: it did not
// happen, or its outcome is unknown); a cut-off leader steps down (check
// quorum) and commits nothing meanwhile; a session whose client heartbeats
// through the majority is not expired; a cut-off replica refuses local reads
// once it has heard from no leader for leaderContactMaxMs, and serves them
// again after healing; a browser's EventSource on it lives through the cut
// (a 503 would end it for good) and gets the change the majority made
// meanwhile; every replica then has the same digest at the same zxid and
// every acknowledged write.
import { EventSource, type MessageEvent } from 'undici'
import { afterAll, expect, it } from 'vitest'
import { TestCluster, missingOn, writer, type Acked } from '../support/cluster-process.ts'
import { cutOffRetryMs } from '../../src/api/watch-stream.ts'
import { openStream } from '../support/http.ts'

let cluster: TestCluster | null = null
afterAll(async () => {
  await cluster?.stop()
})

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** How long a replica may hear from no leader before it refuses local reads (--leader-contact-max-ms here). */
const leaderContactMaxMs = 2500

/**
 * An EventSource (undici's, as a browser's) watching `url`: whether it gave
 * up (readyState CLOSED, as a browser's does on a 503), how often it
 * reconnected, and its first NodeDataChanged.
 */
function watchFromBrowser(url: string): { opened: Promise<void>; event(timeoutMs: number): Promise<{ zxid: number }>; reconnected(times: number, timeoutMs: number): Promise<void>; close(): void } {
  const source = new EventSource(url, { node: { reconnectionTime: 300 } })
  let opens = 0
  const closed = new Promise<never>((_, reject) => {
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) reject(new Error(`the EventSource gave up after ${opens} opens`))
    })
  })
  closed.catch(() => undefined) // raced below
  const opened = new Promise<void>((resolve) => source.addEventListener('open', () => resolve(), { once: true }))
  source.addEventListener('open', () => opens++)
  const changed = new Promise<{ zxid: number }>((resolve) => {
    source.addEventListener('NodeDataChanged', (event) => resolve(JSON.parse((event as MessageEvent<string>).data) as { zxid: number }))
  })
  return {
    opened: Promise.race([opened, closed]),
    event: (timeoutMs) => Promise.race([changed, closed, sleep(timeoutMs).then(() => Promise.reject(new Error(`no event within ${timeoutMs} ms (state ${source.readyState})`)))]),
    reconnected: async (times, timeoutMs) => {
      const deadline = Date.now() + timeoutMs
      while (opens - 1 < times) {
        if (source.readyState === EventSource.CLOSED) throw new Error(`the EventSource gave up after ${opens} opens`)
        if (Date.now() > deadline) throw new Error(`the EventSource reconnected ${opens - 1} times in ${timeoutMs} ms, not ${times}`)
        await sleep(50)
      }
    },
    close: () => source.close(),
  }
}

/** Polls a plain read of `path` on `url` until it answers `status` (within `timeoutMs`); resolves with the answer's body. */
async function readUntil(url: string, path: string, status: number, timeoutMs = leaderContactMaxMs + 3000): Promise<{ code?: string; detail?: string }> {
  const deadline = Date.now() + timeoutMs
  for (let last = 0; ; await sleep(100)) {
    const response = await fetch(`${url}/znodes${path}`, { signal: AbortSignal.timeout(2000) }).catch(() => null)
    const body = ((await response?.json().catch(() => null)) ?? {}) as { code?: string; detail?: string }
    last = response?.status ?? 0
    if (last === status) return body
    if (Date.now() > deadline) throw new Error(`${url}/znodes${path} still answers ${last}, not ${status}, after ${timeoutMs} ms`)
  }
}

async function put(url: string, path: string, data: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${url}/znodes${path}`, { method: 'PUT', body: data, headers, signal: AbortSignal.timeout(timeoutMs) })
  await response.arrayBuffer()
  return response.status
}

/**
 * Milliseconds from `since` until a write through any of `urls` is
 * acknowledged. A probe write leaves for each of them every 50 ms without
 * waiting for the earlier ones (a follower may hold a write for the old
 * leader until its call times out), so the figure is when the majority could
 * first serve a write, not when a test poll happened to notice.
 */
function firstWriteMs(urls: readonly string[], path: string, since: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let isSettled = false
    let attempt = 0
    const settle = (): void => {
      isSettled = true
      clearInterval(probe)
      clearTimeout(limit)
    }
    const probe = setInterval(() => {
      for (const url of urls) {
        const at = attempt++
        void put(url, `${path}-${at}`, 'probe', 5000)
          .catch(() => 0)
          .then((status) => {
            if (isSettled || status !== 201) return
            settle()
            resolve(Date.now() - since)
          })
      }
    }, 50)
    const limit = setTimeout(() => {
      if (isSettled) return
      settle()
      reject(new Error(`no write through ${urls.join(', ')} acknowledged within ${timeoutMs} ms`))
    }, timeoutMs)
  })
}

/**
 * Milliseconds from `since` until replica `id` no longer leads. GET /cluster
 * takes a second while a peer is cut off (it asks every member), so a poll
 * starts every 100 ms without waiting for the last; each answer tells the
 * role as of when it was asked.
 */
function whenNotLeader(c: TestCluster, id: number, since: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let isSettled = false
    const settle = (): void => {
      isSettled = true
      clearInterval(poll)
      clearTimeout(limit)
    }
    const poll = setInterval(() => {
      const askedAt = Date.now()
      void c.status(id, 5000).then((status) => {
        if (isSettled || status === null || status.role === 'leader') return
        settle()
        resolve(askedAt - since)
      })
    }, 100)
    const limit = setTimeout(() => {
      if (isSettled) return
      settle()
      reject(new Error(`replica ${id} still leads ${timeoutMs} ms after being cut off`))
    }, timeoutMs)
  })
}

it('a cut-off follower, then a cut-off leader: the majority commits, the minority acknowledges nothing, sessions live, all converge after healing', async () => {
  // Writes give up after 3 s and calls to the leader after 2 s, so the minority's answers come while it is still cut off.
  cluster = await TestCluster.start({
    size: 3,
    proxied: true,
    args: ['--tick-ms', '500', '--session-check-interval-ms', '50', '--write-timeout-ms', '3000', '--peer-timeout-ms', '2000', '--leader-contact-max-ms', String(leaderContactMaxMs)],
  })
  const c = cluster
  const links = c.links as NonNullable<TestCluster['links']>
  const leader = await c.leader()
  const [cutFollower, steady] = c.ids.filter((id) => id !== leader) as [number, number]
  expect(await put(c.url(leader), '/pt', '', 5000)).toBe(201)

  // A session, heartbeated through `steady` (on the majority side of both cuts), owning an ephemeral.
  const opened = await fetch(`${c.url(steady)}/sessions`, { method: 'POST', body: JSON.stringify({ timeoutMs: 3000 }), headers: { 'content-type': 'application/json' } })
  expect(opened.status).toBe(201)
  const session = (await opened.json()) as { id: number; secret: string; timeoutMs: number }
  expect(await put(c.url(steady), '/pt/owned', 'e', 5000, { 'herd-session': String(session.id), 'herd-session-secret': session.secret })).toBe(201)
  let isDone = false
  let isBeating = true
  let heartbeatsOk = 0
  let heartbeatsExpired = 0
  const heartbeats = (async () => {
    while (isBeating) {
      const response = await fetch(`${c.url(steady)}/sessions/${session.id}/heartbeat`, {
        method: 'POST',
        headers: { 'herd-session-secret': session.secret },
        signal: AbortSignal.timeout(1500),
      }).catch(() => null)
      if (response?.status === 200) heartbeatsOk++
      else if (response?.status === 410) heartbeatsExpired++
      await response?.arrayBuffer()
      await sleep(300)
    }
  })()

  const acked: Acked[] = []
  let targets: readonly number[] = c.ids
  const writers = Array.from({ length: 4 }, (_, client) =>
    writer(
      client,
      '/pt',
      () => targets.map((id) => c.url(id)),
      acked,
      () => isDone,
      10_000,
    ),
  )
  await sleep(500)

  // ---- 1. A follower is cut off: the leader keeps leading and committing.
  targets = [leader, steady]
  // Watches held by the follower (of /pt's data, which nothing changes).
  const watch = await openStream(c.url(cutFollower), '/znodes/pt?watch=data')
  const staleWatch = await openStream(c.url(cutFollower), '/znodes/pt?watch=data&stale')
  expect([watch.status, staleWatch.status]).toEqual([200, 200])
  // A browser's EventSource on the follower: it cannot move to another
  // replica, and gives up for good on an answer other than a 200 stream.
  const created = await fetch(`${c.url(leader)}/znodes/pt-es`, { method: 'PUT', body: 'v0' })
  expect(created.status).toBe(201)
  // From the create's zxid, which the follower may not have applied yet (it waits for it).
  const browser = watchFromBrowser(`${c.url(cutFollower)}/znodes/pt-es?watch=data&zxid=${created.headers.get('herd-zxid')}`)
  await browser.opened
  const cutAt = Date.now()
  links.isolate(cutFollower)
  // Polled from the cut on, so that the time it took shows.
  const refusal = readUntil(c.url(cutFollower), '/pt', 503).then((body) => ({ body, ms: Date.now() - cutAt }))
  refusal.catch(() => undefined) // awaited below
  const minorityWrite = put(c.url(cutFollower), '/pt/minority-follower', 'm', 15_000).catch(() => 0)
  const followerCutMs = await firstWriteMs([c.url(leader), c.url(steady)], '/pt/after-follower-cut', cutAt)
  await sleep(3000)
  const followerAnswer = await minorityWrite
  expect([503, 504], `a write through the cut-off follower ${cutFollower} was answered ${followerAnswer}`).toContain(followerAnswer)
  const duringFollowerCut = await Promise.all(c.ids.map((id) => c.status(id)))
  expect(duringFollowerCut.find((status) => status?.id === cutFollower)?.role).not.toBe('leader')
  expect(duringFollowerCut.find((status) => status?.id === leader)?.role).toBe('leader')
  const cutCommit = duringFollowerCut.find((status) => status?.id === cutFollower)?.commitZxid ?? 0
  expect(cutCommit).toBeLessThan(duringFollowerCut.find((status) => status?.id === leader)?.commitZxid ?? 0)
  // Past leaderContactMaxMs the cut-off follower refuses local reads (its
  // tree may be behind by any amount); ?stale reads what it has; the
  // majority serves reads throughout.
  const { body: refusedRead, ms: refusedMs } = await refusal
  expect(refusedRead.code).toBe('ConnectionLoss')
  expect(refusedMs).toBeGreaterThanOrEqual(leaderContactMaxMs)
  expect((await fetch(`${c.url(cutFollower)}/znodes/pt?stale`)).status).toBe(200)
  // Its watch streams end without an event, so that their clients watch
  // again elsewhere (as ZooKeeper drops the clients of a cut-off server);
  // one armed with ?stale waits on.
  const ended = await watch.ended(2000)
  expect(ended).toContain('cut off')
  expect(ended).toContain('retry: ')
  expect(ended).not.toContain('event:')
  // The browser's stream ended so too; it reconnects to the cut-off
  // follower, is answered with a stream that says when to try again, and
  // lives on (a 503 would have ended it for good).
  await browser.reconnected(2, 3 * cutOffRetryMs)
  // A new watch is refused (herd's client moves on to another replica),
  // but one asked by an EventSource gets a stream that only says when to
  // reconnect, and ends.
  expect((await fetch(`${c.url(cutFollower)}/znodes/pt-es?watch=data`)).status).toBe(503)
  const retryLater = await fetch(`${c.url(cutFollower)}/znodes/pt-es?watch=data`, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(2000) })
  expect(retryLater.status).toBe(200)
  expect(retryLater.headers.get('content-type')).toBe('text/event-stream')
  const retryBody = await retryLater.text()
  expect(retryBody).toMatch(/^retry: \d+\n/)
  expect(retryBody).not.toContain('event:')
  expect((await fetch(`${c.url(cutFollower)}/znodes/pt-es?watch=bogus`, { headers: { accept: 'text/event-stream' } })).status).toBe(400)
  // Changed on the majority while the follower is cut off: the EventSource gets it once the follower is back.
  const changedWhileCut = await fetch(`${c.url(leader)}/znodes/pt-es`, { method: 'PUT', body: 'v1' })
  expect(changedWhileCut.status).toBe(200)
  const changedZxid = ((await changedWhileCut.json()) as { stat: { mzxid: number } }).stat.mzxid
  expect(staleWatch.isEnded()).toBe(false)
  staleWatch.abort()
  expect((await c.status(cutFollower, 3000, true))?.cutOff).toBe(true)
  // Alive, and not ready (for a load balancer's check).
  expect((await fetch(`${c.url(cutFollower)}/health`)).status).toBe(200)
  expect((await fetch(`${c.url(cutFollower)}/health?ready`)).status).toBe(503)
  for (const id of [leader, steady]) {
    expect((await fetch(`${c.url(id)}/znodes/pt`)).status, `a read on replica ${id}, in the majority`).toBe(200)
    expect((await c.status(id, 3000, true))?.cutOff).toBe(false)
    expect((await fetch(`${c.url(id)}/health?ready`)).status).toBe(200)
  }
  links.heal()
  targets = c.ids
  const healedAt = Date.now()
  await readUntil(c.url(cutFollower), '/pt', 200)
  const servingAgainMs = Date.now() - healedAt
  const browserEvent = await browser.event(10_000)
  expect(browserEvent.zxid).toBe(changedZxid)
  browser.close()
  await sleep(500)

  // ---- 2. The leader is cut off: the other two elect a leader and commit; the old one steps down.
  const majority = c.ids.filter((id) => id !== leader)
  targets = majority
  const leaderCutAt = Date.now()
  links.isolate(leader)
  const leaderMinorityWrite = put(c.url(leader), '/pt/minority-leader', 'm', 15_000).catch(() => 0)
  // The cut-off leader steps down once it has not heard from a majority for an election timeout.
  const steppedDown = whenNotLeader(c, leader, leaderCutAt)
  steppedDown.catch(() => undefined) // awaited below; a failure must not count as unhandled meanwhile
  const leaderCutMs = await firstWriteMs(majority.map((id) => c.url(id)), '/pt/after-leader-cut', leaderCutAt)
  const successor = await c.leader(majority, 10_000)
  expect(successor).not.toBe(leader)
  const steppedDownMs = await steppedDown
  const oldCommit = (await c.status(leader))?.commitZxid
  // Regression: calls to a cut-off peer queued behind each other for a free
  // connection, past their deadline: GET /cluster (1 s per peer) took 5 s
  // when asked every 50 ms. Each must answer within its deadline.
  const statusMs = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      await sleep(50 * i)
      const askedAt = Date.now()
      expect(await c.status(leader, 10_000), 'GET /cluster of the cut-off replica').not.toBeNull()
      return Date.now() - askedAt
    }),
  )
  expect(Math.max(...statusMs), `GET /cluster of the cut-off replica took ${statusMs.join(', ')} ms`).toBeLessThan(2500)
  await sleep(3000)
  const leaderAnswer = await leaderMinorityWrite
  expect([503, 504], `a write through the cut-off leader ${leader} was answered ${leaderAnswer}`).toContain(leaderAnswer)
  const cutOff = await c.status(leader)
  const successorStatus = await c.status(successor)
  expect(cutOff?.role).not.toBe('leader')
  expect(cutOff?.commitZxid, 'the cut-off replica committed nothing while cut off').toBe(oldCommit)
  expect(cutOff?.commitZxid).toBeLessThan(successorStatus?.commitZxid ?? 0)
  expect(successorStatus?.term).toBeGreaterThan(cutOff?.term ?? Infinity)
  // The old leader, cut off too, refuses local reads once past leaderContactMaxMs.
  expect((await readUntil(c.url(leader), '/pt', 503)).code).toBe('ConnectionLoss')
  expect((await c.status(successor, 3000, true))?.cutOff).toBe(false)
  console.log(
    `follower ${cutFollower} cut off: leader ${leader} served a write ${followerCutMs} ms later; ` +
      `leader ${leader} cut off: replica ${successor} leads and served a write ${leaderCutMs} ms later, ${leader} stepped down after ${steppedDownMs} ms; ` +
      `writes through the cut-off replica answered ${followerAnswer} and ${leaderAnswer}; ` +
      `the cut-off follower refused reads ${refusedMs} ms after the cut and served them again ${servingAgainMs} ms after healing`,
  )

  // ---- Healed: one leader, one history, nothing acknowledged lost, the session alive.
  links.heal()
  targets = c.ids
  await readUntil(c.url(leader), '/pt', 200)
  await sleep(1000)
  isDone = true
  await Promise.all(writers)
  const statuses = await c.converged()
  expect(new Set(statuses.map((status) => status.digest)).size, JSON.stringify(statuses)).toBe(1)
  expect(statuses.filter((status) => status.role === 'leader')).toHaveLength(1)
  // The session (still heartbeated) lives on every replica.
  for (const id of c.ids) {
    expect((await fetch(`${c.url(id)}/znodes/pt/owned?raw`)).status, `the session's ephemeral on replica ${id}`).toBe(200)
    const beat = await fetch(`${c.url(id)}/sessions/${session.id}/heartbeat`, { method: 'POST', headers: { 'herd-session-secret': session.secret } })
    expect(beat.status, `a heartbeat through replica ${id} after healing`).toBe(200)
  }
  // Every acknowledged write is on every replica, with its data (16 reads at a time).
  for (const id of c.ids) {
    const missing = await missingOn(c.url(id), acked)
    expect(missing.slice(0, 5), `replica ${id} lacks ${missing.length} of ${acked.length} acknowledged writes`).toEqual([])
  }
  isBeating = false
  await heartbeats
  expect(heartbeatsExpired, `session ${session.id} was found expired while heartbeated through replica ${steady}`).toBe(0)
  expect(heartbeatsOk).toBeGreaterThan(10)
  // Unacknowledged writes through the minority may or may not have happened (503/504 say the outcome is unknown); report which.
  const fates = await Promise.all(['/pt/minority-follower', '/pt/minority-leader'].map(async (path) => `${path} ${(await fetch(`${c.url(leader)}/znodes${path}?raw`)).status === 200 ? 'exists' : 'absent'}`))
  console.log(`${acked.length} writes acknowledged, all on every replica at zxid ${statuses[0]?.appliedZxid}; ${heartbeatsOk} heartbeats answered; after healing ${fates.join(', ')}`)
}, 60_000)
