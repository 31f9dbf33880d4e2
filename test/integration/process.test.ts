/**
 * The built executable as a go-plugin host sees it: refusal without the
 * cookie, the handshake line, AutoMTLS, health, side services, reflection,
 * signals, Shutdown and host death.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus as ServingStatus } from '../../src/gen/grpc/health/v1/health';
import {
  ServerReflectionService as ReflectionV1,
  type ServerReflectionResponse,
} from '../../src/gen/grpc/reflection/v1/reflection';
import { ServerReflectionService as ReflectionV1Alpha } from '../../src/gen/grpc/reflection/v1alpha/reflection';
import { parseHandshake } from '../../src/goplugin/handshake';
import { generateCertificate } from '../../src/goplugin/tls';
import { connectPlugin, hostChannelOptions, type LaunchedPlugin } from '../../src/host/client';
import { COOKIE_ENV, ensurePluginBuilt, launchBuiltPlugin, REPO_ROOT, runBuiltPlugin } from '../helpers/plugin-process';

jest.setTimeout(60_000);

const HCLOG_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const PACKAGE_VERSION = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version as string;

function expectHclogLines(lines: string[]): void {
  for (const line of lines.filter((l) => l !== '')) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`stderr line is not JSON: ${line}`);
    }
    expect(typeof parsed['@message']).toBe('string');
    expect(['trace', 'debug', 'info', 'warn', 'error']).toContain(parsed['@level']);
    expect(parsed['@timestamp']).toMatch(HCLOG_TIMESTAMP);
  }
}

function reflectionList(client: grpc.Client): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const stream = (
      client as unknown as { serverReflectionInfo(): grpc.ClientDuplexStream<unknown, ServerReflectionResponse> }
    ).serverReflectionInfo();
    stream.on('data', (response: ServerReflectionResponse) => {
      if (response.messageResponse?.$case === 'listServicesResponse') {
        resolve(response.messageResponse.listServicesResponse.service.map((s) => s.name));
      } else reject(new Error(`unexpected answer ${JSON.stringify(response.messageResponse)}`));
      stream.end();
    });
    stream.on('error', reject);
    stream.write({ host: '', messageRequest: { $case: 'listServices', listServices: '*' } });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Settles with 'timeout' after ms without keeping jest alive. */
function timeoutAfter(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
}

/** Rejects after ms without keeping jest alive. */
function failAfter(ms: number, message: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());
}

function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z'); // a zombie has exited
  } catch {
    return true;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (condition()) return true;
    await sleep(50);
  }
  return condition();
}

let socketParent: string;
beforeAll(() => {
  ensurePluginBuilt();
  socketParent = mkdtempSync(path.join(os.tmpdir(), 'pp-'));
});
afterAll(() => rmSync(socketParent, { recursive: true, force: true }));

describe('without a host', () => {
  it('--version and --help work without the cookie', async () => {
    const version = await runBuiltPlugin(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toBe(`chainloop-plugin-oci-registry ${PACKAGE_VERSION}\n`);
    expect(version.stderr).toBe('');
    const help = await runBuiltPlugin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/launches it as a HashiCorp go-plugin/);
    expect(help.stdout).toMatch(/--debug-listen/);
  });

  it('refuses to run without the cookie: a sentence on stderr, nothing on stdout, exit 1', async () => {
    const run = await runBuiltPlugin([]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/meant to be launched by the Chainloop control plane/);
    expect(run.stderr).toMatch(/--help/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses a wrong cookie', async () => {
    const run = await runBuiltPlugin([], { CHAINLOOP_PLUGIN: 'not-the-cookie' });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/launched by the Chainloop/);
  });

  it('refuses protocol versions without 0', async () => {
    const run = await runBuiltPlugin([], { ...COOKIE_ENV, PLUGIN_PROTOCOL_VERSIONS: '1,2' });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/only speaks version 0/);
    expectHclogLines(run.stderr.split('\n'));
  });

  it('explains a socket folder whose path is too long, and leaves nothing behind', async () => {
    const deep = path.join(socketParent, 'd'.repeat(100));
    require('node:fs').mkdirSync(deep);
    const cert = await generateCertificate();
    const run = await runBuiltPlugin([], { ...COOKIE_ENV, PLUGIN_CLIENT_CERT: cert.certPem, PLUGIN_UNIX_SOCKET_DIR: deep });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/longer than the 103 bytes a socket path may have/);
    expectHclogLines(run.stderr.split('\n'));
    expect(require('node:fs').readdirSync(deep)).toEqual([]);
  });

  it('refuses an unknown argument', async () => {
    const run = await runBuiltPlugin(['--bogus']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/unknown argument/);
  });
});

