/**
 * Case 3, latency at concurrency 1: distinct 4 KiB envelopes through Execute,
 * p50/p95/p99, against the floor (bare undici, same HTTP sequence) in the
 * same run. Plugin and floor batches alternate (ABBA) so drift hits both.
 */
import { assertNoFailures, drive } from '../drive';
import { makeEnvelopes } from '../envelopes';
import { Floor } from '../floor';
import { startBenchPlugin } from '../plugin';
import type { BenchMode } from '../registry';
import { median, msSince, round, summarize } from '../stats';
import type { BenchContext } from '../types';

/** `ms` of every "attestation pushed" line the plugin logged (whole milliseconds). */
export function pushedMs(lines: readonly string[]): number[] {
  const out: number[] = [];
  for (const line of lines) {
    if (!line.includes('attestation pushed')) continue;
    try {
      const ms = (JSON.parse(line) as { ms?: unknown }).ms;
      if (typeof ms === 'number') out.push(ms);
    } catch {
      // not a JSON log line
    }
  }
  return out;
}

export async function latencyCase(ctx: BenchContext, mode: BenchMode): Promise<void> {
  const r = ctx.registries.get(mode);
  if (!r) throw new Error(`no ${mode} registry`);
  const { latencyExecutes: n, latencyBatch: batch, warmup, envelopeBytes } = ctx.params;
  const bp = await startBenchPlugin(r);
  const floor = new Floor(r);
  try {
    const execute = (e: Buffer) => bp.execute(e);
    const floorPush = (e: Buffer) => floor.push(e);
    await drive(makeEnvelopes(warmup, envelopeBytes), 1, execute).then((d) => assertNoFailures('plugin warm-up', d));
    await drive(makeEnvelopes(warmup, envelopeBytes), 1, floorPush).then((d) => assertNoFailures('floor warm-up', d));

    const pushedBefore = pushedMs(bp.plugin.stderrLines).length;
    const pluginMs: number[] = [];
    const floorMs: number[] = [];
    const pluginEnvs = makeEnvelopes(n, envelopeBytes);
    const floorEnvs = makeEnvelopes(n, envelopeBytes);
    for (let i = 0, b = 0; i < n; i += batch, b++) {
      const p = pluginEnvs.slice(i, i + batch);
      const f = floorEnvs.slice(i, i + batch);
      const runs = b % 2 === 0 ? [['plugin', p], ['floor', f]] as const : [['floor', f], ['plugin', p]] as const;
      for (const [side, envs] of runs) {
        const d = await drive(envs, 1, side === 'plugin' ? execute : floorPush);
        assertNoFailures(`${side} latency`, d);
        (side === 'plugin' ? pluginMs : floorMs).push(...d.latencies);
      }
    }
    const ps = summarize(pluginMs);
    const fs = summarize(floorMs);
    // Where the plugin's extra time goes: its own push time (registry work,
    // from its log) vs the rest (gRPC hop, decode, validation, response).
    const inside = pushedMs(bp.plugin.stderrLines).slice(pushedBefore);
    const rtt: number[] = [];
    for (let i = 0; i < Math.min(50, n); i++) {
      const t = process.hrtime.bigint();
      await bp.plugin.fanout.string({});
      rtt.push(msSince(t));
    }
    const split = {
      pluginReportedPushP50: median(inside),
      grpcStringRoundTripP50: round(median(rtt)),
    };
    for (const q of ['p50', 'p95', 'p99'] as const) {
      const ratio = ps[q] / fs[q];
      ctx.record({
        name: `latency c=1 ${q}`,
        mode,
        value: round(ps[q]),
        unit: 'ms',
        baseline: round(fs[q]),
        baselineLabel: 'floor',
        ratio: round(ratio),
        target: q === 'p50' ? 'ratio ≤ 1.3' : '-',
        met: q === 'p50' ? ratio <= 1.3 : null,
        details: q === 'p50' ? { plugin: ps, floor: fs, ...split } : undefined,
      });
    }
  } finally {
    await bp.stop();
    await floor.close();
  }
}
