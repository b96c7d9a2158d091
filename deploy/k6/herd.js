// A k6 load test for a herd node or cluster (https://grafana.com/docs/k6/).
//
//   k6 run -e HERD_URL=http://127.0.0.1:8181 deploy/k6/herd.js
//   k6 run -e HERD_URL=http://10.0.0.5:8181 -e SCENARIOS=reads,mixed -e DURATION=2m -e VUS=64 deploy/k6/herd.js
//   k6 run -e HERD_URL=http://10.0.0.1:8181,http://10.0.0.2:8181,http://10.0.0.3:8181 deploy/k6/herd.js
//
// HERD_URL may list every replica of a cluster, comma separated: virtual
// user i talks to replica i mod n only (as a ZooKeeper client stays with its
// server), so the load spreads evenly and each VU reads its own writes.
//
// Scenarios run one after another (each for DURATION with VUS virtual users,
// closed model: every VU sends its next request when the last one is
// answered):
//
//   writes   PUT (upsert) of VALUE_BYTES bytes to one of KEYS znodes
//   reads    GET ?raw of one of KEYS preloaded znodes
//   mixed    90 % reads, 10 % writes, over the same KEYS znodes
//   queue    sequential creates under one queue znode (PUT .../job-?sequential)
//   watches  each VU arms a data watch on its own znode (GET ?watch=data, an
//            SSE stream that ends after its one event), then writes that
//            znode; `watch_latency` is the time from sending the write to
//            the end of the watch's stream, i.e. write + fsync + apply +
//            delivery of the event
//
// Everything is written under a fresh root znode, /k6-<start time>, which the
// test leaves behind (delete it, or run against a test node). Thresholds (p99
// per scenario, error rate) make `k6 run` exit non-zero when they fail; tune
// them with READ_P99_MS, WRITE_P99_MS, QUEUE_P99_MS and WATCH_P99_MS.
import http from 'k6/http'
import exec from 'k6/execution'
import { check } from 'k6'
import { Counter, Trend } from 'k6/metrics'

const baseUrls = (__ENV.HERD_URL || 'http://127.0.0.1:8181')
  .split(',')
  .map((url) => url.trim().replace(/\/+$/, ''))
  .filter((url) => url !== '')
if (baseUrls.length === 0) throw new Error('HERD_URL names no replica')
/** The replica this VU talks to (the first during setup). */
function baseUrl() {
  const vu = exec.vu.idInTest
  return vu > 0 ? baseUrls[(vu - 1) % baseUrls.length] : baseUrls[0]
}
const duration = __ENV.DURATION || '30s'
const vus = Number(__ENV.VUS || 32)
const watchVus = Number(__ENV.WATCH_VUS || 16)
const keys = Number(__ENV.KEYS || 1000)
const valueBytes = Number(__ENV.VALUE_BYTES || 100)
const selected = (__ENV.SCENARIOS || 'writes,reads,mixed,queue,watches').split(',').map((name) => name.trim()).filter((name) => name !== '')
/** Time left between scenarios for the last iterations to finish. */
const gracefulStop = '5s'
/** The most operations one POST /multi carries (the server's default multiOpsMax is 1000). */
const preloadBatch = 500

const value = 'x'.repeat(valueBytes)
const watchLatency = new Trend('watch_latency', true)
const watchEvents = new Counter('watch_events')

const scenarioDefaults = {
  writes: { exec: 'writes', vus },
  reads: { exec: 'reads', vus },
  mixed: { exec: 'mixed', vus },
  queue: { exec: 'queue', vus },
  watches: { exec: 'watches', vus: watchVus },
}

for (const name of selected) {
  if (!(name in scenarioDefaults)) throw new Error(`unknown scenario ${name}; choose from ${Object.keys(scenarioDefaults).join(', ')}`)
}

/** Seconds in a k6 duration such as 30s, 2m or 1h30m. */
function seconds(text) {
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h)/g
  const unitSeconds = { ms: 0.001, s: 1, m: 60, h: 3600 }
  let total = 0
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) total += Number(match[1]) * unitSeconds[match[2]]
  if (total === 0) throw new Error(`DURATION must look like 30s, 2m or 1h30m, got ${text}`)
  return total
}

function scenarios() {
  const step = seconds(duration) + seconds(gracefulStop)
  const result = {}
  selected.forEach((name, i) => {
    result[name] = { executor: 'constant-vus', duration, gracefulStop, startTime: `${i * step}s`, ...scenarioDefaults[name] }
  })
  return result
}

