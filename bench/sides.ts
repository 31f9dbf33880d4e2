/**
 * The three ways an attestation is pushed in the latency and throughput
 * cases, started together on one registry: the plugin driven by the
 * TypeScript client, the floor, and (when Go is installed) the plugin driven
 * by the Go go-plugin host.
 */
import { assertNoFailures, drive } from './drive';
import { makeEnvelopes } from './envelopes';
import { Floor } from './floor';
import { GoHostDriver } from './gohost-driver';
import { startBenchPlugin, type BenchPlugin } from './plugin';
import type { BenchRegistry } from './registry';
import type { BenchContext } from './types';

export interface Sides {
  bp: BenchPlugin;
  floor: Floor;
  goHost: GoHostDriver | undefined;
  /** The Go reference plugin through the Go host, when asked for and built. */
  goRef: GoHostDriver | undefined;
  execute(envelope: Buffer): Promise<void>;
  floorPush(envelope: Buffer): Promise<unknown>;
  /** Untimed pushes on every side, so V8 has optimised each before the clock starts. */
  warm(count: number, concurrency: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startSides(ctx: BenchContext, r: BenchRegistry, options: { goRef?: boolean } = {}): Promise<Sides> {
  const bp = await startBenchPlugin(r);
  const floor = new Floor(r);
  let goHost: GoHostDriver | undefined;
  let goRef: GoHostDriver | undefined;
  try {
    goHost = ctx.goHost ? await GoHostDriver.start(ctx.goHost, r) : undefined;
    if (options.goRef && ctx.goHost && ctx.goRef) goRef = await GoHostDriver.start(ctx.goHost, r, { plugin: ctx.goRef });
  } catch (error) {
    await goHost?.stop();
    await bp.stop();
    await floor.close();
    throw error;
  }
  const bytes = ctx.params.envelopeBytes;
  const execute = (e: Buffer): Promise<void> => bp.execute(e);
  const floorPush = (e: Buffer): Promise<unknown> => floor.push(e);
  return {
    bp,
    floor,
    goHost,
    goRef,
    execute,
    floorPush,
    async warm(count, concurrency) {
      assertNoFailures('plugin warm-up', await drive(makeEnvelopes(count, bytes), concurrency, execute));
      assertNoFailures('floor warm-up', await drive(makeEnvelopes(count, bytes), concurrency, floorPush));
      if (goHost) assertNoFailures('Go host warm-up', await goHost.execute(count, concurrency, bytes));
      if (goRef) assertNoFailures('Go reference plugin warm-up', await goRef.execute(count, concurrency, bytes));
    },
    async stop() {
      await goRef?.stop();
      await goHost?.stop();
      await bp.stop();
      await floor.close();
    },
  };
}
