/**
 * Case 4, throughput at concurrency 16 and 64: distinct attestations through
 * Execute, attestations/s and p99, against the floor at the same
 * concurrency. Each side's run is split in two halves ordered
 * floor, plugin, plugin, floor so drift hits both.
 */
import { assertNoFailures, drive, type DriveResult } from '../drive';
import { makeEnvelopes } from '../envelopes';
import { DRIVER_LABEL, type Side } from '../gohost-driver';
import { addCpuOf, cpuPerAttestation, type CpuTotals } from '../plugin';
import type { BenchMode } from '../registry';
import { round, summarize } from '../stats';
import { startSides } from '../sides';
import type { BenchContext } from '../types';
import { SMALL_P50_RATIO_TARGET } from './latency';

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

/** The Go reference plugin is measured in the latency and large cases only. */
type ThroughputSide = Exclude<Side, 'goref'>;

export async function throughputCase(ctx: BenchContext, mode: BenchMode, concurrency: number, count: number): Promise<void> {
  const r = ctx.registries.get(mode);
  if (!r) throw new Error(`no ${mode} registry`);
  const { envelopeBytes } = ctx.params;
  const started = await startSides(ctx, r);
  const { bp, goHost, execute, floorPush } = started;
  try {
    await started.warm(Math.max(ctx.params.warmup, concurrency), concurrency);

    const half = Math.ceil(count / 2);
    const envs: Record<Exclude<ThroughputSide, 'gohost'>, Buffer[]> = {
      plugin: makeEnvelopes(count, envelopeBytes),
      floor: makeEnvelopes(count, envelopeBytes),
    };
    const runs: Record<ThroughputSide, DriveResult[]> = { plugin: [], floor: [], gohost: [] };
    // CPU per attestation of each process: on 2 cores the runs are CPU-bound,
    // so this is what decides the throughput ratio. "bench" is the client:
    // this process for the floor and the TS client, the Go host for its side.
    const cpu: Record<ThroughputSide, CpuTotals> = {
      plugin: { plugin: 0, bench: 0, registry: 0 },
      floor: { plugin: 0, bench: 0, registry: 0 },
      gohost: { plugin: 0, bench: 0, registry: 0 },
    };
    const pidsOf = (side: ThroughputSide): { plugin: number | undefined; bench: number } =>
      side === 'gohost' ? { plugin: goHost!.pids.plugin, bench: goHost!.pids.host } : { plugin: bp.plugin.pid, bench: process.pid };
    const measured = async (side: ThroughputSide, part: 0 | 1): Promise<void> => {
      const { plugin, bench } = pidsOf(side);
      const pids = { plugin: side === 'floor' ? undefined : plugin, bench, registry: r.reg.pid };
      const size = part === 0 ? half : count - half;
      const d = await addCpuOf(pids, cpu[side], () =>
        side === 'gohost'
          ? goHost!.execute(size, concurrency, envelopeBytes)
          : drive(envs[side].slice(part * half, part * half + size), concurrency, side === 'plugin' ? execute : floorPush),
      );
      runs[side].push(d);
    };
    // Halves ordered so drift hits every side alike: F P G G P F.
    const sides: ThroughputSide[] = goHost ? ['floor', 'plugin', 'gohost'] : ['floor', 'plugin'];
    for (const side of sides) await measured(side, 0);
    for (const side of [...sides].reverse()) await measured(side, 1);
    assertNoFailures('floor throughput', ...runs.floor);

    const f = combine(runs.floor);
    const judged: ThroughputSide = goHost ? 'gohost' : 'plugin';
    for (const side of sides.filter((x) => x !== 'floor')) {
      const p = combine(runs[side]);
      const ratio = p.rate / f.rate;
      const target = side === judged;
      ctx.record({
        name: `throughput c=${concurrency} (${count})${DRIVER_LABEL[side]}`,
        mode,
        value: round(p.rate, 1),
        unit: 'att/s',
        baseline: round(f.rate, 1),
        baselineLabel: 'floor',
        ratio: round(ratio),
        target: target ? 'ratio ≥ 0.8, 0 failures' : '0 failures',
        met: target ? ratio >= 0.8 && p.failures === 0 : p.failures === 0,
        details: {
          plugin: p,
          floor: f,
          cpuMsPerAttestation: {
            plugin: cpuPerAttestation(cpu[side], p.n),
            floor: cpuPerAttestation(cpu.floor, f.n),
          },
          pluginFailures: runs[side].flatMap((d) => d.failures).slice(0, 5),
        },
      });
      // Judged only at c=16: at c=64 the 2 cores are saturated, and the rate says more than p50.
      const p50Judged = target && concurrency === 16;
      ctx.record({
        name: `throughput c=${concurrency} p50${DRIVER_LABEL[side]}`,
        mode,
        value: round(p.p50),
        unit: 'ms',
        baseline: round(f.p50),
        baselineLabel: 'floor',
        ratio: round(p.p50 / f.p50),
        target: p50Judged ? `ratio ≤ ${SMALL_P50_RATIO_TARGET}` : '-',
        met: p50Judged ? p.p50 / f.p50 <= SMALL_P50_RATIO_TARGET : null,
      });
      ctx.record({
        name: `throughput c=${concurrency} p99${DRIVER_LABEL[side]}`,
        mode,
        value: round(p.p99),
        unit: 'ms',
        baseline: round(f.p99),
        baselineLabel: 'floor',
        ratio: round(p.p99 / f.p99),
        target: '-',
        met: null,
      });
    }
    // Plugin failures fail the case after its figures are recorded.
    assertNoFailures('plugin throughput', ...runs.plugin, ...runs.gohost);
  } finally {
    await started.stop();
  }
}