function thresholds() {
  const result = {
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
  }
  const p99 = {
    writes: Number(__ENV.WRITE_P99_MS || 50),
    reads: Number(__ENV.READ_P99_MS || 20),
    mixed: Number(__ENV.WRITE_P99_MS || 50),
    queue: Number(__ENV.QUEUE_P99_MS || 50),
  }
  for (const name of selected) {
    if (name in p99) result[`http_req_duration{scenario:${name}}`] = [`p(99)<${p99[name]}`]
  }
  if (selected.includes('watches')) result.watch_latency = [`p(99)<${Number(__ENV.WATCH_P99_MS || 100)}`]
  return result
}

export const options = {
  scenarios: scenarios(),
  thresholds: thresholds(),
  // p(99) in the end-of-test summary, beside k6's usual columns.
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max'],
  setupTimeout: '120s',
}

const json = { headers: { 'Content-Type': 'application/json' } }

/**
 * Creates the root znode and its parents, and preloads the keys that reads
 * and mixed read; then waits until every replica named has applied them.
 */
export function setup() {
  const url = baseUrls[0]
  const root = `/k6-${Date.now()}`
  let zxid = '0'
  for (const path of [root, `${root}/r`, `${root}/w`, `${root}/q`, `${root}/watch`]) {
    const res = http.put(`${url}/znodes${path}`, '', { headers: { 'If-None-Match': '*' } })
    if (res.status !== 201) throw new Error(`cannot create ${path} on ${url}: HTTP ${res.status} ${res.body}`)
  }
  for (let start = 0; start < keys; start += preloadBatch) {
    const ops = []
    for (let i = start; i < Math.min(keys, start + preloadBatch); i++) ops.push({ op: 'create', path: `${root}/r/${keyName(i)}`, data: value })
    const res = http.post(`${url}/multi`, JSON.stringify({ ops }), json)
    if (res.status !== 200) throw new Error(`cannot preload keys on ${url}: HTTP ${res.status} ${res.body}`)
    zxid = res.headers['Herd-Zxid']
  }
  // A read with minZxid waits until the replica has applied that zxid.
  for (const other of baseUrls.slice(1)) {
    const res = http.get(`${other}/znodes${root}/r?minZxid=${zxid}`)
    if (res.status !== 200) throw new Error(`replica ${other} did not apply the preload (zxid ${zxid}): HTTP ${res.status} ${res.body}`)
  }
  console.log(`herd k6: writing under ${root} on ${baseUrls.join(', ')}`)
  return { root }
}

function keyName(i) {
  return `key-${String(i).padStart(6, '0')}`
}

function randomKey() {
  return keyName(Math.floor(Math.random() * keys))
}

function isWritten(res) {
  return res.status === 200 || res.status === 201
}

function read(data) {
  // The `name` tag groups every key under one URL in the metrics.
  const res = http.get(`${baseUrl()}/znodes${data.root}/r/${randomKey()}?raw`, { tags: { name: 'GET /znodes/r/{key}?raw' } })
  check(res, { 'read 200': (r) => r.status === 200 && r.body.length === valueBytes })
}

function write(data, folder) {
  const res = http.put(`${baseUrl()}/znodes${data.root}/${folder}/${randomKey()}`, value, { tags: { name: `PUT /znodes/${folder}/{key}` } })
  check(res, { 'write 200/201': isWritten })
}

export function writes(data) {
  write(data, 'w')
}

export function reads(data) {
  read(data)
}

export function mixed(data) {
  if (Math.random() < 0.9) read(data)
  else write(data, 'r')
}

export function queue(data) {
  const res = http.put(`${baseUrl()}/znodes${data.root}/q/job-?sequential`, value, { tags: { name: 'PUT /znodes/q/job-?sequential' } })
  check(res, { 'sequential create 201': (r) => r.status === 201 && /\/job-\d{10}$/.test(r.headers.Location || '') })
}

export async function watches(data) {
  const url = `${baseUrl()}/znodes${data.root}/watch/vu-${exec.vu.idInTest}`
  // The zxid of this write arms the watch: a change after it fires even if
  // the write below reaches the node before the watch does.
  const armed = http.put(url, 'armed', { tags: { name: 'PUT /znodes/watch/{vu}' } })
  if (!check(armed, { 'watch target written': isWritten })) return
  const zxid = armed.headers['Herd-Zxid']
  const watch = http.asyncRequest('GET', `${url}?watch=data&zxid=${zxid}`, null, {
    tags: { name: 'GET /znodes/watch/{vu}?watch=data' },
    timeout: '60s',
  })
  const sentMs = Date.now()
  const change = http.asyncRequest('PUT', url, 'fired', { tags: { name: 'PUT /znodes/watch/{vu}' } })
  const event = await watch
  const deliveredMs = Date.now()
  const written = await change
  const isDelivered = check(event, {
    'watch delivered NodeDataChanged': (r) => r.status === 200 && r.body.includes('event: NodeDataChanged'),
  })
  check(written, { 'watched write 200': isWritten })
  if (isDelivered) {
    watchLatency.add(deliveredMs - sentMs)
    watchEvents.add(1)
  }
}
