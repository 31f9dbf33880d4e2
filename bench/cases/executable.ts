/**
 * The deliverable itself: the single executable (SEA, pinned runtime with a
 * V8 code cache) against the JS bundle run by this machine's `node`, in the
 * same run. Start-up as the TypeScript host sees it (spawn → handshake line)
 * and as the Go go-plugin host sees it (client start → Dispense); resident
 * memory at idle and after 200 Executes; and the size of each image overlay.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateCertificate } from '../../src/goplugin/tls';
import { makeEnvelopes } from '../envelopes';
import { launch, pluginBundle, pluginExecutable, procMemory, startBenchPlugin } from '../plugin';
import type { BenchMode } from '../registry';
import { median, msSince, round, summarize } from '../stats';
import type { BenchContext } from '../types';

const MIB = 1024 * 1024;
type Variant = 'sea' | 'bundle';
const LAUNCH: Record<Variant, () => { executable: string; args: string[] }> = {
  sea: () => ({ executable: pluginExecutable(), args: [] }),
  bundle: () => ({ executable: process.execPath, args: [pluginBundle()] }),
};

async function spawnToHandshake(ctx: BenchContext): Promise<Record<Variant, number[]>> {
  const clientCertificate = await generateCertificate();
  const times: Record<Variant, number[]> = { sea: [], bundle: [] };
  const once = async (v: Variant): Promise<number> => {
    const started = process.hrtime.bigint();
    const p = await launch({ ...LAUNCH[v](), clientCertificate, healthCheck: false, openSideStreams: false });
    const ms = msSince(started);
    await p.shutdown({ timeoutMs: 5000 });
    return ms;
  };
  await once('sea'); // page cache
  await once('bundle');
  for (let i = 0; i < ctx.params.launches; i++) {
    // Alternate which goes first, so drift hits both.
    const order: Variant[] = i % 2 === 0 ? ['sea', 'bundle'] : ['bundle', 'sea'];
    for (const v of order) times[v].push(await once(v));
  }
  return times;
}

/** The Go host's start → Dispense, in rounds that alternate the two executables. */
function goHostStartup(goHost: string, rounds: number, perRound: number): Record<Variant, number[]> {
  const times: Record<Variant, number[]> = { sea: [], bundle: [] };
  // The Go host execs one path: the bundle runs through its `#!/usr/bin/env node` line.
  const path: Record<Variant, string> = { sea: pluginExecutable(), bundle: pluginBundle() };
  for (let r = 0; r < rounds; r++) {
    for (const v of r % 2 === 0 ? (['sea', 'bundle'] as const) : (['bundle', 'sea'] as const)) {
      const out = spawnSync(goHost, ['-plugin', path[v], '-startup', String(perRound)], { encoding: 'utf8', timeout: 120_000 });
      const line = /^startup: (.*)$/m.exec(out.stdout ?? '')?.[1];
      if (out.status !== 0 || !line) throw new Error(`gohost -startup failed: ${(out.stderr || out.stdout || '').trim()}`);
      times[v].push(...(JSON.parse(line) as { ms: number[] }).ms);
    }
  }
  return times;
}

async function memory(ctx: BenchContext, mode: BenchMode, v: Variant): Promise<{ idle: number; after: number }> {
  const registry = ctx.registries.get(mode);
  if (!registry) throw new Error(`no ${mode} registry`);
  const bench = await startBenchPlugin(registry, LAUNCH[v]());
  try {
    const idle = procMemory(bench.plugin.pid).rss;
    for (const envelope of makeEnvelopes(ctx.params.smoke ? 20 : 200, ctx.params.envelopeBytes)) await bench.execute(envelope);
    return { idle, after: procMemory(bench.plugin.pid).rss };
  } finally {
    await bench.stop();
  }
}

function recordPair(ctx: BenchContext, name: string, times: Record<Variant, number[]>, details: Record<string, unknown> = {}): void {
  const sea = median(times.sea);
  const bundle = median(times.bundle);
  ctx.record({
    name,
    mode: 'n/a',
    value: round(sea),
    unit: 'ms',
    baseline: round(bundle),
    baselineLabel: 'JS bundle run by node',
    ratio: round(sea / bundle),
    target: 'ratio ≤ 0.7',
    met: sea / bundle <= 0.7,
    details: { sea: summarize(times.sea), bundle: summarize(times.bundle), ...details },
  });
}

export async function executableCase(ctx: BenchContext, mode: BenchMode): Promise<void> {
  recordPair(ctx, 'SEA start-up spawn→handshake (median)', await spawnToHandshake(ctx));
  if (ctx.goHost) {
    const rounds = ctx.params.smoke ? 2 : 4;
    const perRound = ctx.params.smoke ? 2 : 5;
    recordPair(ctx, 'SEA start-up, Go host start→Dispense (median)', goHostStartup(ctx.goHost, rounds, perRound));
  }
  for (const v of ['sea', 'bundle'] as const) {
    const m = await memory(ctx, mode, v);
    ctx.record({
      name: `RSS ${v === 'sea' ? 'SEA' : 'JS bundle'} idle / after ${ctx.params.smoke ? 20 : 200} Executes`,
      mode,
      value: round(m.after / MIB),
      unit: 'MiB',
      baseline: round(m.idle / MIB),
      baselineLabel: 'idle RSS',
      ratio: null,
      target: 'reported',
      met: null,
    });
  }
  const dist = resolve(process.cwd(), 'dist');
  const tarballs = existsSync(dist) ? readdirSync(dist).filter((f) => f.endsWith('.tar.gz')) : [];
  for (const file of tarballs) {
    const bytes = statSync(resolve(dist, file)).size;
    ctx.record({
      name: `overlay ${file.replace(/^.*-(linux-[a-z0-9]+)\.tar\.gz$/, '$1')} tarball`,
      mode: 'n/a',
      value: round(bytes / MIB),
      unit: 'MiB',
      baseline: 45,
      baselineLabel: 'limit',
      ratio: round(bytes / MIB / 45),
      target: '≤ 45 MiB',
      met: bytes <= 45 * MIB,
    });
  }
}
