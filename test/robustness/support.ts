/**
 * Shared pieces of the robustness suites: launching the BUILT executable the
 * way Chainloop's host does, building requests, judging user-facing error
 * messages, distinct envelopes, and reading artifacts back.
 *
 * Not a test file (jest only runs *.test.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Agent } from 'undici';
import { ExecuteRequest, RegisterRequest, type RegisterResponse } from '../../src/gen/api/fanout';
import { launchPlugin, type LaunchedPlugin, type LaunchOptions } from '../../src/host/client';
import { parseRepository, RegistryClient } from '../../src/oci';
import { distributionAvailable } from '../helpers/distribution';
import { PLUGIN_BINARY } from '../helpers/plugin-process';

/** The built executable; these suites test what `make build` made and never build it themselves. */
export const EXECUTABLE = PLUGIN_BINARY;

export const haveSkopeo = (() => {
  try {
    execFileSync('skopeo', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export const haveExecutable = existsSync(EXECUTABLE);
export const haveRegistry = distributionAvailable();

/** describe, or describe.skip with a loud reason (a skip must never pass for a pass). */
export function describeWhen(ok: boolean, why: string): jest.Describe {
  if (!ok) console.warn(`robustness suite skipped: ${why}`);
  return ok ? describe : describe.skip;
}

export const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Launches the built plugin as the host does (AutoMTLS on by default). */
export function startPlugin(options: Partial<LaunchOptions> = {}): Promise<LaunchedPlugin> {
  return launchPlugin({
    executable: EXECUTABLE,
    ...options,
    env: { CHAINLOOP_PLUGIN_LOG_LEVEL: 'info', ...(options.env ?? {}) },
  });
}

export async function stopPlugin(plugin: LaunchedPlugin | undefined): Promise<void> {
  if (!plugin || plugin.hasExited) return;
  await plugin.shutdown({ timeoutMs: 3000 }).catch(() => plugin.kill());
}

/** The gRPC error a call ends with (throws when it succeeds). */
export async function grpcError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded unexpectedly');
}

/** Outcome of a call: ok, or its code and message. */
export async function outcome(p: Promise<unknown>): Promise<{ ok: true } | { ok: false; code: number; details: string }> {
  try {
    await p;
    return { ok: true };
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { ok: false, code: e.code, details: String(e.details ?? e.message) };
  }
}

export const codeName = (code: number): string => grpc.status[code] ?? String(code);

/**
 * Problems with a message a user will read (empty list = fine): a sentence,
 * not a dump.
 */
export function messageProblems(msg: string): string[] {
  const out: string[] = [];
  if (!msg || msg.trim() === '') out.push('empty');
  if (msg.length >= 500) out.push(`${msg.length} characters long`);
  if (!/^\p{L}/u.test(msg)) out.push('does not start with a letter');
  if (/\n\s+at\s|\bat [\w.<>]+ \(|node:internal|\.ts:\d+|\.js:\d+/.test(msg)) out.push('looks like a stack trace');
  if (/\bundefined\b/.test(msg)) out.push('mentions "undefined"');
  if (msg.includes('[object Object]')) out.push('contains [object Object]');
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(msg)) out.push('contains control characters');
  if (/[\u202a-\u202e\u2066-\u2069\u200e\u200f]/.test(msg)) out.push('contains bidirectional override characters');
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(msg)) out.push('contains lone surrogates');
  if (msg.includes('\ufffd')) out.push('contains U+FFFD (mangled text)');
  if (/\bNaN\b/.test(msg)) out.push('mentions NaN');
  return out;
}

/** A DSSE envelope unique to (run, i), padded to a size that varies with i. */
export function makeEnvelope(i: number, run = randomBytes(4).toString('hex'), padBytes = 64 + ((i * 977) % 6000)): Buffer {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: `robustness-${run}-${i}`, digest: { sha256: sha256Hex(Buffer.from(`${run}/${i}`)) } }],
    predicateType: 'https://chainloop.dev/attestation/v0.2',
    predicate: { run, i, pad: 'p'.repeat(padBytes) },
  };
  return json({
    payloadType: 'application/vnd.in-toto+json',
    payload: Buffer.from(JSON.stringify(statement)).toString('base64'),
    // Deterministic in (run, i), so a test can rebuild an envelope to check it.
    signatures: [{ keyid: '', sig: createHash('sha512').update(`sig/${run}/${i}/${padBytes}`).digest('base64') }],
  });
}

