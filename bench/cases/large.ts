/**
 * Case 5a, large envelopes through Execute: p50 at a fixed concurrency (1 MiB
 * at c=4, 64 MiB at c=1) against the floor and the @sigstore/oci peer pushing
 * envelopes of the same size in the same run. The plugin is driven by the Go
 * go-plugin host when it is built (Chainloop's client stack), else by the
 * TypeScript client. Batches rotate the side that goes first, so drift hits
 * every side alike. Peak memory is case 5b (large-memory.ts).
 */
import { assertNoFailures, drive, type DriveResult } from '../drive';
import { makeDistinct, makeEnvelopes } from '../envelopes';
import { Floor } from '../floor';
import { DRIVER_LABEL, GoHostDriver } from '../gohost-driver';
import { addCpuOf, cpuPerAttestation, startBenchPlugin, type BenchPlugin, type CpuTotals } from '../plugin';
import type { BenchMode } from '../registry';
import { SigstorePeer } from '../sigstore-peer';
import { round, summarize, type Summary } from '../stats';
import type { BenchContext, LargeTimeSpec } from '../types';

const MiB = 1024 * 1024;
export const LARGE_RATIO_TARGET = 1.25;

/**
 * goref: the Go reference plugin's push; hop: the same plugin answering on
 * arrival (the host hop alone); plaintext: the plugin through a host with
 * AutoMTLS off (a host-side change, measured with --plaintext only).
 */
type LargeSide = 'plugin' | 'floor' | 'peer' | 'goref' | 'hop' | 'plaintext';

