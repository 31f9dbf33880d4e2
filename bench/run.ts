/**
 * `make bench` / `make bench-smoke`: every case against CNCF distribution on
 * loopback (Bearer-token and anonymous modes; Basic too for request counts),
 * through the gRPC interface of the built one-file executable, each figure
 * next to a baseline measured in the same run.
 *
 *   node scripts/run-ts.js bench/run.ts [--smoke] [--only=startup,executable,requests,referrers,latency,throughput,large]
 *                                       [--modes=token,anonymous] [--plaintext]
 *
 * Exits non-zero only when something FAILED (an Execute error, a crash, a
 * case that could not run), never on a missed target.
 */
import { resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { executableCase } from './cases/executable';
import { largeTimeCase } from './cases/large';
import { largeMemoryCase } from './cases/large-memory';
import { latencyCase } from './cases/latency';
import { buildGoHost, buildGoReference } from './gohost-driver';
import { referrersCase } from './cases/referrers';
import { requestsCase } from './cases/requests';
import { startupCase } from './cases/startup';
import { throughputCase } from './cases/throughput';
import { startBenchRegistry, type BenchMode, type BenchRegistry } from './registry';
import { notes, table, writeResults } from './report';
import { FULL, SMOKE, type BenchContext, type CaseOutcome, type CaseResult } from './types';

const ALL_CASES = ['startup', 'executable', 'requests', 'referrers', 'latency', 'throughput', 'large'] as const;
type CaseName = (typeof ALL_CASES)[number];

function parseArgs(argv: string[]): { smoke: boolean; only: Set<CaseName>; modes: BenchMode[]; plaintext: boolean } {
  let smoke = false;
  let plaintext = false;
  let only = new Set<CaseName>(ALL_CASES);
  let modes: BenchMode[] = ['token', 'anonymous'];
  for (const arg of argv) {
    if (arg === '--smoke') smoke = true;
    else if (arg === '--plaintext') plaintext = true;
    else if (arg.startsWith('--only=')) {
      const names = arg.slice(7).split(',').filter(Boolean);
      for (const n of names) if (!(ALL_CASES as readonly string[]).includes(n)) throw new Error(`unknown case ${n}`);
      only = new Set(names as CaseName[]);
    } else if (arg.startsWith('--modes=')) {
      modes = arg.slice(8).split(',').filter(Boolean) as BenchMode[];
      for (const m of modes) if (m !== 'token' && m !== 'anonymous' && m !== 'basic') throw new Error(`unknown mode ${m}`);
    } else throw new Error(`unknown argument ${arg}`);
  }
  return { smoke, only, modes, plaintext };
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const { smoke, only, modes, plaintext } = parseArgs(process.argv.slice(2));
  const params = smoke ? SMOKE : FULL;
  // Whole-run bound: smoke must finish in < 60 s, the full run well under 15 min.
  const watchdog = setTimeout(() => {
    console.error(`bench: time limit reached after ${smoke ? 90 : 840} s; aborting`);
    process.exit(3);
  }, (smoke ? 90 : 840) * 1000);
  watchdog.unref();

  const results: CaseResult[] = [];
  const outcomes: CaseOutcome[] = [];
  const registries = new Map<BenchMode, BenchRegistry>();
  const t0 = Date.now();
  const log = (m: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);
  let goHost: string | undefined;
  if (only.has('latency') || only.has('throughput') || only.has('large') || only.has('executable')) {
    const built = buildGoHost();
    if ('path' in built) goHost = built.path;
    else log(`Go go-plugin host unavailable (${built.missing}): latency, throughput and large are driven by the TypeScript client only`);
  }
  let goRef: string | undefined;
  if (goHost && (only.has('latency') || only.has('large'))) {
    const built = buildGoReference();
    if ('path' in built) goRef = built.path;
    else log(`Go reference plugin unavailable (${built.missing}): its rows are left out`);
  }
  const ctx: BenchContext = { params, registries, goHost, goRef, plaintext, log, record: (r) => results.push(r) };

  const run = async (name: string, mode: BenchMode | 'n/a', fn: () => Promise<void>): Promise<void> => {
    const started = Date.now();
    log(`${name}${mode === 'n/a' ? '' : ` [${mode}]`} …`);
    try {
      await fn();
      outcomes.push({ case: name, mode, ok: true, seconds: (Date.now() - started) / 1000 });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      outcomes.push({ case: name, mode, ok: false, error: message, seconds: (Date.now() - started) / 1000 });
      log(`FAILED ${name} [${mode}]: ${message}`);
    }
  };

  try {
    if (only.has('startup')) await run('startup', 'n/a', () => startupCase(ctx));

    const needed = new Set<BenchMode>(modes);
    // Basic auth only changes the request count, so it is measured there only.
    if (only.has('requests')) needed.add('basic');
    const registryModes = [...needed].filter((m) => only.has('requests') || modes.includes(m));
    if ([...only].some((c) => c !== 'startup')) {
      for (const mode of registryModes) {
        await run(`registry start`, mode, async () => {
          registries.set(mode, await startBenchRegistry(mode));
        });
      }
    }
    const ready = (m: BenchMode): boolean => registries.has(m);

    if (only.has('executable') && ready(modes[0])) await run('executable', modes[0], () => executableCase(ctx, modes[0]));
    if (only.has('requests')) {
      for (const mode of registryModes) if (ready(mode)) await run('requests', mode, () => requestsCase(ctx, mode));
    }
    if (only.has('referrers')) {
      for (const mode of modes) if (ready(mode)) await run('referrers', mode, () => referrersCase(ctx, mode));
    }
    if (only.has('latency')) {
      for (const mode of modes) if (ready(mode)) await run('latency', mode, () => latencyCase(ctx, mode));
    }
    if (only.has('throughput')) {
      for (const [c, n] of params.throughput) {
        for (const mode of modes) if (ready(mode)) await run(`throughput c=${c}`, mode, () => throughputCase(ctx, mode, c, n));
      }
    }
    if (only.has('large')) {
      for (const spec of params.largeTime) {
        const name = `large ${spec.sizeMiB} MiB c=${spec.concurrency}`;
        for (const mode of modes) if (ready(mode)) await run(name, mode, () => largeTimeCase(ctx, mode, spec));
      }
      for (const sizeMiB of params.largeMemoryMiB) {
        for (const mode of modes) if (ready(mode)) await run(`large ${sizeMiB} MiB memory`, mode, () => largeMemoryCase(ctx, mode, sizeMiB));
      }
    }
  } finally {
    for (const r of registries.values()) await r.stop().catch(() => undefined);
  }

  console.log('');
  console.log(table(results));
  const explained = notes(results);
  if (explained.length > 0) console.log(`\nwhere it went:\n${explained.map((l) => `  ${l}`).join('\n')}`);
  const resultsPath = smoke ? resolve(process.cwd(), '.tmp/bench-smoke-results.json') : resolve(process.cwd(), 'bench/results.json');
  mkdirSync(resolve(resultsPath, '..'), { recursive: true });
  writeResults(resultsPath, params, results, outcomes, startedAt);
  console.log(`\nresults: ${resultsPath}`);
  const failed = outcomes.filter((o) => !o.ok);
  for (const f of failed) console.log(`FAILED: ${f.case} [${f.mode}]: ${f.error}`);
  const missed = results.filter((r) => r.met === false);
  console.log(`targets: ${results.filter((r) => r.met === true).length} met, ${missed.length} missed`);
  const passed = outcomes.length - failed.length;
  console.log(`${smoke ? 'bench-smoke' : 'bench'}: ${passed} passed, ${failed.length} failed`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
