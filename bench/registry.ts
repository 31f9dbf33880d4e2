/**
 * The benchmark's registries: CNCF distribution on 127.0.0.1, storage on
 * tmpfs (distribution fsyncs ~30 times per push and this VM's fsync latency
 * swings under bursts), one instance per auth mode. The token server runs
 * in its own process, like a real one: served inside the benchmark process,
 * the floor's and peers' token requests would skip the process switch that
 * the plugin's pay (0.6-1.0 ms of a 4 KiB push's ~12 ms, measured).
 */
import { startDistribution, type Distribution } from '../test/helpers/distribution';

export type BenchMode = 'token' | 'anonymous' | 'basic';

export interface BenchRegistry {
  mode: BenchMode;
  reg: Distribution;
  /** Credentials the plugin is registered with (anonymous: placeholders the registry never asks for). */
  username: string;
  password: string;
  /** `127.0.0.1:PORT/bench`: what Register receives. */
  repository: string;
  /** Registry access-log entries plus token-server requests so far. */
  requestMark(): number;
  /** Waits until no request has been logged for `quietMs`, then returns the total so far. */
  settle(quietMs?: number, timeoutMs?: number): Promise<number>;
  /** Method and path pattern of every request after `mark`, registry and token server. */
  describeSince(mark: number): string[];
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startBenchRegistry(mode: BenchMode): Promise<BenchRegistry> {
  const reg = await startDistribution({ mode, storage: 'tmpfs', logLevel: 'error', tokenServer: { ownProcess: true } });
  const auth = mode !== 'anonymous';
  const username = auth ? 'pusher' : 'bench';
  const password = auth ? reg.users.pusher!.password : 'anonymous-registry';
  const tokens = (): number => reg.tokenServer?.requests.length ?? 0;
  // Registry and token-server records interleave; a combined mark is the pair.
  const marks: Array<{ log: number; tokens: number }> = [];
  const requestMark = (): number => {
    marks.push({ log: reg.accessLog.length, tokens: tokens() });
    return marks.length - 1;
  };
  const total = (): number => reg.accessLog.length + tokens();
  return {
    mode,
    reg,
    username,
    password,
    repository: `${reg.host}/bench`,
    requestMark,
    async settle(quietMs = 250, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      let last = total();
      let stableSince = Date.now();
      while (Date.now() < deadline) {
        await sleep(25);
        const now = total();
        if (now !== last) {
          last = now;
          stableSince = Date.now();
        } else if (Date.now() - stableSince >= quietMs) {
          break;
        }
      }
      return last;
    },
    describeSince(mark: number) {
      const m = marks[mark];
      if (!m) throw new Error(`unknown request mark ${mark}`);
      const out: string[] = [];
      for (const t of reg.tokenServer?.requests.slice(m.tokens) ?? []) out.push(`${t.method} <token realm> ${t.status}`);
      for (const e of reg.accessLog.slice(m.log)) out.push(`${e.method} ${shape(e.path)} ${e.status}`);
      return out;
    },
    stop: () => reg.stop(),
  };
}

/** Collapses digests, upload ids and per-attestation names so request lists read as a pattern. */
function shape(path: string): string {
  return path
    .replace(/sha256:[0-9a-f]{64}/g, 'sha256:…')
    .replace(/-[0-9a-f]{64}/g, '-<hex>')
    .replace(/\/uploads\/[0-9a-f-]{36}/g, '/uploads/<id>');
}
