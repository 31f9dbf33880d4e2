/**
 * Case 4, throughput at concurrency 16 and 64: distinct attestations through
 * Execute, attestations/s and p99, against the floor at the same
 * concurrency. Each side's run is split in two halves ordered
 * floor, plugin, plugin, floor so drift hits both.
 */
import { assertNoFailures, drive, type DriveResult } from '../drive';
import { makeEnvelopes } from '../envelopes';
import { Floor } from '../floor';
import { cpuMs, startBenchPlugin } from '../plugin';
import type { BenchMode } from '../registry';
import { round, summarize } from '../stats';
import type { BenchContext } from '../types';

function combine(runs: DriveResult[]): { rate: number; p99: number; p50: number; failures: number; n: number } {
  const latencies = runs.flatMap((r) => r.latencies);
  const elapsed = runs.reduce((a, r) => a + r.elapsedMs, 0);
  const s = summarize(latencies);
  return {
    rate: (latencies.length / elapsed) * 1000,
    p99: s.p99,
    p50: s.p50,
    failures: runs.reduce((a, r) => a + r.failures.length, 0),
    n: latencies.length,
  };
}

function perAttestation(c: { plugin: number; bench: number; registry: number }, n: number): Record<string, number> {
  return { plugin: round(c.plugin / n), benchHost: round(c.bench / n), registry: round(c.registry / n) };
}

export async function throughputCase(ctx: BenchContext, mode: BenchMode, concurrency: number, count: number): Promise<void> {
  const r = ctx.registries.get(mode);
  if (!r) throw new Error(`no ${mode} registry`);
  const { envelopeBytes } = ctx.params;
  const bp = await startBenchPlugin(r);
  const floor = new Floor(r);
  try {
    const execute = (e: Buffer) => bp.execute(e);
    const floorPush = (e: Buffer) => floor.push(e);
    const warm = Math.max(ctx.params.warmup, concurrency);
    assertNoFailures('plugin warm-up', await drive(makeEnvelopes(warm, envelopeBytes), concurrency, execute));
    assertNoFailures('floor warm-up', await drive(makeEnvelopes(warm, envelopeBytes), concurrency, floorPush));

    const half = Math.ceil(count / 2);
    const pluginEnvs = makeEnvelopes(count, envelopeBytes);
    const floorEnvs = makeEnvelopes(count, envelopeBytes);
    const floorRuns: DriveResult[] = [];
    const pluginRuns: DriveResult[] = [];
    // CPU per attestation of each process: on 2 cores the runs are CPU-bound,
    // so this is what decides the throughput ratio.
    const cpu = { plugin: { plugin: 0, bench: 0, registry: 0 }, floor: { plugin: 0, bench: 0, registry: 0 } };
    const measured = async (side: 'plugin' | 'floor', envs: Buffer[]): Promise<DriveResult> => {
      const before = { plugin: cpuMs(bp.plugin.pid), bench: cpuMs(process.pid), registry: cpuMs(r.reg.pid) };
      const d = await drive(envs, concurrency, side === 'plugin' ? execute : floorPush);
      cpu[side].plugin += cpuMs(bp.plugin.pid) - before.plugin;
      cpu[side].bench += cpuMs(process.pid) - before.bench;
      cpu[side].registry += cpuMs(r.reg.pid) - before.registry;
      return d;
    };
    floorRuns.push(await measured('floor', floorEnvs.slice(0, half)));
    pluginRuns.push(await measured('plugin', pluginEnvs.slice(0, half)));
    pluginRuns.push(await measured('plugin', pluginEnvs.slice(half)));
    floorRuns.push(await measured('floor', floorEnvs.slice(half)));
    assertNoFailures('floor throughput', ...floorRuns);

    const p = combine(pluginRuns);
    const f = combine(floorRuns);
    const ratio = p.rate / f.rate;
    ctx.record({
      name: `throughput c=${concurrency} (${count})`,
      mode,
      value: round(p.rate, 1),
      unit: 'att/s',
      baseline: round(f.rate, 1),
      baselineLabel: 'floor',
      ratio: round(ratio),
      target: 'ratio ≥ 0.8, 0 failures',
      met: ratio >= 0.8 && p.failures === 0,
      details: {
        plugin: p,
        floor: f,
        cpuMsPerAttestation: {
          plugin: perAttestation(cpu.plugin, p.n),
          floor: perAttestation(cpu.floor, f.n),
        },
        pluginFailures: pluginRuns.flatMap((d) => d.failures).slice(0, 5),
      },
    });
    ctx.record({
      name: `throughput c=${concurrency} p99`,
      mode,
      value: round(p.p99),
      unit: 'ms',
      baseline: round(f.p99),
      baselineLabel: 'floor',
      ratio: round(p.p99 / f.p99),
      target: '-',
      met: null,
    });
    // Plugin failures fail the case after its figures are recorded.
    assertNoFailures('plugin throughput', ...pluginRuns);
  } finally {
    await bp.stop();
    await floor.close();
  }
}
