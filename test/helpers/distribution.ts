/**
 * Real CNCF distribution (Debian `docker-registry`, 2.8.x) on 127.0.0.1 for
 * integration tests.
 *
 *   const reg = await startDistribution({ mode: 'token' });
 *   afterAll(() => reg.stop());          // always: stop() is idempotent
 *
 * Modes:
 *   anonymous  plain HTTP, no auth
 *   basic      plain HTTP, htpasswd (distribution has no read-only notion
 *              here: every valid user may push)
 *   token      plain HTTP, Bearer tokens from test/helpers/token-server.ts;
 *              `pusher` gets pull+push, `reader` pull only
 *   tls        HTTPS (HTTP/2 via ALPN) with a throw-away CA; anonymous unless
 *              `tlsAuth: 'basic'`
 *
 * The config is written as JSON, which YAML parsers accept, so overrides are
 * plain objects deep-merged into it (`config` option).
 *
 * Children are also SIGKILLed from a process 'exit' hook (and on SIGINT,
 * SIGTERM, SIGHUP), and they do not keep the event loop alive, so a test
 * file that throws before afterAll neither hangs jest nor leaves a registry
 * running. Still call stop() in afterAll: it is what removes the storage
 * directory promptly and lets the next suite start clean.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, LOOPBACK } from './ports';
import { createTestCa, type TestCa } from './tls-ca';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server';
import { startTokenServerProcess } from './token-server-process';

export type DistributionMode = 'anonymous' | 'basic' | 'token' | 'tls';

export interface RegistryUser {
  password: string;
  /** Honoured in token mode only; htpasswd cannot restrict actions. */
  actions: string[];
}

export interface StartDistributionOptions {
  mode: DistributionMode;
  /** Default: `pusher` (pull,push) and `reader` (pull) with random, distinctive passwords. */
  users?: Record<string, RegistryUser>;
  /** Auth for `tls` mode. Default 'anonymous'. */
  tlsAuth?: 'anonymous' | 'basic';
  /** Reuse a CA (tls mode); the caller then owns its cleanup. */
  ca?: TestCa;
  /** 'tmpfs' (default when /dev/shm is writable) avoids distribution's fsync cost. */
  storage?: 'tmpfs' | 'disk';
  /**
   * Token mode: passed to startTokenServer (users come from `users`). With
   * `ownProcess`, the token server runs in a child process (token-server-process.ts).
   */
  tokenServer?: Omit<TokenServerOptions, 'users'> & { ownProcess?: boolean };
  /** Deep-merged into the generated distribution config. */
  config?: Record<string, unknown>;
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  startupTimeoutMs?: number;
  /** Default $DISTRIBUTION_BIN or `docker-registry`. */
  binary?: string;
}

export interface AccessLogEntry {
  method: string;
  /** Request target as logged (path + query). */
  target: string;
  path: string;
  protocol: string;
  status: number;
  bytes: number;
  userAgent: string;
}

export interface Distribution {
  /** `127.0.0.1:PORT`, for image references. */
  host: string;
  /** `http://127.0.0.1:PORT` or `https://…` */
  url: string;
  mode: DistributionMode;
  auth: 'none' | 'basic' | 'token';
  users: Record<string, RegistryUser>;
  /** tls mode: CA PEM path (NODE_EXTRA_CA_CERTS, undici `connect.ca`). */
  caPath?: string;
  caPem?: string;
  /** tls mode: directory with only ca.crt, for skopeo --cert-dir. */
  certDir?: string;
  tokenServer?: TokenServer;
  storageDir: string;
  configPath: string;
  pid: number;
  /** Spawn to first /v2/ answer, in ms (includes port retries only of this attempt). */
  startupMs: number;
  /** Registry output lines that are not access-log lines. */
  log: string[];
  /** Every parsed access-log line, including the startup probes. */
  accessLog: AccessLogEntry[];
  /** Index into accessLog; accessLogCount(mark) counts entries after it. */
  accessLogMark(): number;
  /** Requests logged since `mark` (default: since the registry became ready). */
  accessLogCount(mark?: number): number;
  /**
   * distribution writes the access-log line after the response, so a client
   * can be ahead of the log. Waits until `count` entries exist after `mark`.
   */
  waitForAccessLog(count: number, opts?: { mark?: number; timeoutMs?: number }): Promise<AccessLogEntry[]>;
  stop(): Promise<void>;
}

// distribution logs access lines in Apache combined format (to stdout in 2.8).
const ACCESS_RE = /^\S+ \S+ \S+ \[[^\]]+\] "(\S+) (\S+) ([^"]+)" (\d{3}) (\d+|-) "[^"]*" "([^"]*)"/;

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function killAllSync(): void {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous by necessity: 'exit' handlers cannot await.
  process.on('exit', killAllSync);
  // A signal (jest killing a worker, Ctrl-C) skips 'exit'. When nobody else
  // handles it, exit with the conventional 128+N status instead, which runs
  // every 'exit' hook (token-server and CA directories included).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllSync();
      if (process.listenerCount(sig) === 0) process.exit(128 + (osConstants.signals[sig] ?? 15));
    });
  }
}