export async function largeTimeCase(ctx: BenchContext, mode: BenchMode, spec: LargeTimeSpec): Promise<void> {
  const r = ctx.registries.get(mode);
  if (!r) throw new Error(`no ${mode} registry`);
  const { sizeMiB, concurrency: c, perSide, batch } = spec;
  const bytes = Math.round(sizeMiB * MiB);
  const floor = new Floor(r);
  const peer = new SigstorePeer(r);
  // The sides a Go host drives, each its own host and plugin process.
  const hosted: Partial<Record<LargeSide, GoHostDriver>> = {};
  let bp: BenchPlugin | undefined;
  try {
    if (ctx.goHost) hosted.plugin = await GoHostDriver.start(ctx.goHost, r);
    else bp = await startBenchPlugin(r);
    if (ctx.goHost && ctx.goRef) {
      hosted.goref = await GoHostDriver.start(ctx.goHost, r, { plugin: ctx.goRef });
      hosted.hop = await GoHostDriver.start(ctx.goHost, r, { plugin: ctx.goRef, env: { GOREF_RECEIVE_ONLY: '1' } });
    }
    if (ctx.goHost && ctx.plaintext) hosted.plaintext = await GoHostDriver.start(ctx.goHost, r, { noAutoMTLS: true });
    const goHost = hosted.plugin;
    // One pool of distinct envelopes per bench side, rewritten in place before each batch.
    const pool = makeEnvelopes(Math.min(batch, perSide), bytes);
    const run = async (side: LargeSide, count: number): Promise<DriveResult> => {
      const driver = hosted[side];
      if (driver) return driver.execute(count, c, bytes);
      const items = pool.slice(0, count);
      for (const e of items) makeDistinct(e);
      const push =
        side === 'floor' ? (e: Buffer) => floor.push(e) : side === 'peer' ? (e: Buffer) => peer.push(e) : (e: Buffer) => bp!.execute(e, 600_000);
      return drive(items, c, push, 600_000);
    };
    // CPU per Execute of each process, as in the throughput case: at 1 MiB c=4
    // the 2 cores are saturated, and this is what sets the ratio.
    const zero = (): CpuTotals => ({ plugin: 0, bench: 0, registry: 0 });
    const cpu = { plugin: zero(), floor: zero(), peer: zero(), goref: zero(), hop: zero(), plaintext: zero() };
    const counted = (side: LargeSide, count: number): Promise<DriveResult> => {
      const driver = hosted[side];
      const pids = {
        plugin: driver ? driver.pids.plugin : side === 'plugin' ? bp!.plugin.pid : undefined,
        bench: driver ? driver.pids.host : process.pid,
        registry: r.reg.pid,
      };
      return addCpuOf(pids, cpu[side], () => run(side, count));
    };
    const sides = (['plugin', 'floor', 'peer', 'goref', 'hop', 'plaintext'] as const).filter((s) => s === 'floor' || s === 'peer' || hosted[s] || (s === 'plugin' && bp));
    // Untimed: connections, tokens and V8's code for each side's large-envelope path.
    for (const side of sides) {
      for (let left = spec.warmup; left > 0; left -= batch) assertNoFailures(`${side} warm-up`, await run(side, Math.min(batch, left)));
    }
    const samples: Record<LargeSide, number[]> = { plugin: [], floor: [], peer: [], goref: [], hop: [], plaintext: [] };
    for (let done = 0, b = 0; done < perSide; done += batch, b++) {
      const size = Math.min(batch, perSide - done);
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(b + k) % sides.length]!;
        const d = await counted(side, size);
        assertNoFailures(`${side} large ${sizeMiB} MiB`, d);
        samples[side].push(...d.latencies);
      }
    }
    const perExecute = (total: number): number => round(total / perSide);
    const cpuPerExecute = (t: CpuTotals) => cpuPerAttestation(t, perSide);
    const [ps, fs, peerS] = [summarize(samples.plugin), summarize(samples.floor), summarize(samples.peer)];
    /** A row for information: a side's p50 against the floor's. */
    const infoRow = (suffix: string, s: Summary, details?: Record<string, unknown>): void =>
      ctx.record({
        name: `large ${sizeMiB} MiB c=${c} p50${suffix}`,
        mode,
        value: round(s.p50),
        unit: 'ms',
        baseline: round(fs.p50),
        baselineLabel: 'floor',
        ratio: round(s.p50 / fs.p50),
        target: '-',
        met: null,
        ...(details ? { details } : {}),
      });
    const ratio = ps.p50 / fs.p50;
    const label = DRIVER_LABEL[goHost ? 'gohost' : 'plugin'];
    const floorCpu = { benchHost: perExecute(cpu.floor.bench), registry: perExecute(cpu.floor.registry) };
    ctx.record({
      name: `large ${sizeMiB} MiB c=${c} p50${label}`,
      mode,
      value: round(ps.p50),
      unit: 'ms',
      baseline: round(fs.p50),
      baselineLabel: 'floor',
      ratio: round(ratio),
      target: `ratio ≤ ${LARGE_RATIO_TARGET}, ≤ @sigstore/oci`,
      met: ratio <= LARGE_RATIO_TARGET && ps.p50 <= peerS.p50,
      details: {
        plugin: ps,
        floor: fs,
        peer: peerS,
        pluginOverPeer: round(ps.p50 / peerS.p50),
        cpuMsPerAttestation: {
          plugin: cpuPerExecute(cpu.plugin),
          floor: floorCpu,
          peer: { benchHost: perExecute(cpu.peer.bench), registry: perExecute(cpu.peer.registry) },
          ...(hosted.goref ? { goref: cpuPerExecute(cpu.goref) } : {}),
        },
      },
    });
    infoRow(' @sigstore/oci', peerS);
    if (hosted.plaintext) {
      const ts = summarize(samples.plaintext);
      infoRow(' (Go host, AutoMTLS off)', ts, { plaintext: ts, floor: fs, cpuMsPerAttestation: { plugin: cpuPerExecute(cpu.plaintext), floor: floorCpu } });
    }
    if (hosted.goref) {
      const gs = summarize(samples.goref);
      infoRow(DRIVER_LABEL.goref, gs, { goref: gs, floor: fs, pluginOverGoref: round(ps.p50 / gs.p50) });
      // Any plugin behind this host pays at least the hop's CPU on top of the
      // floor's push; where the cores are saturated (1 MiB at c=4) the p50
      // ratio follows CPU, so this is the least ratio a plugin could reach.
      const hopCpu = (cpu.hop.plugin + cpu.hop.bench) / perSide;
      const floorTotal = (cpu.floor.bench + cpu.floor.registry) / perSide;
      ctx.record({
        name: `large ${sizeMiB} MiB c=${c} CPU: floor + host hop alone`,
        mode,
        value: round(hopCpu),
        unit: 'ms',
        baseline: round(floorTotal),
        baselineLabel: 'floor CPU',
        ratio: round((floorTotal + hopCpu) / floorTotal),
        target: '-',
        met: null,
        details: { hopP50: round(summarize(samples.hop).p50), hopCpu: { plugin: perExecute(cpu.hop.plugin), host: perExecute(cpu.hop.bench) } },
      });
    }
  } finally {
    for (const driver of Object.values(hosted)) await driver.stop();
    await bp?.stop();
    await floor.close();
  }
}
