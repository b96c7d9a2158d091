import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ConfigError, defaults, envName, flagName, nodeFlags, parseConfig, peerAddresses, syncsInWorker } from '../../src/config.ts'

describe('parseConfig', () => {
  it('gives the defaults with no input', () => {
    expect(parseConfig({ argv: [], env: {} })).toEqual(defaults)
  })

  it('takes flags over environment over file', () => {
    const config = parseConfig({
      argv: ['--client-port', '9001'],
      env: { HERD_CLIENT_PORT: '9002', HERD_DATA_DIR: '/tmp/env' },
      fileText: JSON.stringify({ clientPort: 9003, dataDir: '/tmp/file', replicaId: 3 }),
    })
    expect(config.clientPort).toBe(9001)
    expect(config.dataDir).toBe('/tmp/env')
    expect(config.replicaId).toBe(3)
  })

  it('accepts --flag=value and bare boolean flags', () => {
    const config = parseConfig({ argv: ['--client-port=0', '--ttl-enabled', '--cors-origins', 'http://a.test, http://b.test'], env: {} })
    expect(config.clientPort).toBe(0)
    expect(config.ttlEnabled).toBe(true)
    expect(config.corsOrigins).toEqual(['http://a.test', 'http://b.test'])
  })

  it('derives session timeout bounds from tickMs as ZooKeeper does (2x and 20x)', () => {
    const config = parseConfig({ argv: ['--tick-ms', '100'], env: {} })
    expect(config.sessionTimeoutMinMs).toBe(200)
    expect(config.sessionTimeoutMaxMs).toBe(2000)
  })

  it('syncs the log inline on the main thread unless told to use a worker', () => {
    expect(syncsInWorker(parseConfig({ argv: [], env: {} }))).toBe(false)
    expect(syncsInWorker(parseConfig({ argv: ['--log-sync', 'worker'], env: {} }))).toBe(true)
    expect(syncsInWorker(parseConfig({ argv: [], env: { HERD_LOG_SYNC: 'main' } }))).toBe(false)
    expect(() => parseConfig({ argv: ['--log-sync', 'auto'], env: {} })).toThrow(/logSync must be one of main, worker/)
  })

  it('names flags and environment variables from the key', () => {
    expect(flagName('watchStreamsPerClientMax')).toBe('--watch-streams-per-client-max')
    expect(envName('watchStreamsPerClientMax')).toBe('HERD_WATCH_STREAMS_PER_CLIENT_MAX')
  })

  it.each([
    [['--client-port', 'eighty'], /clientPort must be an integer/],
    [['--client-port', '70000'], /at most 65535/],
    [['--no-such-thing'], /unknown option/],
    [['--client-port'], /needs a value/],
    [['--ttl-enabled', 'maybe'], /true or false/],
    [['--session-timeout-min-ms', '5000', '--session-timeout-max-ms', '4000'], /must not exceed/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseConfig({ argv, env: {} })).toThrow(ConfigError)
    expect(() => parseConfig({ argv, env: {} })).toThrow(message)
  })

  it('rejects a config file that is not a JSON object or names an unknown setting', () => {
    expect(() => parseConfig({ argv: [], env: {}, fileText: '[1]' })).toThrow(/JSON object/)
    expect(() => parseConfig({ argv: [], env: {}, fileText: '{' })).toThrow(/not valid JSON/)
    expect(() => parseConfig({ argv: [], env: {}, fileText: '{"port": 1}' })).toThrow(/unknown setting "port"/)
  })

  it('freezes the result', () => {
    expect(Object.isFrozen(parseConfig({ argv: [], env: {} }))).toBe(true)
  })

  it('starts herd with the same Node flags from npm start, the systemd unit and the deploy guide', () => {
    const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts['start']
    const execStart = /^ExecStart=(.*)$/m.exec(read('deploy/systemd/herd.service'))?.[1]
    const flags = nodeFlags.join(' ')
    expect(flags).toMatch(/^--/)
    expect(start).toBe(`node ${flags} src/main.ts`)
    expect(execStart).toBe(`/opt/herd/node_modules/.bin/node ${flags} /opt/herd/src/main.ts --config /etc/herd/herd.json`)
    expect(read('deploy/README.md')).toContain(`node_modules/.bin/node ${flags} /opt/herd/src/main.ts`)
  })

  it("parses deploy/herd.example.json, the operators' starting point, as it ships", () => {
    const fileText = readFileSync(new URL('../../deploy/herd.example.json', import.meta.url), 'utf8')
    const config = parseConfig({ argv: [], env: {}, fileText })
    expect(config.dataDir).toBe('/var/lib/herd')
    expect(config.clientHost).toBe('0.0.0.0')
  })

  it('takes the voters from --peers, with this replica among them, and its peer port from its own entry', () => {
    const peers = '1=127.0.0.1:9281,2=127.0.0.1:9282,3=localhost:9283'
    const config = parseConfig({ argv: ['--replica-id', '2', '--peers', peers], env: { HERD_CLUSTER_SECRET: 'a-secret-of-16-chars' } })
    expect([...peerAddresses(config)]).toEqual([
      [1, { host: '127.0.0.1', port: 9281 }],
      [2, { host: '127.0.0.1', port: 9282 }],
      [3, { host: 'localhost', port: 9283 }],
    ])
    expect(config.peerPort).toBe(9282)
    expect(parseConfig({ argv: ['--replica-id', '2', '--peers', peers, '--peer-port', '7000'], env: { HERD_CLUSTER_SECRET: 'a-secret-of-16-chars' } }).peerPort).toBe(7000)
  })

  it('refuses a cluster without a secret, without this replica, or with malformed peers', () => {
    const peers = ['--peers', '1=127.0.0.1:9281,2=127.0.0.1:9282']
    expect(() => parseConfig({ argv: peers, env: {} })).toThrow(/needs clusterSecret/)
    expect(() => parseConfig({ argv: [...peers, '--cluster-secret', 'short'], env: {} })).toThrow(/needs clusterSecret/)
    expect(() => parseConfig({ argv: ['--replica-id', '3', ...peers], env: { HERD_CLUSTER_SECRET: 'a-secret-of-16-chars' } })).toThrow(/must include this replica/)
    for (const bad of ['1=127.0.0.1', 'x=127.0.0.1:1', '0=h:1', '1=h:70000', '1=h:1,1=h:2', '1=a b:1']) {
      expect(() => parseConfig({ argv: ['--peers', bad], env: {} }), bad).toThrow(ConfigError)
    }
    // One voter needs no secret: it talks to nobody.
    expect(parseConfig({ argv: ['--peers', '1=127.0.0.1:9281'], env: {} }).peerPort).toBe(9281)
  })

  it('keeps the heartbeat shorter than the election timeout', () => {
    expect(() => parseConfig({ argv: ['--heartbeat-ticks', '10', '--election-ticks', '10'], env: {} })).toThrow(/heartbeatTicks/)
  })

  it('cuts a replica off only after more than twice the longest election timeout without a leader', () => {
    expect(parseConfig({ argv: [], env: {} }).leaderContactMaxMs).toBe(5000)
    // Defaults: 10 ticks of 50 ms, randomized up to 1 s: the bound is 2 s.
    expect(parseConfig({ argv: ['--leader-contact-max-ms', '2001'], env: {} }).leaderContactMaxMs).toBe(2001)
    expect(() => parseConfig({ argv: ['--leader-contact-max-ms', '2000'], env: {} })).toThrow(/leaderContactMaxMs must exceed .* 2000 ms/)
    expect(() => parseConfig({ argv: ['--election-ticks', '60'], env: {} })).toThrow(/leaderContactMaxMs/)
  })
})