export function defaultUsers(): Record<string, RegistryUser> {
  // Distinctive and random: redaction tests can grep output for them, and no
  // test can depend on a hard-coded value.
  const tag = randomBytes(6).toString('hex');
  return {
    pusher: { password: `pusher-Secr3t-${tag}`, actions: ['pull', 'push'] },
    reader: { password: `reader-Secr3t-${tag}`, actions: ['pull'] },
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

/** bcrypt entry via htpasswd, password on stdin so it never shows in argv. */
function htpasswdLine(username: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Cost 5: distribution re-hashes on every request; the default cost would dominate test time.
    const child = spawn('htpasswd', ['-niB', '-C', '5', username], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim();
      if (code === 0 && line.startsWith(`${username}:$2`)) resolve(line);
      else reject(new Error(`htpasswd failed for ${username} (exit ${code}): ${err.trim()}`));
    });
    child.stdin.end(`${password}\n`);
  });
}

async function storageParent(kind: 'tmpfs' | 'disk' | undefined): Promise<string> {
  if (kind !== 'disk') {
    try {
      await access('/dev/shm', constants.W_OK);
      return '/dev/shm';
    } catch {
      if (kind === 'tmpfs') throw new Error('storage: tmpfs requested but /dev/shm is not writable');
    }
  }
  return tmpdir();
}

