/**
 * Process lifecycle of the BUILT plugin: Shutdown while an Execute is stuck
 * on a slow registry, exit when the host dies, and no growth of memory or
 * sockets across 500 Executes at concurrency 32.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { APP_PROTOCOL_VERSION, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from '../../src/goplugin/constants';
import type { LaunchedPlugin } from '../../src/host/client';
import { startDistribution, type Distribution } from '../helpers/distribution';
import { startProxy, type RecordingProxy } from '../helpers/proxy';
import {
  countSockets,
  describeWhen,
  EXECUTABLE,
  executeRequest,
  haveExecutable,
  haveRegistry,
  makeEnvelope,
  outcome,
  pool,
  readBackClient,
  register,
  report,
  rssKiB,
  sleep,
  startPlugin,
  stopPlugin,
  verifyArtifact,
} from './support';

const figures: Record<string, unknown> = {};
afterAll(() => report('lifecycle', figures));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describeWhen(haveExecutable && haveRegistry, 'needs `make build` and docker-registry')('lifecycle', () => {
  let reg: Distribution;
  beforeAll(async () => {
    reg = await startDistribution({ mode: 'anonymous' });
  });
  afterAll(() => reg?.stop());

  it('Shutdown during an in-flight Execute exits within 2 s', async () => {
    let stalled = 0;
    const proxy: RecordingProxy = await startProxy({
      target: reg.host,
      // The manifest PUT hangs for 20 s: the Execute is in flight when Shutdown comes.
      hook: (info) => (info.method === 'PUT' && info.path.includes('/manifests/') ? (stalled++, { kind: 'forward', delayMs: 20_000 }) : undefined),
    });
    const plugin = await startPlugin();
    try {
      const info = { configuration: Buffer.from(JSON.stringify({ repository: `${proxy.host}/robust/shutdown` })), credentials: { url: '', username: 'u', password: 'shutdown-pw' } };
      const inflight = outcome(plugin.fanout.execute(executeRequest(info, makeEnvelope(1)), { deadlineMs: 60_000 }));
      const deadline = Date.now() + 10_000;
      while (stalled === 0 && Date.now() < deadline) await sleep(20);
      expect(stalled).toBe(1);
      const ms = await plugin.shutdown({ timeoutMs: 2000 });
      figures.shutdownMs = ms;
      expect(ms).toBeLessThan(2000);
      const exit = await plugin.exited;
      figures.shutdownExit = exit;
      expect(exit.code).toBe(0);
      // The caller is not left hanging either.
      const settled = await Promise.race([inflight, sleep(2000).then(() => 'still pending' as const)]);
      expect(settled).not.toBe('still pending');
    } finally {
      if (!plugin.hasExited) plugin.kill();
      await proxy.close();
    }
  });

  it('exits on its own when its parent (the host) dies', async () => {
    // An intermediate node process launches the plugin as a host would, reports the pid, then gets SIGKILLed.
    const script = `
      const { spawn } = require('node:child_process');
      const child = spawn(process.argv[1], [], { stdio: ['ignore', 'inherit', 'ignore'], env: { ...process.env } });
      process.stdout.write('PID ' + child.pid + '\\n');
      setInterval(() => {}, 1000);
    `;
    const env = {
      ...process.env,
      [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
      PLUGIN_PROTOCOL_VERSIONS: String(APP_PROTOCOL_VERSION),
      PLUGIN_MIN_PORT: '10000',
      PLUGIN_MAX_PORT: '25000',
      CHAINLOOP_PLUGIN_LOG_LEVEL: 'error',
    };
    const middle: ChildProcess = spawn(process.execPath, ['-e', script, EXECUTABLE], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let pluginPid = 0;
    try {
      const lines = createInterface({ input: middle.stdout! });
      const handshake = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no handshake from the plugin within 15 s')), 15_000);
        lines.on('line', (line) => {
          const m = /^PID (\d+)$/.exec(line);
          if (m) pluginPid = Number(m[1]);
          else {
            clearTimeout(timer);
            resolve(line);
          }
        });
      });
      expect(handshake).toMatch(/^1\|0\|unix\|/);
      expect(alive(pluginPid)).toBe(true);
      middle.kill('SIGKILL');
      const t0 = Date.now();
      while (alive(pluginPid) && Date.now() - t0 < 8000) await sleep(50);
      const ms = Date.now() - t0;
      figures.orphanExitMs = ms;
      expect(alive(pluginPid)).toBe(false);
      // Parent polled every second, plus a graceful stop.
      expect(ms).toBeLessThan(4000);
    } finally {
      if (!middle.killed) middle.kill('SIGKILL');
      if (pluginPid && alive(pluginPid)) process.kill(pluginPid, 'SIGKILL');
    }
  });

  it('500 Executes at concurrency 32 leave RSS and sockets flat', async () => {
    const N = 500;
    const CONCURRENCY = 32;
    const plugin: LaunchedPlugin = await startPlugin();
    try {
      const registration = await register(plugin, `${reg.host}/robust/load`, 'u', 'load-pw');
      const run = `l${Date.now().toString(36)}`;
      const exec = (i: number) => outcome(plugin.fanout.execute(executeRequest(registration.response, makeEnvelope(i, run)), { deadlineMs: 60_000 }));
      // Warm-up at the same concurrency: pools, JIT and caches fill up, and the
      // V8 heap grows to its working size (measured: RSS plateaus near 130 MiB
      // after ~1000 Executes (warm-up 600) and then moves by ±15 MiB, so a cold start would
      // count heap growth as a leak).
      const warm = await pool(600, CONCURRENCY, (i) => exec(100_000 + i));
      expect(warm.filter((r) => !r.ok)).toEqual([]);
      await sleep(1500);
      const before = { rss: rssKiB(plugin.pid), sockets: countSockets(plugin.pid) };
      const t0 = Date.now();
      const results = await pool(N, CONCURRENCY, exec);
      const seconds = (Date.now() - t0) / 1000;
      expect(results.filter((r) => !r.ok)).toEqual([]);
      await sleep(2000);
      const after = { rss: rssKiB(plugin.pid), sockets: countSockets(plugin.pid) };
      const growthMiB = Math.round(((after.rss - before.rss) / 1024) * 10) / 10;
      Object.assign(figures, {
        loadExecutes: N,
        loadSeconds: Math.round(seconds * 10) / 10,
        executesPerSecond: Math.round(N / seconds),
        rssBeforeMiB: Math.round(before.rss / 1024),
        rssAfterMiB: Math.round(after.rss / 1024),
        rssGrowthMiB: growthMiB,
        socketsBefore: before.sockets,
        socketsAfter: after.sockets,
      });
      expect(growthMiB).toBeLessThan(30);
      expect(after.sockets).toBeLessThanOrEqual(before.sockets + 3);
      // Spot-check that the load really pushed what it claims.
      const back = readBackClient();
      try {
        for (const i of [0, 250, 499]) expect(await verifyArtifact(back.client, `${reg.host}/robust/load`, makeEnvelope(i, run))).toBeUndefined();
      } finally {
        await back.close();
      }
    } finally {
      await stopPlugin(plugin);
    }
  }, 180_000);
});