describe('launched with AutoMTLS', () => {
  let plugin: LaunchedPlugin;
  let exitMs: number | undefined;

  beforeAll(async () => {
    plugin = await launchBuiltPlugin({
      env: { PLUGIN_UNIX_SOCKET_DIR: socketParent, CHAINLOOP_PLUGIN_LOG_LEVEL: 'trace' },
    });
  });

  afterAll(() => {
    if (!plugin.hasExited) plugin.kill();
  });

  it('prints a six-field handshake with an unpadded base64 certificate', () => {
    const h = plugin.handshake;
    expect(h.fieldCount).toBe(6);
    expect(h.line).toMatch(/^1\|0\|unix\|[^|]+\|grpc\|[A-Za-z0-9+/]+$/);
    expect(h.serverCertBase64).not.toContain('=');
    const cert = new X509Certificate(Buffer.from(h.serverCertDer!));
    expect(cert.subject).toBe('CN=localhost');
    expect(cert.subjectAltName).toBe('DNS:localhost');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
    expect(cert.ca).toBe(true);
  });

  it('listens in a fresh 0700 folder under PLUGIN_UNIX_SOCKET_DIR', () => {
    const dir = path.dirname(plugin.handshake.address);
    expect(path.dirname(dir)).toBe(socketParent);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(plugin.handshake.address).isSocket()).toBe(true);
  });

  it('reports the plugin SERVING', async () => {
    expect(await plugin.health.check({ service: 'plugin' })).toEqual({ status: ServingStatus.SERVING });
  });

  it('describes itself', async () => {
    const answer = await plugin.fanout.describe({}, { deadlineMs: 10_000 });
    expect(answer.id).toBe('oci-registry');
    expect(answer.description).toBe('Send attestations to a compatible OCI registry');
    expect(answer.version).toBe(PACKAGE_VERSION);
    expect(Buffer.from(answer.registrationJsonSchema).equals(readFileSync(path.join(REPO_ROOT, 'schemas/registration.schema.json')))).toBe(true);
    expect(Buffer.from(answer.attachmentJsonSchema).equals(readFileSync(path.join(REPO_ROOT, 'schemas/attachment.schema.json')))).toBe(true);
  });

  it('accepts a 64 MiB request', async () => {
    const payload = Buffer.from(JSON.stringify({ repository: 'a'.repeat(64 * 1024 * 1024), username: 'u', password: 'p' }));
    expect(payload.length).toBeGreaterThan(64 * 1024 * 1024);
    const outcome = await plugin.fanout.validateRegistration({ jsonPayload: payload }, { deadlineMs: 30_000 }).then(
      () => 'answered',
      (error: grpc.ServiceError) => error.code,
    );
    expect(outcome).not.toBe(grpc.status.RESOURCE_EXHAUSTED);
    if (outcome !== 'answered') expect([grpc.status.INVALID_ARGUMENT, grpc.status.FAILED_PRECONDITION]).toContain(outcome);
  });

  it('refuses a plaintext client and a TLS client without a certificate', async () => {
    const plaintext = connectPlugin({ target: plugin.target });
    await expect(plaintext.health.check({ service: 'plugin' }, { deadlineMs: 3000 })).rejects.toMatchObject({
      code: expect.any(Number),
    });
    plaintext.close();
    const anonymous = connectPlugin({ target: plugin.target, serverCertDer: plugin.handshake.serverCertDer });
    await expect(anonymous.health.check({ service: 'plugin' }, { deadlineMs: 3000 })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    anonymous.close();
  });

  it('refuses a client with another self-signed certificate', async () => {
    const stranger = connectPlugin({
      target: plugin.target,
      serverCertDer: plugin.handshake.serverCertDer,
      clientCertificate: await generateCertificate(),
    });
    await expect(stranger.health.check({ service: 'plugin' }, { deadlineMs: 3000 })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    stranger.close();
  });

  it('answers reflection v1 and v1alpha', async () => {
    for (const service of [ReflectionV1, ReflectionV1Alpha]) {
      const names = await reflectionList(plugin.client(service));
      expect(names).toEqual(
        expect.arrayContaining([
          'api.FanoutService',
          'grpc.health.v1.Health',
          'plugin.GRPCController',
          'plugin.GRPCStdio',
          'plugin.GRPCBroker',
          'grpc.reflection.v1.ServerReflection',
          'grpc.reflection.v1alpha.ServerReflection',
        ]),
      );
    }
  });

  it('ignores SIGINT', async () => {
    process.kill(plugin.pid, 'SIGINT');
    await sleep(300);
    expect(plugin.hasExited).toBe(false);
    expect(await plugin.health.check({ service: 'plugin' })).toEqual({ status: ServingStatus.SERVING });
  });

  it('exits within 2 s of GRPCController/Shutdown and removes its socket folder', async () => {
    const dir = path.dirname(plugin.handshake.address);
    exitMs = await plugin.shutdown();
    expect(exitMs).toBeLessThan(2000);
    expect(await plugin.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(dir)).toBe(false);
  });

  it('wrote exactly one stdout line and only hclog JSON to stderr', () => {
    expect(plugin.extraStdout).toEqual([]);
    expect(plugin.stderrLines.length).toBeGreaterThan(0);
    expectHclogLines(plugin.stderrLines);
  });
});

describe('launched without AutoMTLS', () => {
  it('prints five fields and serves plaintext', async () => {
    const plugin = await launchBuiltPlugin({ autoMTLS: false, env: { PLUGIN_UNIX_SOCKET_DIR: socketParent } });
    try {
      expect(plugin.handshake.fieldCount).toBe(5);
      expect(plugin.handshake.line).toMatch(/^1\|0\|unix\|[^|]+\|grpc$/);
      expect((await plugin.fanout.describe({})).id).toBe('oci-registry');
      expect(await plugin.shutdown()).toBeLessThan(2000);
    } finally {
      plugin.kill();
    }
  });

  it('adds a 7th field "false" only when PLUGIN_MULTIPLEX_GRPC is set', async () => {
    const plugin = await launchBuiltPlugin({ env: { PLUGIN_MULTIPLEX_GRPC: 'true', PLUGIN_UNIX_SOCKET_DIR: socketParent } });
    try {
      expect(plugin.handshake.fieldCount).toBe(7);
      expect(plugin.handshake.multiplex).toBe(false);
      expect(plugin.handshake.serverCertDer).toBeDefined();
      await plugin.shutdown();
    } finally {
      plugin.kill();
    }
  });
});

describe('process lifetime', () => {
  it('exits 0 on SIGTERM and removes the socket folder', async () => {
    const plugin = await launchBuiltPlugin({ env: { PLUGIN_UNIX_SOCKET_DIR: socketParent } });
    const dir = path.dirname(plugin.handshake.address);
    process.kill(plugin.pid, 'SIGTERM');
    const exit = await Promise.race([plugin.exited, timeoutAfter(5000)]);
    plugin.kill();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(existsSync(dir)).toBe(false);
    expectHclogLines(plugin.stderrLines);
  });

  it('exits when the host process dies', async () => {
    const binary = ensurePluginBuilt();
    const cert = await generateCertificate();
    const pidFile = path.join(socketParent, `pid-${Date.now()}`);
    // sh stands in for the host: it starts the plugin as its child and is then killed with SIGKILL.
    const host: ChildProcess = spawn('sh', ['-c', '"$0" & echo $! > "$1"; wait', binary, pidFile], {
      env: { PATH: process.env.PATH, ...COOKIE_ENV, PLUGIN_CLIENT_CERT: cert.certPem, PLUGIN_UNIX_SOCKET_DIR: socketParent },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let buffer = '';
      host.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        if (buffer.includes('\n')) resolve(buffer.split('\n')[0]);
      });
      host.once('exit', () => reject(new Error('host exited early')));
      failAfter(15_000, 'no handshake').catch(reject);
    });
    host.stderr!.resume();
    const handshake = parseHandshake(line);
    const dir = path.dirname(handshake.address);
    expect(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 5000)).toBe(true);
    const pluginPid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(processGone(pluginPid)).toBe(false);

    host.kill('SIGKILL');
    const gone = await waitFor(() => processGone(pluginPid), 6000);
    if (!gone) process.kill(pluginPid, 'SIGKILL');
    expect(gone).toBe(true);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('--debug-listen', () => {
  it('refuses a non-loopback address', async () => {
    const run = await runBuiltPlugin(['--debug-listen', '0.0.0.0:50051']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/loopback/);
  });

  it('serves plaintext TCP with reflection, no cookie, no handshake; SIGINT exits', async () => {
    const child = spawn(ensurePluginBuilt(), ['--debug-listen', '127.0.0.1:0'], {
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const stderrLines: string[] = [];
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      const address = await new Promise<string>((resolve, reject) => {
        let buffer = '';
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
          buffer += chunk;
          let newline = buffer.indexOf('\n');
          while (newline >= 0) {
            const line = buffer.slice(0, newline);
            buffer = buffer.slice(newline + 1);
            stderrLines.push(line);
            const parsed = JSON.parse(line);
            if (typeof parsed.address === 'string') resolve(parsed.address);
            newline = buffer.indexOf('\n');
          }
        });
        void exited.then(() => reject(new Error(`exited early: ${stderrLines.join('\n')}`)));
        failAfter(15_000, 'no listening line').catch(reject);
      });
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
      const clients = connectPlugin({ target: address });
      expect(clients.channelOptions).toEqual(hostChannelOptions(false));
      const names = await reflectionList(clients.client(ReflectionV1));
      expect(names).toContain('api.FanoutService');
      expect(await reflectionList(clients.client(ReflectionV1Alpha))).toEqual(names);
      expect((await clients.fanout.describe({})).id).toBe('oci-registry');
      clients.close();
      child.kill('SIGINT');
      const exit = await Promise.race([exited, timeoutAfter(5000)]);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(stdout).toBe('');
      expectHclogLines(stderrLines);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
