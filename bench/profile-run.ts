/**
 * Profiles the plugin under one benchmark workload: launches the built
 * executable through node with --cpu-prof (NODE_OPTIONS cannot carry
 * --cpu-prof on Node 20), drives it over gRPC like bench/run.ts, shuts it
 * down so the profile is written, and prints where the time went.
 *
 *   node scripts/run-ts.js bench/profile-run.ts startup|latency|throughput|large [--mode=token|anonymous] [--n=200] [--c=64] [--mib=64]
 *   node scripts/run-ts.js bench/profile-run.ts large-gohost [--mib=64] [--n=5] [--c=1] [--log=debug]
 *
 * large-gohost drives the plugin through the Go go-plugin host (a wrapper
 * script adds --cpu-prof and keeps the plugin's stderr in a file), and
 * prints the Execute p50 as the host saw it, then the plugin's own push
 * times (and registry requests at --log=debug).
 *
 * Profiles land in .tmp/bench-prof/.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateCertificate } from '../src/goplugin/tls';
import { pushedMs } from './cases/latency';
import { drive } from './drive';
import { buildGoHost, GoHostDriver } from './gohost-driver';
import { makeEnvelope, makeEnvelopes } from './envelopes';
import { launch, pluginBundle, startBenchPlugin } from './plugin';
import { printProfile, summarizeProfile } from './profile';
import { startBenchRegistry, type BenchMode } from './registry';
import { summarize } from './stats';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const workload = args[0] ?? 'latency';
  const opt = (name: string, dflt: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
  const mode = opt('mode', 'token') as BenchMode;
  const dir = resolve(process.cwd(), '.tmp/bench-prof');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const launchOptions = {
    executable: process.execPath,
    args: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=200', pluginBundle()],
    env: { CHAINLOOP_PLUGIN_LOG_LEVEL: opt('log', 'info') },
  };

  if (workload === 'startup') {
    const clientCertificate = await generateCertificate();
    const t = process.hrtime.bigint();
    const p = await launch({ ...launchOptions, clientCertificate, healthCheck: false, openSideStreams: false });
    console.log(`spawn→handshake ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms (with --cpu-prof)`);
    await p.shutdown({ timeoutMs: 10_000 });
  } else if (workload === 'large-gohost') {
    const built = buildGoHost();
    if (!('path' in built)) throw new Error(`the Go host is unavailable: ${built.missing}`);
    const log = resolve(dir, 'plugin-stderr.log');
    const wrapper = resolve(dir, 'plugin-under-prof');
    const q = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;
    const command = [process.execPath, ...launchOptions.args].map(q).join(' ');
    writeFileSync(wrapper, `#!/bin/sh\nCHAINLOOP_PLUGIN_LOG_LEVEL=${q(opt('log', 'info'))} exec ${command} 2>>${q(log)}\n`);
    chmodSync(wrapper, 0o755);
    const registry = await startBenchRegistry(mode);
    try {
      const host = await GoHostDriver.start(built.path, registry, { plugin: wrapper });
      const bytes = Number(opt('mib', '64')) * 1024 * 1024;
      const c = Number(opt('c', '1'));
      const n = Number(opt('n', '5'));
      await host.execute(Math.max(2, c), c, bytes);
      const d = await host.execute(n, c, bytes);
      console.log(`large-gohost ${opt('mib', '64')} MiB c=${c}: Execute p50 ${summarize(d.latencies).p50.toFixed(1)} ms (host's clock; plugin under --cpu-prof)`);
      await host.stop();
      const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n') : [];
      console.log(lines.filter((l) => /pushed|registry request/.test(l)).slice(-6 * Math.min(n, 5)).join('\n'));
      if (c === 1) {
        // One Execute at a time: the i-th timed latency pairs with the i-th of the last n "pushed" lines.
        const pushed = pushedMs(lines).slice(-n);
        const split = d.latencies.map((ms, i) => `${ms.toFixed(0)} = ${(ms - pushed[i]!).toFixed(0)} host→plugin + ${pushed[i]} push`);
        console.log(`Execute ms = request into the plugin (host marshal, transfer, decode) and response + plugin's own push:\n  ${split.join('\n  ')}`);
      }
    } finally {
      await registry.stop();
    }
  } else if (workload === 'large') {
    const registry = await startBenchRegistry(mode);
    try {
      const bp = await startBenchPlugin(registry, launchOptions);
      const envelope = makeEnvelope(Number(opt('mib', '64')) * 1024 * 1024);
      const request = bp.encodeExecute(envelope);
      const t = process.hrtime.bigint();
      const sentAt = Date.now();
      await bp.executeEncoded(request, 600_000);
      const doneAt = Date.now();
      const pushed = bp.plugin.stderrLines.filter((l) => l.includes('attestation pushed')).pop();
      if (pushed) {
        const rec = JSON.parse(pushed) as { '@timestamp': string; ms: number };
        const loggedAt = Date.parse(rec['@timestamp']);
        console.log(
          `request into the plugin (gRPC transfer + decode + validation): ~${loggedAt - rec.ms - sentAt} ms; ` +
            `registry push: ${rec.ms} ms; response back: ~${doneAt - loggedAt} ms`,
        );
      }
      console.log(`large ${opt('mib', '64')} MiB Execute ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(0)} ms (plugin under --cpu-prof)`);
      console.log(bp.plugin.stderrLines.filter((l) => /pushed|registry request/.test(l)).slice(-8).join('\n'));
      await bp.plugin.shutdown({ timeoutMs: 10_000 });
    } finally {
      await registry.stop();
    }
  } else {
    const registry = await startBenchRegistry(mode);
    try {
      const bp = await startBenchPlugin(registry, launchOptions);
      const n = Number(opt('n', workload === 'latency' ? '200' : '1000'));
      const c = workload === 'latency' ? 1 : Number(opt('c', '64'));
      await drive(makeEnvelopes(Math.max(10, c), 4096), c, (e) => bp.execute(e));
      const d = await drive(makeEnvelopes(n, 4096), c, (e) => bp.execute(e));
      const s = summarize(d.latencies);
      console.log(
        `${workload} ${mode} c=${c} n=${n}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, ` +
          `${((d.latencies.length / d.elapsedMs) * 1000).toFixed(1)} att/s, ${d.failures.length} failures (plugin under --cpu-prof)`,
      );
      if (opt('log', 'info') === 'debug') {
        const lines = bp.plugin.stderrLines.filter((l) => l.includes('registry request')).slice(-12);
        console.log(lines.join('\n'));
      }
      await bp.plugin.shutdown({ timeoutMs: 10_000 });
    } finally {
      await registry.stop();
    }
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error('no profile written');
  console.log(`${dir}/${files[0]}`);
  console.log(printProfile(summarizeProfile(resolve(dir, files[0]), pluginBundle(), Number(opt('top', '25')))));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  },
);
