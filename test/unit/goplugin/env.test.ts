import { MAGIC_COOKIE_VALUE } from '../../../src/goplugin/constants';
import { parseDebugListen, parsePluginEnv, parseProtocolVersions, readLogLevel } from '../../../src/goplugin/env';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const good = { CHAINLOOP_PLUGIN: MAGIC_COOKIE_VALUE };

function config(env: Record<string, string | undefined>) {
  const result = parsePluginEnv(env, '/tmp');
  if (!result.ok) throw result.error;
  return result.config;
}

function error(env: Record<string, string | undefined>) {
  const result = parsePluginEnv(env, '/tmp');
  if (result.ok) throw new Error('expected an error');
  return result.error;
}

describe('parsePluginEnv', () => {
  it('refuses to run without the magic cookie, with a sentence for people', () => {
    const e = error({});
    expect(e.kind).toBe('missing-cookie');
    expect(e.forHumans).toBe(true);
    expect(e.message).toMatch(/launched by the Chainloop/);
    expect(e.message).toMatch(/--help/);
    expect(error({ CHAINLOOP_PLUGIN: '' }).kind).toBe('missing-cookie');
  });

  it('refuses a wrong cookie value', () => {
    const e = error({ CHAINLOOP_PLUGIN: 'nope' });
    expect(e.kind).toBe('wrong-cookie');
    expect(e.message).toMatch(/launched by the Chainloop/);
  });

  it('accepts a missing or empty PLUGIN_PROTOCOL_VERSIONS', () => {
    expect(config(good).offeredProtocolVersions).toBeUndefined();
    expect(config({ ...good, PLUGIN_PROTOCOL_VERSIONS: '' }).offeredProtocolVersions).toBeUndefined();
  });

  it('accepts a list that includes 0', () => {
    expect(config({ ...good, PLUGIN_PROTOCOL_VERSIONS: '0' }).offeredProtocolVersions).toEqual([0]);
    expect(config({ ...good, PLUGIN_PROTOCOL_VERSIONS: '2, 1,0' }).offeredProtocolVersions).toEqual([2, 1, 0]);
  });

  it('refuses a list without 0 and says which versions were offered', () => {
    const e = error({ ...good, PLUGIN_PROTOCOL_VERSIONS: '1,2' });
    expect(e.kind).toBe('unsupported-protocol');
    expect(e.forHumans).toBe(false);
    expect(e.message).toContain('"1,2"');
    expect(e.message).toMatch(/version 0/);
  });

  it('ignores entries that are not numbers but reports them', () => {
    const c = config({ ...good, PLUGIN_PROTOCOL_VERSIONS: '0,abc' });
    expect(c.offeredProtocolVersions).toEqual([0]);
    expect(c.invalidProtocolVersions).toEqual(['abc']);
    expect(error({ ...good, PLUGIN_PROTOCOL_VERSIONS: 'abc' }).kind).toBe('unsupported-protocol');
  });

  it('uses PLUGIN_UNIX_SOCKET_DIR, else the temp dir given', () => {
    expect(config(good).socketParentDir).toBe('/tmp');
    expect(config({ ...good, PLUGIN_UNIX_SOCKET_DIR: '' }).socketParentDir).toBe('/tmp');
    expect(config({ ...good, PLUGIN_UNIX_SOCKET_DIR: '/run/x' }).socketParentDir).toBe('/run/x');
  });

  it('turns AutoMTLS on only with a PEM client certificate', () => {
    expect(config(good).clientCertPem).toBeUndefined();
    expect(config({ ...good, PLUGIN_CLIENT_CERT: '' }).clientCertPem).toBeUndefined();
    expect(config({ ...good, PLUGIN_CLIENT_CERT: CERT }).clientCertPem).toBe(CERT);
    expect(error({ ...good, PLUGIN_CLIENT_CERT: 'garbage' }).kind).toBe('invalid-client-cert');
  });

  it('notices PLUGIN_MULTIPLEX_GRPC', () => {
    expect(config(good).multiplexAsked).toBe(false);
    expect(config({ ...good, PLUGIN_MULTIPLEX_GRPC: 'true' }).multiplexAsked).toBe(true);
  });
});

describe('readLogLevel', () => {
  it('defaults to info and accepts every level, case-insensitively', () => {
    expect(readLogLevel({})).toEqual({ level: 'info', invalid: undefined });
    for (const level of ['trace', 'debug', 'info', 'warn', 'error'] as const) {
      expect(readLogLevel({ CHAINLOOP_PLUGIN_LOG_LEVEL: level.toUpperCase() }).level).toBe(level);
    }
  });

  it('falls back to info on an invalid value and reports it', () => {
    expect(readLogLevel({ CHAINLOOP_PLUGIN_LOG_LEVEL: 'loud' })).toEqual({ level: 'info', invalid: 'loud' });
    const c = config({ ...good, CHAINLOOP_PLUGIN_LOG_LEVEL: 'loud' });
    expect(c.logLevel).toBe('info');
    expect(c.invalidLogLevel).toBe('loud');
  });
});

describe('parseProtocolVersions', () => {
  it('parses lists', () => {
    expect(parseProtocolVersions(undefined)).toBeUndefined();
    expect(parseProtocolVersions(' 0 ,1')).toEqual({ versions: [0, 1], invalid: [] });
  });
});

describe('parseDebugListen', () => {
  it('accepts loopback addresses', () => {
    expect(parseDebugListen('127.0.0.1:50051')).toEqual({ ok: true, address: { host: '127.0.0.1', port: 50051 } });
    expect(parseDebugListen('localhost:0')).toEqual({ ok: true, address: { host: 'localhost', port: 0 } });
    expect(parseDebugListen('[::1]:7000')).toEqual({ ok: true, address: { host: '::1', port: 7000 } });
    expect(parseDebugListen('50051')).toEqual({ ok: true, address: { host: '127.0.0.1', port: 50051 } });
  });

  it('refuses other addresses with a clear message', () => {
    for (const address of ['0.0.0.0:50051', '10.0.0.1:1', '[::]:1', 'example.com:1']) {
      const result = parseDebugListen(address);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).toMatch(/loopback/);
    }
    expect(parseDebugListen('127.0.0.1:99999').ok).toBe(false);
    expect(parseDebugListen('127.0.0.1').ok).toBe(false);
  });
});
