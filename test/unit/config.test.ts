import { describe, expect, it } from 'vitest'
import { ConfigError, defaults, envName, flagName, parseConfig } from '../../src/config.ts'

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
})
