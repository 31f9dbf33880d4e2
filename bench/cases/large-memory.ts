/**
 * Case 5b, large envelopes (64, 256 MiB): one Execute in a FRESH plugin
 * process per size, so its VmHWM is this Execute's peak, against its idle
 * RSS; the time is reported next to the floor pushing an envelope of the same
 * size. Driven by the Go go-plugin host when it is built, else by the
 * TypeScript client (request encoded before the clock starts).
 */
import { makeDistinct, makeEnvelope } from '../envelopes';
import { Floor } from '../floor';
import { DRIVER_LABEL, GoHostDriver } from '../gohost-driver';
import { procMemory, resetPeakRss, startBenchPlugin, type BenchPlugin } from '../plugin';
import type { BenchMode } from '../registry';
import { msSince, round } from '../stats';
import type { BenchContext } from '../types';

const MiB = 1024 * 1024;
export const GROWTH_TARGET = 2.5;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function largeMemoryCase(ctx: BenchContext, mode: BenchMode, sizeMiB: number): Promise<void> {
  const r = ctx.registries.get(mode);
  if (!r) throw new Error(`no ${mode} registry`);
  const bytes = sizeMiB * MiB;
  let goHost: GoHostDriver | undefined;
  let bp: BenchPlugin | undefined;
  let pluginMs: number;
  let idle: number;
  let idleHwm: number;
  let peakReset: boolean;
  let peak: number;
  try {
    let pid: number | undefined;
    if (ctx.goHost) {
      goHost = await GoHostDriver.start(ctx.goHost, r);
      pid = goHost.pids.plugin;
    } else {
      bp = await startBenchPlugin(r);
      pid = bp.plugin.pid;
    }
    if (!pid) throw new Error('the plugin process id is unknown');
    await sleep(300);
    ({ rss: idle, hwm: idleHwm } = procMemory(pid));
    let request: Buffer | undefined;
    if (bp) {
      const envelope = makeEnvelope(bytes);
      // Encoded before the clock starts: see BenchPlugin.executeEncoded.
      request = bp.encodeExecute(envelope);
    }
    peakReset = resetPeakRss(pid);
    if (peakReset) idle = procMemory(pid).rss;
    const t = process.hrtime.bigint();
    if (goHost) {
      const d = await goHost.execute(1, 1, bytes);
      if (d.failures.length > 0) throw new Error(`Execute of ${sizeMiB} MiB failed: ${d.failures[0]}`);
      pluginMs = d.latencies[0]!;
    } else {
      await bp!.executeEncoded(request!, 600_000);
      pluginMs = msSince(t);
    }
    request = undefined;
    peak = procMemory(pid).hwm;
  } finally {
    await goHost?.stop();
    await bp?.stop();
  }
  const floor = new Floor(r);
  let floorMs: number;
  try {
    const envelope = makeEnvelope(bytes);
    makeDistinct(envelope);
    const t = process.hrtime.bigint();
    await floor.push(envelope);
    floorMs = msSince(t);
  } finally {
    await floor.close();
  }
  const label = DRIVER_LABEL[goHost ? 'gohost' : 'plugin'];
  ctx.record({
    name: `large ${sizeMiB} MiB Execute time${label}`,
    mode,
    value: round(pluginMs),
    unit: 'ms',
    baseline: round(floorMs),
    baselineLabel: 'floor',
    ratio: round(pluginMs / floorMs),
    target: 'push succeeds',
    met: true,
  });
  const growth = (peak - idle) / bytes;
  ctx.record({
    name: `large ${sizeMiB} MiB peak RSS${label}`,
    mode,
    value: round(peak / MiB, 1),
    unit: 'MiB',
    baseline: round(idle / MiB, 1),
    baselineLabel: 'idle RSS',
    ratio: round(growth),
    target: `(peak−idle)/size ≤ ${GROWTH_TARGET}`,
    met: growth <= GROWTH_TARGET,
    details: {
      peakBytes: peak,
      idleBytes: idle,
      /** VmHWM before the Execute: the startup peak (part of `peak` only when it could not be reset). */
      idlePeakBytes: idleHwm,
      peakResetBeforeExecute: peakReset,
      envelopeBytes: bytes,
    },
  });
}
