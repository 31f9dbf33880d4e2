import type { BenchMode, BenchRegistry } from './registry';

export interface LargeTimeSpec {
  sizeMiB: number;
  concurrency: number;
  /** Timed Executes per side. */
  perSide: number;
  /** Executes per side in each interleaved batch. */
  batch: number;
  /**
   * Untimed Executes per side first, as Params.warmup for the small cases: the
   * large case launches its own plugin, and at 1 MiB TurboFan was still
   * optimising 10-26 of its functions per 40 Executes after the first 400.
   */
  warmup: number;
}

export interface Params {
  smoke: boolean;
  /** Plugin launches (and `node -e 0` runs) for the startup case. */
  launches: number;
  /** Executes per side at concurrency 1. */
  latencyExecutes: number;
  /** Interleaving batch size for the latency case. */
  latencyBatch: number;
  /** [concurrency, attestations per side]. */
  throughput: Array<[number, number]>;
  /** Large-envelope p50 runs (case 5a). */
  largeTime: LargeTimeSpec[];
  /** Envelope sizes in MiB for the peak-memory case (5b), one fresh plugin each. */
  largeMemoryMiB: number[];
  /**
   * Untimed warm-up pushes per side before timed runs. Each case launches a
   * fresh plugin process while the floor runs in this long-lived process,
   * already optimised by V8 from earlier cases: without a few hundred pushes
   * first, the plugin's figures would include its JIT warm-up (measured:
   * ~1.3 ms CPU per attestation more over the first 600), which a
   * long-running plugin in a control plane pays once.
   */
  warmup: number;
  envelopeBytes: number;
}

export const FULL: Params = {
  smoke: false,
  launches: 20,
  latencyExecutes: 200,
  latencyBatch: 20,
  throughput: [
    [16, 1000],
    [64, 1000],
  ],
  largeTime: [
    { sizeMiB: 1, concurrency: 4, perSide: 80, batch: 16, warmup: 300 },
    { sizeMiB: 64, concurrency: 1, perSide: 9, batch: 3, warmup: 2 },
  ],
  largeMemoryMiB: [64, 256],
  warmup: 300,
  envelopeBytes: 4096,
};

export const SMOKE: Params = {
  smoke: true,
  launches: 3,
  latencyExecutes: 10,
  latencyBatch: 5,
  throughput: [[4, 20]],
  largeTime: [{ sizeMiB: 1, concurrency: 2, perSide: 4, batch: 2, warmup: 2 }],
  largeMemoryMiB: [1],
  warmup: 2,
  envelopeBytes: 4096,
};

export interface CaseResult {
  /** Case id, e.g. `latency-c1-p50`. */
  name: string;
  mode: BenchMode | 'n/a';
  value: number;
  unit: string;
  /** The figure `value` is compared with (same run), and what it is. */
  baseline: number | null;
  baselineLabel: string;
  ratio: number | null;
  /** Human-readable target, e.g. `ratio ≤ 1.3`. */
  target: string;
  /** null: informational figure without a target. */
  met: boolean | null;
  details?: Record<string, unknown>;
}

export interface CaseOutcome {
  case: string;
  mode: BenchMode | 'n/a';
  ok: boolean;
  error?: string;
  seconds: number;
}

export interface BenchContext {
  params: Params;
  registries: Map<BenchMode, BenchRegistry>;
  /** The Go go-plugin host executable (load-driver mode); undefined when Go is missing. */
  goHost: string | undefined;
  /** The Go reference plugin (bench/goref), when the host and it were built: what the host hop costs any plugin. */
  goRef: string | undefined;
  /** --plaintext: the large case also drives the plugin through a host with AutoMTLS off (a host-side change). */
  plaintext?: boolean;
  log(message: string): void;
  record(result: CaseResult): void;
}
