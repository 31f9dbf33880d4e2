/**
 * Case 1, startup: process spawn → go-plugin handshake line on stdout, for
 * the built executable launched as the host launches it (AutoMTLS), against
 * `node -e 0` spawn → exit in the same run. Launches alternate with baseline
 * runs so drift hits both.
 */
import { spawn } from 'node:child_process';
import { generateCertificate } from '../../src/goplugin/tls';
import { launch } from '../plugin';
import { median, msSince, round, summarize } from '../stats';
import type { BenchContext } from '../types';

function nodeNoop(): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const ms = msSince(started);
      if (code === 0) resolve(ms);
      else reject(new Error(`node -e 0 exited with ${code}`));
    });
  });
}

export async function startupCase(ctx: BenchContext): Promise<void> {
  // The host makes its certificate before spawning; that is host time, not plugin time.
  const clientCertificate = await generateCertificate();
  const plugin: number[] = [];
  const baseline: number[] = [];
  // One untimed round of each warms the page cache.
  await nodeNoop();
  const warm = await launch({ clientCertificate, healthCheck: false, openSideStreams: false });
  await warm.shutdown({ timeoutMs: 5000 });

  for (let i = 0; i < ctx.params.launches; i++) {
    const first = i % 2 === 0;
    if (first) baseline.push(await nodeNoop());
    const started = process.hrtime.bigint();
    // launchPlugin resolves as soon as the handshake line is read and parsed.
    const p = await launch({ clientCertificate, healthCheck: false, openSideStreams: false });
    plugin.push(msSince(started));
    await p.shutdown({ timeoutMs: 5000 });
    if (!first) baseline.push(await nodeNoop());
  }
  const value = median(plugin);
  const base = median(baseline);
  const ratio = value / base;
  ctx.record({
    name: 'startup spawn→handshake (median)',
    mode: 'n/a',
    value: round(value),
    unit: 'ms',
    baseline: round(base),
    baselineLabel: 'node -e 0',
    ratio: round(ratio),
    target: 'ratio ≤ 2.5',
    met: ratio <= 2.5,
    details: { plugin: summarize(plugin), nodeNoop: summarize(baseline), launches: plugin.length },
  });
}
