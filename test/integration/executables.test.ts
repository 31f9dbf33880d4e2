/**
 * The deliverables in dist/: the single executable (SEA) answers exactly as
 * the JS bundle run by `node`, and the arm64 executable runs (under qemu user
 * emulation) as far as a well-formed AutoMTLS handshake.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { parseHandshake } from '../../src/goplugin/handshake';
import { generateCertificate } from '../../src/goplugin/tls';
import { COOKIE_ENV, ensurePluginBuilt, PLUGIN_BUNDLE, REPO_ROOT } from '../helpers/plugin-process';

jest.setTimeout(60_000);

const ARM64 = path.join(REPO_ROOT, 'dist/linux-arm64/chainloop-plugin-oci-registry');
const QEMU = '/usr/bin/qemu-aarch64-static';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with exactly `env`; resolves at exit, or at the first stdout line when `firstLine`. */
function run(command: string[], env: NodeJS.ProcessEnv, firstLine = false): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = command;
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      if (firstLine && stdout.includes('\n')) child.kill('SIGTERM');
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the single executable and the JS bundle', () => {
  const sea = ensurePluginBuilt();
  const cases: Array<[string, string[], NodeJS.ProcessEnv]> = [
    ['--help', ['--help'], {}],
    ['--version', ['--version'], {}],
    ['a start without the cookie', [], {}],
    ['a start with the cookie but a bad client certificate', [], { ...COOKIE_ENV, PLUGIN_CLIENT_CERT: 'junk' }],
  ];
  it.each(cases)('answer %s alike', async (_name, args, env) => {
    const fromSea = await run([sea, ...args], env);
    const fromBundle = await run([process.execPath, PLUGIN_BUNDLE, ...args], env);
    const untimed = (r: Run): Run => ({ ...r, stderr: r.stderr.replace(/"@timestamp":"[^"]+"/g, '"@timestamp":"T"') });
    expect(untimed(fromSea)).toEqual(untimed(fromBundle));
    expect(fromSea.stdout + fromSea.stderr).not.toBe('');
  });

  it('the executable is a native program, not a script that needs node on PATH', async () => {
    const { stdout } = await run([sea, '--version'], { PATH: '/nonexistent' });
    expect(stdout).toMatch(/^chainloop-plugin-oci-registry \d+\.\d+\.\d+\n$/);
  });
});

const arm64Ready = existsSync(ARM64) && existsSync(QEMU);
describe('the arm64 executable under qemu-aarch64-static', () => {
  beforeAll(() => {
    if (!arm64Ready) throw new Error(`${ARM64} or ${QEMU} is missing: run make system-deps dist`);
  });

  it('prints its version and refuses a start without the cookie', async () => {
    const version = await run([QEMU, ARM64, '--version'], {});
    expect(version).toEqual(await run([process.execPath, PLUGIN_BUNDLE, '--version'], {}));
    const noCookie = await run([QEMU, ARM64], {});
    expect(noCookie.code).toBe(1);
    expect(noCookie.stderr).toMatch(/This program is a Chainloop plugin/);
  });

  it('prints a well-formed AutoMTLS handshake line when started with the cookie', async () => {
    const client = await generateCertificate();
    const socketDir = path.join(REPO_ROOT, '.tmp/arm64-sockets');
    rmSync(socketDir, { recursive: true, force: true });
    mkdirSync(socketDir, { recursive: true });
    const { stdout } = await run(
      [QEMU, ARM64],
      { ...COOKIE_ENV, PLUGIN_CLIENT_CERT: client.certPem, PLUGIN_UNIX_SOCKET_DIR: socketDir, PLUGIN_PROTOCOL_VERSIONS: '0' },
      true,
    );
    const handshake = parseHandshake(stdout.split('\n')[0]);
    expect(handshake.fieldCount).toBe(6);
    expect(handshake.line).toMatch(/^1\|0\|unix\|\/[^|]+\.sock\|grpc\|[A-Za-z0-9+/]+$/);
    expect(handshake.address.startsWith(socketDir)).toBe(true);
    const cert = new X509Certificate(Buffer.from(handshake.serverCertDer ?? new Uint8Array()));
    expect(cert.checkHost('localhost')).toBe('localhost');
    // SIGTERM after the handshake: a graceful stop removes the socket directory.
    expect(readdirSync(socketDir)).toEqual([]);
  }, 120_000);
});
