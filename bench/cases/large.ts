/**
 * Case 5, large envelopes (1, 64, 256 MiB) through Execute: time, and the
 * plugin's peak RSS (VmHWM) against its idle RSS, in a FRESH plugin process
 * per size so VmHWM is per size. The time baseline is the floor pushing an
 * envelope of the same size. The envelope buffer is built once per size by
 * the caller and made distinct in place for each push.
 */
import { makeDistinct } from '../envelopes';
import { Floor } from '../floor';
import { procMemory, resetPeakRss, startBenchPlugin } from '../plugin';
import type { BenchMode } from '../registry';
import { msSince, round } from '../stats';
import type { BenchContext } from '../types';

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `ms` of the plugin's last "attestation pushed" log line (hclog JSON on stderr). */
function pluginReportedMs(lines: readonly string[]): number | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i].includes('attestation pushed')) continue;
    try {
      const ms = (JSON.parse(lines[i]) as { ms?: unknown }).ms;
      return typeof ms === 'number' ? ms : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export async function largeCase(ctx: BenchContext, mode: BenchMode, envelope: Buffer): Promise<void> {
  const r = ctx.registries.get(mode);
  if (!r) throw new Error(`no ${mode} registry`);
  const sizeMiB = envelope.length / MiB;
  const bp = await startBenchPlugin(r);
  const floor = new Floor(r);
  let pluginMs: number;
  let idle: number;
  let idleHwm: number;
  let peakReset = false;
  let peak: number;
  let pushMs: number | undefined;
  let error: unknown;
  try {
    await sleep(300);
    ({ rss: idle, hwm: idleHwm } = procMemory(bp.plugin.pid));
    peakReset = resetPeakRss(bp.plugin.pid);
    if (peakReset) idle = procMemory(bp.plugin.pid).rss;
    makeDistinct(envelope);
    // Encoded before the clock starts: see BenchPlugin.executeEncoded.
    let request: Buffer | undefined = bp.encodeExecute(envelope);
    const t = process.hrtime.bigint();
    try {
      await bp.executeEncoded(request, 600_000);
    } catch (e) {
      error = e;
    }
    pluginMs = msSince(t);
    request = undefined;
    peak = procMemory(bp.plugin.pid).hwm;
    pushMs = pluginReportedMs(bp.plugin.stderrLines);
  } finally {
    await bp.stop();
  }
  let floorMs: number;
  try {
    makeDistinct(envelope);
    const t = process.hrtime.bigint();
    await floor.push(envelope);
    floorMs = msSince(t);
  } finally {
    await floor.close();
  }
  const ok = error === undefined;
  ctx.record({
    name: `large ${sizeMiB} MiB Execute time`,
    mode,
    value: round(pluginMs),
    unit: 'ms',
    baseline: round(floorMs),
    baselineLabel: 'floor',
    ratio: round(pluginMs / floorMs),
    target: 'push succeeds',
    met: ok,
    details: {
      /** The plugin's own "attestation pushed" ms: registry work after the request arrived and decoded. */
      pluginPushMs: pushMs,
      /** The rest: gRPC transfer of the request into the plugin, decode, response. */
      grpcAndDecodeMs: pushMs === undefined ? undefined : round(pluginMs - pushMs),
      ...(ok ? {} : { error: error instanceof Error ? error.message : String(error) }),
    },
  });
  const growth = (peak - idle) / envelope.length;
  ctx.record({
    name: `large ${sizeMiB} MiB peak RSS`,
    mode,
    value: round(peak / MiB, 1),
    unit: 'MiB',
    baseline: round(idle / MiB, 1),
    baselineLabel: 'idle RSS',
    ratio: round(growth),
    target: '(peak−idle)/size ≤ 3',
    met: growth <= 3,
    details: {
      peakBytes: peak,
      idleBytes: idle,
      /** VmHWM before the Execute: the startup peak (part of `peak` only when it could not be reset). */
      idlePeakBytes: idleHwm,
      peakResetBeforeExecute: peakReset,
      envelopeBytes: envelope.length,
    },
  });
  if (!ok) throw error;
}