/** GET /v2/ once; resolves with the status or undefined if nothing answered. */
function probe(url: string, caPem: string | undefined): Promise<number | undefined> {
  return new Promise((resolve) => {
    const target = new URL('/v2/', url);
    const opts = { method: 'GET', agent: false as const, timeout: 1000, ...(caPem ? { ca: caPem } : {}) };
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, opts, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startDistribution(options: StartDistributionOptions): Promise<Distribution> {
  installExitHook();
  const { mode } = options;
  const users = options.users ?? defaultUsers();
  const auth: Distribution['auth'] =
    mode === 'basic' || (mode === 'tls' && options.tlsAuth === 'basic') ? 'basic' : mode === 'token' ? 'token' : 'none';
  const startupTimeoutMs = options.startupTimeoutMs ?? 15_000;

  const configDir = await mkdtemp(join(tmpdir(), 'distribution-cfg-'));
  liveDirs.add(configDir);
  const storageDir = await mkdtemp(join(await storageParent(options.storage), 'distribution-data-'));
  liveDirs.add(storageDir);

  let tokenServer: TokenServer | undefined;
  let ca: TestCa | undefined;
  const ownsCa = options.ca === undefined;
  const cleanupSide = async (): Promise<void> => {
    await tokenServer?.close();
    if (ca && ownsCa) await ca.cleanup();
    for (const d of [configDir, storageDir]) {
      await rm(d, { recursive: true, force: true });
      liveDirs.delete(d);
    }
  };

  try {
    const base: Record<string, unknown> = {
      version: '0.1',
      log: { level: options.logLevel ?? 'warn', formatter: 'text', accesslog: { disabled: false } },
      storage: {
        filesystem: { rootdirectory: storageDir },
        delete: { enabled: true },
        // No background purge goroutine touching storage mid-test.
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { secret: randomBytes(16).toString('hex') },
      health: { storagedriver: { enabled: false } },
    };

    if (auth === 'basic') {
      const lines = await Promise.all(Object.entries(users).map(([u, { password }]) => htpasswdLine(u, password)));
      const path = join(configDir, 'htpasswd');
      await writeFile(path, lines.join('\n') + '\n', { mode: 0o600 });
      base.auth = { htpasswd: { realm: 'test-registry', path } };
    } else if (auth === 'token') {
      const { ownProcess, ...tokenOptions } = options.tokenServer ?? {};
      tokenServer = await (ownProcess ? startTokenServerProcess : startTokenServer)({ ...tokenOptions, users });
      base.auth = {
        token: {
          realm: tokenServer.realm,
          service: tokenServer.service,
          issuer: tokenServer.issuer,
          rootcertbundle: tokenServer.certPath,
        },
      };
    }
    if (mode === 'tls') ca = options.ca ?? (await createTestCa());

    const binary = options.binary ?? process.env.DISTRIBUTION_BIN ?? 'docker-registry';
    const configPath = join(configDir, 'config.yml');
    // The port can be taken between freePort() and the child's bind; retry a few times.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const host = `${LOOPBACK}:${port}`;
      const http: Record<string, unknown> = { addr: host };
      if (ca) http.tls = { certificate: ca.certPath, key: ca.keyPath };
      const config = deepMerge(base, deepMerge({ http }, options.config ?? {}));
      await writeFile(configPath, JSON.stringify(config, null, 2));
      const logCfg = config.log as { accesslog?: { disabled?: boolean } } | undefined;
      const accessLogEnabled = logCfg?.accesslog?.disabled !== true;
      try {
        return await launch({
          binary, configPath, host, mode, auth, users, ca, tokenServer, storageDir, startupTimeoutMs,
          accessLogEnabled, cleanupSide,
        });
      } catch (e) {
        if (attempt < 3 && e instanceof PortInUseError) continue;
        throw e;
      }
    }
  } catch (e) {
    await cleanupSide();
    throw e;
  }
}

class PortInUseError extends Error {}

interface LaunchArgs {
  binary: string;
  configPath: string;
  host: string;
  mode: DistributionMode;
  auth: Distribution['auth'];
  users: Record<string, RegistryUser>;
  ca: TestCa | undefined;
  tokenServer: TokenServer | undefined;
  storageDir: string;
  startupTimeoutMs: number;
  accessLogEnabled: boolean;
  cleanupSide: () => Promise<void>;
}

async function launch(a: LaunchArgs): Promise<Distribution> {
  const started = Date.now();
  const url = `${a.ca ? 'https' : 'http'}://${a.host}`;
  // Minimal env: distribution maps REGISTRY_* variables onto its config, so
  // anything inherited from the developer's shell could change behaviour.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir(), TMPDIR: tmpdir() };
  const child = spawn(a.binary, ['serve', a.configPath], { stdio: ['ignore', 'pipe', 'pipe'], env });
  live.add(child);
  // A test that forgets stop() must not keep jest alive forever; the 'exit'
  // hook above still kills the child when the test process ends.
  child.unref();
  for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();

  const log: string[] = [];
  const accessLog: AccessLogEntry[] = [];
  const onLine = (line: string): void => {
    const m = ACCESS_RE.exec(line);
    if (!m) {
      log.push(line);
      return;
    }
    const target = m[2];
    accessLog.push({
      method: m[1],
      target,
      path: target.split('?')[0],
      protocol: m[3],
      status: Number(m[4]),
      bytes: m[5] === '-' ? 0 : Number(m[5]),
      userAgent: m[6],
    });
  };
  if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
  if (child.stderr) createInterface({ input: child.stderr }).on('line', onLine);

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      resolve();
    });
    child.on('error', (err) => {
      spawnError = err;
      live.delete(child);
      resolve();
    });
  });

  const killAndWait = async (): Promise<void> => {
    if (exited || spawnError) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exitPromise;
    clearTimeout(timer);
  };

  // Ready once /v2/ answers at all (200 or 401). Count answered probes: each
  // one produces an access-log line that must not count against the test.
  let answered = 0;
  for (;;) {
    if (spawnError) throw new Error(`cannot start ${a.binary}: ${spawnError.message}`);
    if (exited) {
      const text = log.join('\n');
      if (/address already in use/i.test(text)) throw new PortInUseError(text);
      throw new Error(`distribution exited during startup (${JSON.stringify(exited)}):\n${text}`);
    }
    const status = await probe(url, a.ca?.caPem);
    if (status !== undefined) answered += 1;
    if (status === 200 || status === 401) break;
    if (Date.now() - started > a.startupTimeoutMs) {
      await killAndWait();
      throw new Error(
        `distribution not ready after ${a.startupTimeoutMs} ms (last /v2/ status ${status ?? 'none'}):\n${log.join('\n')}`,
      );
    }
    await sleep(status === undefined ? 25 : 100);
  }

  const waitForAccessLog = async (
    count: number,
    opts: { mark?: number; timeoutMs?: number } = {},
  ): Promise<AccessLogEntry[]> => {
    const from = opts.mark ?? readyMark;
    const deadline = Date.now() + (opts.timeoutMs ?? 2000);
    while (accessLog.length - from < count) {
      if (Date.now() > deadline) {
        throw new Error(`access log has ${accessLog.length - from} entries after mark ${from}, expected ${count}`);
      }
      await sleep(10);
    }
    return accessLog.slice(from);
  };

  let readyMark = 0;
  if (a.accessLogEnabled) await waitForAccessLog(answered, { mark: 0, timeoutMs: 1000 }).catch(() => undefined);
  readyMark = accessLog.length;
  const readyMs = Date.now() - started;

  let stopped: Promise<void> | undefined;
  return {
    host: a.host,
    url,
    mode: a.mode,
    auth: a.auth,
    users: a.users,
    caPath: a.ca?.caPath,
    caPem: a.ca?.caPem,
    certDir: a.ca?.certDir,
    tokenServer: a.tokenServer,
    storageDir: a.storageDir,
    configPath: a.configPath,
    pid: child.pid ?? -1,
    startupMs: readyMs,
    log,
    accessLog,
    accessLogMark: () => accessLog.length,
    accessLogCount: (mark = readyMark) => accessLog.length - mark,
    waitForAccessLog,
    stop() {
      stopped ??= (async () => {
        await killAndWait();
        await a.cleanupSide();
      })();
      return stopped;
    },
  };
}

/** True when a distribution binary is on PATH (lets suites skip cleanly elsewhere). */
export function distributionAvailable(binary = process.env.DISTRIBUTION_BIN ?? 'docker-registry'): boolean {
  if (binary.includes('/')) return existsSync(binary);
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, binary)));
}
