// Log replication (Raft §5.3): the consistency check on (prevIndex,
// prevTerm), conflicting suffixes overwritten by the leader's (Figure 7),
// fast backtracking by term, and pipelined appends bounded by
// inflightAppendsMax.
import { describe, expect, it } from 'vitest'
import type { AppendMessage, Message } from '../../../../src/replication/core/index.ts'
import { Cluster, text } from '../../../support/raft-sim-cluster.ts'

// Figure 7: the leader of term 8 and six possible followers (a-f).
const figure7 = {
  leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
}

describe('§5.3 log replication', () => {
  it('Figure 7: every follower ends with the leader\'s log, conflicting entries replaced', () => {
    const logs = { 1: figure7.leader, 2: figure7.a, 3: figure7.b, 4: figure7.c, 5: figure7.d, 6: figure7.e, 7: figure7.f }
    const ids = [1, 2, 3, 4, 5, 6, 7]
    const hardStates = Object.fromEntries(ids.map((id) => [id, { term: 7, vote: 0, commit: 3 }]))
    const cluster = new Cluster({ ids, logs, hardStates })
    cluster.elect(1) // a, b, e and f vote for it: its log is at least as up to date as theirs
    expect(cluster.core(1).status().term).toBe(8)
    const expected = cluster.log(1)
    expect(expected.map((entry) => entry.split(':')[0])).toEqual(
      [...figure7.leader, 8].map((term, i) => `${i + 1}@${term}`),
    )
    for (const id of ids) expect(cluster.log(id), `follower n${id}`).toEqual(expected)
    for (const id of ids) expect(cluster.core(id).status().commit).toBe(11)
  })

  it('backtracking skips a whole term per rejection, not an entry', () => {
    // Follower f holds 8 entries of terms 2 and 3 the leader never had.
    const cluster = new Cluster({
      ids: [1, 2, 3],
      logs: { 1: figure7.leader, 2: figure7.leader, 3: figure7.f },
      hardStates: { 1: { term: 7, vote: 0, commit: 3 }, 2: { term: 7, vote: 0, commit: 3 }, 3: { term: 7, vote: 0, commit: 3 } },
    })
    cluster.isolate(3)
    cluster.elect(1)
    const rejections: Message[] = []
    cluster.intercept = (message) => {
      if (message.type === 'appendReply' && !message.success && message.from === 3) rejections.push(message)
      return message
    }
    cluster.heal()
    cluster.tickAll(2)
    expect(cluster.log(3)).toEqual(cluster.log(1))
    // One entry at a time would take 7 rejections (from index 10 down to 3).
    expect(rejections.length).toBe(1)
  })

  it('an append whose previous entry does not match is refused with a hint', () => {
    const cluster = new Cluster({
      ids: [1, 2, 3],
      logs: { 2: [1, 1, 2, 2] },
      hardStates: { 2: { term: 3, vote: 0, commit: 2 } },
    })
    const follower = cluster.core(2)
    follower.step({ type: 'append', from: 1, to: 2, term: 3, prevIndex: 6, prevTerm: 3, entries: [], commit: 2, durable: 0 })
    follower.step({ type: 'append', from: 1, to: 2, term: 3, prevIndex: 4, prevTerm: 3, entries: [], commit: 2, durable: 0 })
    follower.step({ type: 'append', from: 1, to: 2, term: 3, prevIndex: 4, prevTerm: 1, entries: [], commit: 2, durable: 0 })
    expect(follower.ready().messages).toEqual([
      // It has only 4 entries: the hint is its last.
      { type: 'appendReply', from: 2, to: 1, term: 3, success: false, index: 6, hintIndex: 4, hintTerm: 2 },
      // Its entry 4 is of term 2, which is older than 3: entry 4 itself may match.
      { type: 'appendReply', from: 2, to: 1, term: 3, success: false, index: 4, hintIndex: 4, hintTerm: 2 },
      // Term 2 is newer than the leader's 1 at 4: its last entry of term <= 1 is 2.
      { type: 'appendReply', from: 2, to: 1, term: 3, success: false, index: 4, hintIndex: 2, hintTerm: 1 },
    ])
  })

  it('a follower commits only what the append vouched for, not its own stale suffix', () => {
    const cluster = new Cluster({
      ids: [1, 2, 3],
      logs: { 2: [1, 1, 2, 2] },
      hardStates: { 2: { term: 3, vote: 0, commit: 1 } },
    })
    const follower = cluster.core(2)
    // Entry 2 matches; entries 3 and 4 (term 2) may not be the leader's.
    follower.step({ type: 'append', from: 1, to: 2, term: 3, prevIndex: 1, prevTerm: 1, entries: [{ index: 2, term: 1, data: text('2@1') }], commit: 4, durable: 0 })
    expect(follower.status().commit).toBe(2)
  })

  it('pipelining: at most inflightAppendsMax appends are out to a follower before it answers', () => {
    const cluster = new Cluster({ ids: [1, 2, 3], inflightAppendsMax: 2 })
    cluster.elect(1)
    for (let i = 0; i < 5; i++) cluster.propose(1, `p${i}`)
    const appendsTo2 = cluster.queue.filter((message): message is AppendMessage => message.type === 'append' && message.to === 2)
    expect(appendsTo2.map((message) => message.entries.length)).toEqual([1, 1])
    cluster.stabilize()
    expect(cluster.log(2)).toEqual(cluster.log(1))
    expect(cluster.core(2).status().commit).toBe(6)
  })

  it('lost appends are resent: the follower catches up after heartbeats', () => {
    const cluster = new Cluster({ ids: [1, 2, 3], inflightAppendsMax: 2 })
    cluster.elect(1)
    for (let i = 0; i < 6; i++) {
      cluster.propose(1, `p${i}`)
      cluster.drop((message) => message.type === 'append' && message.to === 3)
    }
    cluster.stabilize()
    expect(cluster.log(3)).toEqual(['1@1:noop'])
    cluster.tickAll(4)
    expect(cluster.log(3)).toEqual(cluster.log(1))
  })
})
