/**
 * The plugin under test: the built one-file executable, launched the way
 * Chainloop's control plane launches it (src/host: magic cookie, go-plugin
 * variables, AutoMTLS client certificate), driven over gRPC only.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  AttachRequest,
  ExecuteRequest,
  ExecuteResponse,
  RegisterRequest,
  type AttachResponse,
  type RegisterResponse,
} from '../src/gen/api/fanout';
import { launchPlugin, type LaunchedPlugin, type LaunchOptions } from '../src/host/client';
import type { BenchRegistry } from './registry';
import { round } from './stats';

/** make runs from the repository root; run-ts bundles into .tmp/run-ts/. */
export function pluginExecutable(): string {
  const candidates = [resolve(process.cwd(), 'dist/chainloop-plugin-oci-registry'), resolve(__dirname, '../../dist/chainloop-plugin-oci-registry')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no built plugin at ${candidates[0]}: run make build`);
  return found;
}

/** The same program as a JS bundle, for `node` (the SEA's baseline, and profiling). */
export function pluginBundle(): string {
  return `${pluginExecutable()}.js`;
}

export interface BenchPlugin {
  plugin: LaunchedPlugin;
  registrationInfo: RegisterResponse;
  attachmentInfo: AttachResponse;
  execute(envelope: Uint8Array, deadlineMs?: number): Promise<void>;
  /** ExecuteRequest bytes for `envelope` (ts-proto encode), to send later with executeEncoded. */
  encodeExecute(envelope: Uint8Array): Buffer;
  /**
   * FanoutService/Execute with an already-encoded request. For large
   * envelopes: ts-proto's BinaryWriter needs ~0.5 s per 64 MiB, a cost of
   * this TypeScript host that Chainloop's Go host (a memcpy) does not have.
   */
  executeEncoded(request: Buffer, deadlineMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function launch(options: Partial<LaunchOptions> = {}): Promise<LaunchedPlugin> {
  return launchPlugin({ executable: pluginExecutable(), startTimeoutMs: 20_000, ...options });
}

/** Launches a plugin and runs Register + Attach against `registry`, as the control plane would. */
export async function startBenchPlugin(
  registry: BenchRegistry,
  options: Partial<LaunchOptions> = {},
  attachment: Record<string, unknown> = {},
): Promise<BenchPlugin> {
  const plugin = await launch(options);
  try {
    const payload = Buffer.from(
      JSON.stringify({ repository: registry.repository, username: registry.username, password: registry.password }),
    );
    const registrationInfo = await plugin.fanout.register(RegisterRequest.fromPartial({ payload }));
    const attached = await plugin.fanout.attach(
      AttachRequest.fromPartial({ payload: Buffer.from(JSON.stringify(attachment)), registrationInfo }),
    );
    const attachmentInfo = { configuration: attached.configuration };
    return {
      plugin,
      registrationInfo,
      attachmentInfo,
      async execute(envelope, deadlineMs = 120_000) {
        await plugin.fanout.execute(ExecuteRequest.fromPartial({ registrationInfo, attachmentInfo, envelope }), { deadlineMs });
      },
      encodeExecute(envelope) {
        const bytes = ExecuteRequest.encode(ExecuteRequest.fromPartial({ registrationInfo, attachmentInfo, envelope })).finish();
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      },
      executeEncoded(request, deadlineMs = 120_000) {
        return new Promise<void>((resolve, reject) => {
          plugin.fanout.raw.makeUnaryRequest(
            '/api.FanoutService/Execute',
            (b: Buffer) => b,
            (b: Buffer) => ExecuteResponse.decode(b),
            request,
            new grpc.Metadata(),
            { deadline: new Date(Date.now() + deadlineMs) },
            (error) => (error ? reject(error) : resolve()),
          );
        });
      },
      async stop() {
        await plugin.shutdown({ timeoutMs: 5000 }).catch(() => plugin.kill());
      },
    };
  } catch (error) {
    plugin.kill();
    throw error;
  }
}

export interface ProcMemory {
  /** Current resident set, bytes. */
  rss: number;
  /** Peak resident set since the process started (VmHWM), bytes. */
  hwm: number;
}

/** VmRSS and VmHWM of a live process from /proc/<pid>/status. */
export function procMemory(pid: number): ProcMemory {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`/proc/${pid}/status has no ${key}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/**
 * Resets VmHWM to the current RSS (writing 5 to clear_refs, Linux >= 4.0), so
 * a later VmHWM is the peak of what happened since, not the startup peak.
 * Returns false where the kernel refuses it; the caller then reports the
 * startup peak alongside.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    return false;
  }
  const m = procMemory(pid);
  return m.hwm <= m.rss * 1.05;
}

/** CPU ms of each process over a run: the plugin, the client driving it (`bench`) and the registry. */
export interface CpuTotals {
  plugin: number;
  bench: number;
  registry: number;
}

/** Totals over `n` attestations, per attestation, as the reports print them. */
export function cpuPerAttestation(c: CpuTotals, n: number): { plugin: number; benchHost: number; registry: number } {
  return { plugin: round(c.plugin / n), benchHost: round(c.bench / n), registry: round(c.registry / n) };
}

/**
 * Runs `work` and adds each process's CPU time over it to `into` (ms). A
 * process with no pid (not running on this side) adds nothing. `bench` is
 * the driving process: CPU it reports as spent before its clock (setupCpuMs,
 * the Go host building its envelopes) is taken out again.
 */
export async function addCpuOf<K extends string, T extends { setupCpuMs?: number }>(
  pids: Record<K | 'bench', number | undefined>,
  into: Record<K | 'bench', number>,
  work: () => Promise<T>,
): Promise<T> {
  const read = (pid: number | undefined): number => (pid === undefined ? 0 : cpuMs(pid));
  const keys = Object.keys(pids) as Array<K | 'bench'>;
  const before = keys.map((k) => read(pids[k]));
  const result = await work();
  keys.forEach((k, i) => (into[k] += read(pids[k]) - before[i]!));
  // The driver's own preparation (building envelopes before its clock) is not the client's share.
  into.bench -= result.setupCpuMs ?? 0;
  return result;
}

/** User + system CPU time of a live process so far, in ms (from /proc/<pid>/stat, clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