export interface Registration {
  response: RegisterResponse;
  repository: string;
}

export async function register(
  plugin: LaunchedPlugin,
  repository: string,
  username: string,
  password: string,
  deadlineMs = 30_000,
): Promise<Registration> {
  const response = await plugin.fanout.register(
    RegisterRequest.fromPartial({ payload: json({ repository, username, password }) }),
    { deadlineMs },
  );
  return { response, repository };
}

/** A registration the host would hand to Execute, made without calling Register. */
export function registrationInfo(repository: string, username: string, password: string) {
  return {
    configuration: json({ repository }),
    credentials: { url: '', username, password },
  };
}

export function executeRequest(
  info: { configuration: Uint8Array; credentials?: { url: string; username: string; password: string } },
  envelope: Uint8Array,
  prefix?: string,
): ExecuteRequest {
  return ExecuteRequest.fromPartial({
    registrationInfo: info,
    attachmentInfo: { configuration: json(prefix === undefined ? {} : { prefix }) },
    envelope,
  });
}

/** `<repository>/<prefix>-<hex>` for an envelope. */
export function artifactRepository(repository: string, envelope: Uint8Array, prefix = 'chainloop'): string {
  return `${repository}/${prefix}-${sha256Hex(envelope)}`;
}

/**
 * Reads an artifact back through the registry API (directly, never through a
 * fault proxy) and checks manifest shape and layer bytes against the envelope.
 * Returns a problem description, or undefined when intact.
 */
export async function verifyArtifact(
  client: RegistryClient,
  repository: string,
  envelope: Buffer,
): Promise<string | undefined> {
  const repo = parseRepository(artifactRepository(repository, envelope));
  try {
    const m = await client.getManifest(repo, 'latest');
    const manifest = JSON.parse(Buffer.from(m.bytes).toString('utf8')) as {
      layers?: Array<{ digest: string; size: number }>;
      config?: { digest: string };
    };
    const layer = manifest.layers?.[0];
    if (!layer || manifest.layers?.length !== 1) return `${repo}: manifest has ${manifest.layers?.length ?? 0} layers`;
    if (layer.digest !== `sha256:${sha256Hex(envelope)}` || layer.size !== envelope.length) {
      return `${repo}: layer descriptor ${layer.digest}/${layer.size} does not describe the envelope`;
    }
    const bytes = Buffer.from(await client.getBlob(repo, layer.digest));
    if (!bytes.equals(envelope)) return `${repo}: layer bytes differ from the envelope`;
    if (manifest.config) await client.getBlob(repo, manifest.config.digest);
    return undefined;
  } catch (err) {
    return `${repo}: ${(err as Error).message}`;
  }
}

/** A read-back client straight to the registry (own keep-alive agent). */
export function readBackClient(credentials?: { username: string; password: string }): { client: RegistryClient; close: () => Promise<void> } {
  const agent = new Agent({ keepAliveTimeout: 1000, connections: 8 });
  const client = new RegistryClient({ dispatcher: agent, ...(credentials ? { credentials } : {}) });
  return { client, close: () => agent.close() };
}

/** Runs `task(i)` for i in [0, n) with at most `limit` in flight. */
export async function pool<T>(n: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return results;
}

/** Sockets among a process's open file descriptors (/proc/<pid>/fd -> socket:[inode]). */
export function countSockets(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n += 1;
    } catch {
      // closed between readdir and readlink
    }
  }
  return n;
}

/** VmRSS of a process in KiB. */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** One short summary line per suite, for the closing note. */
export function report(suite: string, figures: Record<string, unknown>): void {
  const text = Object.entries(figures)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  process.stderr.write(`[robustness:${suite}] ${text}\n`);
}
