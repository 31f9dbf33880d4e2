/** Runs pushes at a fixed concurrency, timing each one; bounded in count and time. */
import { msSince } from './stats';

export interface DriveResult {
  latencies: number[];
  failures: string[];
  elapsedMs: number;
  /** CPU the driving process spent before the clock (the Go host building its envelopes): not the host's share. */
  setupCpuMs?: number;
}

export async function drive(
  items: readonly Buffer[],
  concurrency: number,
  push: (envelope: Buffer) => Promise<unknown>,
  timeLimitMs = 300_000,
): Promise<DriveResult> {
  const latencies: number[] = [];
  const failures: string[] = [];
  const deadline = Date.now() + timeLimitMs;
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      if (Date.now() > deadline) {
        failures.push(`time limit of ${timeLimitMs} ms reached with ${items.length - next} pushes left`);
        next = items.length;
        return;
      }
      const item = items[next++];
      const t = process.hrtime.bigint();
      try {
        await push(item);
        latencies.push(msSince(t));
      } catch (error) {
        if (failures.length < 20) failures.push(error instanceof Error ? error.message : String(error));
        else failures.push('…');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return { latencies, failures, elapsedMs: msSince(started) };
}

/** Throws when a run had failures (a benchmark with failed pushes measured something else). */
export function assertNoFailures(what: string, ...runs: DriveResult[]): void {
  const failures = runs.flatMap((r) => r.failures);
  if (failures.length > 0) {
    throw new Error(`${what}: ${failures.length} failed pushes; first: ${failures[0]}`);
  }
}
