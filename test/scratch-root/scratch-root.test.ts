/**
 * The amd64 image overlay inside a root like Chainloop's control-plane image:
 * FROM scratch plus the overlay (as the README's Dockerfile adds it), a CA
 * bundle, /tmp; mounted read-only with a tmpfs at /tmp, and run as uid 1001
 * with no passwd entry, no HOME and an empty environment. The control plane
 * is stood in for by the project's Go go-plugin host, built static.
 *
 * Needs root (mount, chroot): `make test-scratch-root`, part of `make test`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startDistribution, type Distribution } from '../helpers/distribution';
import { REPO_ROOT } from '../helpers/plugin-process';
import { inspectRaw } from '../helpers/skopeo';
import { readmeDockerfile, overlayEntries } from './overlay';

const ENVELOPE = path.join(REPO_ROOT, 'test/fixtures/chainloop-envelope-sbom.json');
const CUSTOM_CA = 'etc/pki/tls/certs/registry-ca.pem';
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

let work: string;
let rootDir: string; // what the image holds, writable from here
let mounted: string; // the same, mounted read-only with a tmpfs /tmp: the container's view
let registry: Distribution;
let tarball: string;

function sh(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs the static Go host inside the root as uid 1001, as the control plane would run. */
function runHostInRoot(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/sbin/chroot', ['--userspec=1001:1001', mounted, '/gohost', '-plugin', '/plugins/chainloop-plugin-oci-registry', ...args], {
      env: {}, // the image sets nothing: no HOME, no PATH, no NODE_* or SSL_* variables
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (process.env.SCRATCH_ROOT_VERBOSE === '1') process.stderr.write(output);
      resolve({ code, output });
    });
  });
}

function hostChecks(output: string): { passed: number; failed: number } {
  const m = /gohost checks: passed=(\d+) failed=(\d+)/.exec(output);
  if (!m) throw new Error(`the Go host printed no summary:\n${output}`);
  return { passed: Number(m[1]), failed: Number(m[2]) };
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the scratch-root suite needs root (mount --bind, chroot): run it as root');
  tarball = path.join(REPO_ROOT, 'dist', readmeDockerfile().tarball);
  if (!existsSync(tarball)) throw new Error(`${tarball} is missing: run make dist`);

  work = mkdtempSync(path.join(tmpdir(), 'scratch-root-'));
  rootDir = path.join(work, 'root');
  mounted = path.join(work, 'mnt');
  mkdirSync(rootDir);
  mkdirSync(mounted);
  // FROM scratch + ADD <tarball> /
  sh('tar', ['-xzf', tarball, '-C', rootDir]);
  // What Chainloop's Dockerfile puts beside the plugins: the CA bundle and a world-writable /tmp.
  mkdirSync(path.join(rootDir, 'etc/ssl/certs'), { recursive: true });
  copyFileSync(SYSTEM_BUNDLE, path.join(rootDir, SYSTEM_BUNDLE));
  mkdirSync(path.join(rootDir, 'tmp'));
  chmodSync(path.join(rootDir, 'tmp'), 0o1777);
  // The stand-in control plane and its input.
  execFileSync('bash', [path.join(REPO_ROOT, 'test/interop/gohost/build.sh')], {
    env: { ...process.env, GOHOST_STATIC_OUT: path.join(rootDir, 'gohost') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  mkdirSync(path.join(rootDir, 'data'));
  copyFileSync(ENVELOPE, path.join(rootDir, 'data/envelope.json'));

  registry = await startDistribution({ mode: 'tls' });
  // Helm's controlplane.customCAs land in /etc/pki/tls/certs; the registry's CA is nowhere else in the root.
  mkdirSync(path.dirname(path.join(rootDir, CUSTOM_CA)), { recursive: true });
  writeFileSync(path.join(rootDir, CUSTOM_CA), registry.caPem ?? '');

  sh('mount', ['--bind', rootDir, mounted]);
  sh('mount', ['-o', 'remount,bind,ro', mounted]);
  sh('mount', ['-t', 'tmpfs', '-o', 'mode=1777,size=64m', 'tmpfs', path.join(mounted, 'tmp')]);
}, 300_000);

afterAll(async () => {
  if (mounted) {
    for (const target of [path.join(mounted, 'tmp'), mounted]) {
      try {
        sh('umount', [target]);
      } catch {
        // not mounted (setup failed early)
      }
    }
  }
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the overlay adds the plugin and its shared libraries at standard paths, and nothing else', () => {
  const entries = overlayEntries(tarball);
  expect(entries).toContain('plugins/chainloop-plugin-oci-registry');
  expect(entries).toContain('lib64/ld-linux-x86-64.so.2');
  const files = entries.filter((e) => !e.endsWith('/'));
  const libs = files.filter((e) => e !== 'plugins/chainloop-plugin-oci-registry');
  expect(libs.every((e) => /^lib(64)?\/([a-z0-9_-]+\/)?[^/]+\.so\.\d+$/.test(e))).toBe(true);
  expect(libs.map((e) => path.basename(e)).sort()).toEqual(
    ['ld-linux-x86-64.so.2', 'libc.so.6', 'libdl.so.2', 'libgcc_s.so.1', 'libm.so.6', 'libpthread.so.0', 'libstdc++.so.6'],
  );
  expect(entries.some((e) => e.startsWith('etc/') || e.startsWith('bin/') || e.startsWith('usr/'))).toBe(false);
  expect(() => sh('test', ['-w', mounted])).toThrow(); // the container's root really is read-only
});

test('Describe, both validations, a push over TLS trusted through /etc/pki/tls/certs, and a graceful Kill', async () => {
  const { code, output } = await runHostInRoot(['-registry', registry.host, '-envelope', '/data/envelope.json']);
  const checks = hostChecks(output);
  if (checks.failed !== 0 || code !== 0) throw new Error(`Go host in the scratch root: exit ${code}\n${output}`);
  expect(checks.passed).toBeGreaterThan(20);
  expect(output).toMatch(/ok +Execute/);
  expect(output).toMatch(/ok +Kill returns within 2 s/);
  expect(readdirSync(path.join(mounted, 'tmp'))).toEqual([]); // the socket directory is gone

  const hex = createHash('sha256').update(readFileSync(ENVELOPE)).digest('hex');
  const { manifest } = await inspectRaw(`${registry.host}/gohost/chainloop-${hex}:latest`, { tls: registry.certDir });
  expect((manifest.layers as Array<{ digest: string }>).map((l) => l.digest)).toEqual([`sha256:${hex}`]);
}, 180_000);

test('without the CA file the same push fails with a certificate error that names the registry', async () => {
  rmSync(path.join(rootDir, CUSTOM_CA));
  try {
    const { code, output } = await runHostInRoot([
      '-registry', registry.host, '-envelope', '/data/envelope.json',
      '-expect-register-error', `cannot reach registry ${registry.host},certificate`,
    ]);
    const checks = hostChecks(output);
    if (checks.failed !== 0 || code !== 0) throw new Error(`Go host in the scratch root: exit ${code}\n${output}`);
    expect(output).toMatch(/ok +Register fails naming/);
    expect(readdirSync(path.join(mounted, 'tmp'))).toEqual([]);
  } finally {
    writeFileSync(path.join(rootDir, CUSTOM_CA), registry.caPem ?? '');
  }
}, 180_000);
