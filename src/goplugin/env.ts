/**
 * Reads the go-plugin environment a host sets when it launches the plugin.
 * Pure: main passes an environment object in and gets a typed config or a
 * typed error back; nothing here touches process.env.
 */
import { isIP } from 'node:net';
import { APP_PROTOCOL_VERSION, ENV, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from './constants';
import { LogLevel, parseLogLevel } from './log';

export type EnvLike = Readonly<Record<string, string | undefined>>;

export interface PluginEnvConfig {
  /** Folder in which a fresh private folder for the socket is made. */
  socketParentDir: string;
  /** PEM certificate(s) of the host; set means AutoMTLS. */
  clientCertPem: string | undefined;
  /** Whether the host asked about gRPC broker multiplexing (then a 7th handshake field is written). */
  multiplexAsked: boolean;
  /** Versions the host offered, when it said; always includes APP_PROTOCOL_VERSION. */
  offeredProtocolVersions: number[] | undefined;
  /** Entries of PLUGIN_PROTOCOL_VERSIONS that were not integers (ignored, like go-plugin does). */
  invalidProtocolVersions: string[];
  logLevel: LogLevel;
  /** The CHAINLOOP_PLUGIN_LOG_LEVEL value when it was not a level (info is used). */
  invalidLogLevel: string | undefined;
}

export type EnvErrorKind = 'missing-cookie' | 'wrong-cookie' | 'unsupported-protocol' | 'invalid-client-cert';

export class PluginEnvError extends Error {
  constructor(
    readonly kind: EnvErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'PluginEnvError';
  }
  /** Whether the message is for a person at a terminal rather than for a host. */
  get forHumans(): boolean {
    return this.kind === 'missing-cookie' || this.kind === 'wrong-cookie';
  }
}

export type EnvResult = { ok: true; config: PluginEnvConfig } | { ok: false; error: PluginEnvError };

export const NOT_LAUNCHED_BY_CHAINLOOP =
  'This program is a Chainloop plugin: it is meant to be launched by the Chainloop control plane, ' +
  'not run directly. Run it with --help to learn more.';

/** Log level from CHAINLOOP_PLUGIN_LOG_LEVEL (default info). */
export function readLogLevel(env: EnvLike): { level: LogLevel; invalid: string | undefined } {
  const raw = env[ENV.logLevel];
  if (raw === undefined || raw.trim() === '') return { level: 'info', invalid: undefined };
  const level = parseLogLevel(raw);
  return level ? { level, invalid: undefined } : { level: 'info', invalid: raw };
}

/**
 * Parses PLUGIN_PROTOCOL_VERSIONS ("0" or "0,1,2"); undefined when unset or empty.
 * Non-integer entries are reported separately and otherwise ignored.
 */
export function parseProtocolVersions(raw: string | undefined): { versions: number[]; invalid: string[] } | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const versions: number[] = [];
  const invalid: string[] = [];
  for (const part of raw.split(',')) {
    const text = part.trim();
    if (/^[+-]?\d+$/.test(text)) versions.push(Number.parseInt(text, 10));
    else invalid.push(part);
  }
  return { versions, invalid };
}

export function parsePluginEnv(env: EnvLike, defaultTmpDir: string): EnvResult {
  const cookie = env[MAGIC_COOKIE_KEY];
  if (cookie === undefined || cookie === '') {
    return { ok: false, error: new PluginEnvError('missing-cookie', NOT_LAUNCHED_BY_CHAINLOOP) };
  }
  if (cookie !== MAGIC_COOKIE_VALUE) {
    return {
      ok: false,
      error: new PluginEnvError(
        'wrong-cookie',
        `${NOT_LAUNCHED_BY_CHAINLOOP} (${MAGIC_COOKIE_KEY} is set but does not hold the value Chainloop uses.)`,
      ),
    };
  }

  const offered = parseProtocolVersions(env[ENV.protocolVersions]);
  if (offered && !offered.versions.includes(APP_PROTOCOL_VERSION)) {
    return {
      ok: false,
      error: new PluginEnvError(
        'unsupported-protocol',
        `the host offers plugin protocol version(s) ${JSON.stringify(env[ENV.protocolVersions])} ` +
          `but this plugin only speaks version ${APP_PROTOCOL_VERSION}`,
      ),
    };
  }

  const clientCert = env[ENV.clientCert];
  let clientCertPem: string | undefined;
  if (clientCert !== undefined && clientCert !== '') {
    if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(clientCert)) {
      return {
        ok: false,
        error: new PluginEnvError(
          'invalid-client-cert',
          `${ENV.clientCert} is set but holds no PEM certificate, so the host's connection could not be verified`,
        ),
      };
    }
    clientCertPem = clientCert;
  }

  const socketDir = env[ENV.unixSocketDir];
  const { level, invalid } = readLogLevel(env);
  return {
    ok: true,
    config: {
      socketParentDir: socketDir !== undefined && socketDir !== '' ? socketDir : defaultTmpDir,
      clientCertPem,
      multiplexAsked: (env[ENV.multiplexGrpc] ?? '') !== '',
      offeredProtocolVersions: offered?.versions,
      invalidProtocolVersions: offered?.invalid ?? [],
      logLevel: level,
      invalidLogLevel: invalid,
    },
  };
}

export type ListenAddress = { host: string; port: number };
export type ListenResult = { ok: true; address: ListenAddress } | { ok: false; message: string };

function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return host.split('.')[0] === '127';
  if (family === 6) return host === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(host) || /^::ffff:127\./i.test(host);
  return false;
}

/**
 * Parses a --debug-listen address: `HOST:PORT`, `[IPv6]:PORT` or a bare port
 * (127.0.0.1). Only loopback hosts are accepted: the debug server has no TLS
 * and no authentication.
 */
export function parseDebugListen(value: string): ListenResult {
  const text = value.trim();
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracketed) {
    host = bracketed[1];
    portText = bracketed[2];
  } else if (/^\d+$/.test(text)) {
    host = '127.0.0.1';
    portText = text;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0 || text.indexOf(':') !== colon) {
      return { ok: false, message: `--debug-listen wants HOST:PORT (for example 127.0.0.1:50051), got ${JSON.stringify(value)}` };
    }
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
    return { ok: false, message: `--debug-listen port must be a number from 0 to 65535, got ${JSON.stringify(portText)}` };
  }
  if (!isLoopbackHost(host)) {
    return {
      ok: false,
      message:
        `--debug-listen refuses ${JSON.stringify(host)}: the debug server has no TLS and no authentication, ` +
        'so it only listens on a loopback address (127.0.0.1, ::1 or localhost)',
    };
  }
  return { ok: true, address: { host, port: Number(portText) } };
}
