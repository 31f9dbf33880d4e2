/**
 * Case 3, latency at concurrency 1: distinct 4 KiB envelopes through Execute,
 * p50/p95/p99, against the floor (bare undici, same HTTP sequence) in the
 * same run. Plugin and floor batches alternate (ABBA) so drift hits both.
 */
import { assertNoFailures, drive } from '../drive';
import { makeEnvelopes } from '../envelopes';
import { DRIVER_LABEL, type GoHostDriver, type Side } from '../gohost-driver';
import type { BenchMode } from '../registry';
import { median, msSince, round, summarize } from '../stats';
import { startSides } from '../sides';
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

const WARMUP_CONCURRENCY = 8;
/** Small envelopes must not pay for the large-envelope path (issue 12): p50 within 1.15× the floor. */
export const SMALL_P50_RATIO_TARGET = 1.15;

export async function latencyCase(ctx: BenchContext, mode: BenchMode): Promise<void> {
  const r = ctx.registries.get(mode);
  if (!r) throw new Error(`no ${mode} registry`);
  const { latencyExecutes: n, latencyBatch: batch, warmup, envelopeBytes } = ctx.params;
  const started = await startSides(ctx, r, { goRef: true });
  const { bp, goHost, goRef, execute, floorPush } = started;
  try {
    // Warm-up runs at concurrency 8 only to take less time; V8 optimises the same code either way.
    await started.warm(warmup, WARMUP_CONCURRENCY);

    const pushedBefore = pushedMs(bp.plugin.stderrLines).length;
    const samples: Record<Side, number[]> = { plugin: [], floor: [], gohost: [], goref: [] };
    // The sides a Go host drives.
    const hosted: Partial<Record<Side, GoHostDriver>> = { ...(goHost ? { gohost: goHost } : {}), ...(goRef ? { goref: goRef } : {}) };
    const sides: Side[] = ['plugin', 'floor', 'gohost', 'goref'].filter((s): s is Side => s === 'plugin' || s === 'floor' || s in hosted);
    const pluginEnvs = makeEnvelopes(n, envelopeBytes);
    const floorEnvs = makeEnvelopes(n, envelopeBytes);
    for (let i = 0, b = 0; i < n; i += batch, b++) {
      const size = Math.min(batch, n - i);
      // Each batch starts with a different side, so drift hits all of them alike.
      const order = sides.map((_, k) => sides[(b + k) % sides.length]!);
      for (const side of order) {
        const driver = hosted[side];
        const d = driver
          ? await driver.execute(size, 1, envelopeBytes)
          : await drive((side === 'plugin' ? pluginEnvs : floorEnvs).slice(i, i + size), 1, side === 'plugin' ? execute : floorPush);
        assertNoFailures(`${side} latency`, d);
        samples[side].push(...d.latencies);
      }
    }
    const fs = summarize(samples.floor);
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
    // The target is judged through the control plane's own client stack when
    // it is available (the Go go-plugin host); the TypeScript client's rows are
    // then for information.
    const judged: Side = goHost ? 'gohost' : 'plugin';
    for (const side of sides.filter((x) => x !== 'floor')) {
      const ps = summarize(samples[side]);
      for (const q of ['p50', 'p95', 'p99'] as const) {
        const ratio = ps[q] / fs[q];
        const target = q === 'p50' && side === judged;
        ctx.record({
          name: `latency c=1 ${q}${DRIVER_LABEL[side]}`,
          mode,
          value: round(ps[q]),
          unit: 'ms',
          baseline: round(fs[q]),
          baselineLabel: 'floor',
          ratio: round(ratio),
          target: target ? `ratio ≤ ${SMALL_P50_RATIO_TARGET}` : '-',
          met: target ? ratio <= SMALL_P50_RATIO_TARGET : null,
          details: q === 'p50' ? { plugin: ps, floor: fs, ...(side === 'plugin' ? split : {}) } : undefined,
        });
      }
    }
  } finally {
    await started.stop();
  }
}
