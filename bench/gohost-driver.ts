/**
 * The plugin driven by the Go go-plugin host (test/interop/gohost in its
 * `-drive` mode): the same client stack as Chainloop's control plane
 * (go-plugin, grpc-go, AutoMTLS), so its figures are what the control plane
 * would see; the TypeScript client (bench/plugin.ts) costs more CPU per call
 * than grpc-go. The host answers `execute <count> <concurrency> <bytes>` on
 * stdin with one `drive: {json}` line.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { DriveResult } from './drive';
import { pluginExecutable } from './plugin';
import type { BenchRegistry } from './registry';

/**
 * Who pushed: the plugin through the TypeScript client, the floor, the plugin
 * through the Go host, or the Go reference plugin (bench/goref) through the Go host.
 */
export type Side = 'plugin' | 'floor' | 'gohost' | 'goref';

/** Row-name suffix telling which client drove which plugin. */
export const DRIVER_LABEL: Record<Side, string> = {
  plugin: ' (TS client)',
  floor: '',
  gohost: ' (Go host)',
  goref: ', Go reference plugin (Go host)',
};

/** A folder of this repository, found from make's working directory or from run-ts's bundle in .tmp/run-ts/ (as in plugin.ts). */
function repoDir(relative: string): string {
  const candidates = [resolve(process.cwd(), relative), resolve(__dirname, '../..', relative)];
  return candidates.find((d) => existsSync(resolve(d, 'build.sh'))) ?? candidates[0]!;
}

/** Runs `<dir>/build.sh` (Go caches the build) and returns `<dir>/<output>`, or why it could not be built. */
function buildWithScript(relative: string, output: string): { path: string } | { missing: string } {
  const dir = repoDir(relative);
  const build = resolve(dir, 'build.sh');
  if (!existsSync(build)) return { missing: `${build} not found` };
  const r = spawnSync('bash', [build], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  if (r.status !== 0) return { missing: (r.stderr || r.stdout || `build.sh exited ${r.status}`).trim().split('\n').pop()! };
  return { path: resolve(dir, output) };
}

/** Builds the Go host; undefined when the toolchain is missing, with the reason. */
export function buildGoHost(): { path: string } | { missing: string } {
  return buildWithScript('test/interop/gohost', 'gohost');
}

/**
 * Builds the Go reference plugin (bench/goref: the floor's requests from a
 * go-plugin plugin written in Go) with the Go stubs the host's build made.
 */
export function buildGoReference(): { path: string } | { missing: string } {
  return buildWithScript('bench/goref', 'goref');
}

export interface GoHostOptions {
  /** The executable the host launches (profile-run passes a wrapper that adds --cpu-prof). */
  plugin?: string;
  /** Extra environment for the host, which go-plugin hands on to the plugin. */
  env?: Record<string, string>;
  /** Plaintext gRPC instead of Chainloop's AutoMTLS: a host-side change, measured for comparison only. */
  noAutoMTLS?: boolean;
}

export class GoHostDriver {
  private readonly lines: AsyncIterator<string>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async start(hostPath: string, registry: BenchRegistry, options: GoHostOptions = {}): Promise<GoHostDriver> {
    const child = spawn(
      hostPath,
      [
        '-plugin',
        options.plugin ?? pluginExecutable(),
        '-drive',
        registry.repository,
        '-username',
        registry.username,
        '-password',
        registry.password,
        ...(options.noAutoMTLS ? ['-no-automtls'] : []),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const driver = new GoHostDriver(child);
    const first = await driver.reply(30_000);
    if (first !== 'ready') {
      child.kill('SIGKILL');
      throw new Error(`Go host did not get ready: ${first ?? 'no answer'} ${stderr.trim()}`);
    }
    return driver;
  }

  /** The Go host's pid and its plugin child's pid, for CPU accounting. */
  get pids(): { host: number; plugin: number | undefined } {
    const host = this.child.pid!;
    let plugin: number | undefined;
    try {
      plugin = Number(readFileSync(`/proc/${host}/task/${host}/children`, 'utf8').trim().split(/\s+/)[0]) || undefined;
    } catch {
      plugin = undefined;
    }
    return { host, plugin };
  }

  async execute(count: number, concurrency: number, bytes: number): Promise<DriveResult> {
    this.child.stdin.write(`execute ${count} ${concurrency} ${bytes}\n`);
    const line = await this.reply(600_000);
    if (!line || line === 'ready') throw new Error(`Go host gave no result (${line ?? 'exited'})`);
    const r = JSON.parse(line) as { latenciesMs: number[]; failures: string[]; elapsedMs: number; setupCpuMs?: number };
    return { latencies: r.latenciesMs, failures: r.failures, elapsedMs: r.elapsedMs, setupCpuMs: r.setupCpuMs ?? 0 };
  }

  async stop(): Promise<void> {
    this.child.stdin.end();
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Next `drive: ...` payload on stdout (other lines are the host's own chatter). */
  private async reply(timeoutMs: number): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)));
    try {
      for (;;) {
        const next = await Promise.race([this.lines.next(), timeout]);
        if (!next || next.done) return undefined;
        if (next.value.startsWith('drive: ')) return next.value.slice('drive: '.length);
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
