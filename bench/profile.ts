/**
 * Summarizes a V8 .cpuprofile written by `node --cpu-prof`: self time by
 * function and by source module. The plugin is one esbuild bundle, whose
 * `// path/to/file.ts` section comments map bundle lines back to sources.
 *
 *   node scripts/run-ts.js bench/profile.ts <file.cpuprofile> [top=25] [bundle=dist/chainloop-plugin-oci-registry.js]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Bundle line (0-based) → source module, from esbuild's `// file` markers. */
function sectionMap(bundlePath: string): (line: number) => string {
  let lines: string[];
  try {
    lines = readFileSync(bundlePath, 'utf8').split('\n');
  } catch {
    return () => '?';
  }
  const starts: Array<[number, string]> = [];
  lines.forEach((l, i) => {
    const m = /^\/\/ ((?:node_modules|src)\/\S+)$/.exec(l);
    if (m) starts.push([i, m[1]]);
  });
  return (line: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = '?';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid][0] <= line) {
        found = starts[mid][1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

export interface ProfileSummary {
  totalMs: number;
  sampledMs: number;
  byFunction: Array<{ name: string; where: string; selfMs: number; pct: number }>;
  byModule: Array<{ module: string; selfMs: number; pct: number }>;
  byPackage: Array<{ pkg: string; selfMs: number; pct: number }>;
  /** Module initialisation: samples under a bundled CommonJS module body, by the OUTERMOST such body's package. */
  initByPackage: Array<{ pkg: string; ms: number; pct: number }>;
  /** Time with a frame of this src/ module anywhere on the stack (counted once per sample). */
  inclusiveBySource: Array<{ module: string; ms: number; pct: number }>;
}

export function summarizeProfile(path: string, bundlePath: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const moduleOf = sectionMap(bundlePath);
  const bundleName = bundlePath.split('/').pop() ?? '';
  const fn = new Map<string, { name: string; where: string; selfMs: number }>();
  const mod = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += ms;
    const cf = node.callFrame;
    let module: string;
    if (cf.url.endsWith(bundleName)) module = moduleOf(cf.lineNumber);
    else if (cf.url === '') module = `(${cf.functionName || 'native'})`;
    else module = cf.url.replace(/^node:/, 'node:');
    const where = cf.url.endsWith(bundleName) ? `${module} (bundle:${cf.lineNumber + 1})` : cf.url ? `${cf.url}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName}|${where}`;
    const e = fn.get(key) ?? { name: cf.functionName || '(anonymous)', where, selfMs: 0 };
    e.selfMs += ms;
    fn.set(key, e);
    mod.set(module, (mod.get(module) ?? 0) + ms);
  }
  // Inclusive time per src/ module: walk each sampled node up to the root.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const srcOfNode = new Map<number, string | undefined>();
  for (const n of profile.nodes) {
    const cf = n.callFrame;
    const m = cf.url.endsWith(bundleName) ? moduleOf(cf.lineNumber) : undefined;
    srcOfNode.set(n.id, m && m.startsWith('src/') ? m : undefined);
  }
  const incl = new Map<string, number>();
  const init = new Map<string, number>();
  const pkgOf = (m: string): string =>
    /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(m)?.[1] ?? (m.startsWith('src/') ? m.split('/').slice(0, 2).join('/') : m);
  for (const [id, ms] of self) {
    // esbuild names each CommonJS module body after its path.
    let outer: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = byId.get(cur)?.callFrame.functionName ?? '';
      if (name.startsWith('node_modules/')) outer = name;
    }
    if (outer) init.set(pkgOf(outer), (init.get(pkgOf(outer)) ?? 0) + ms);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const m = srcOfNode.get(cur);
      if (m && !seen.has(m)) {
        seen.add(m);
        incl.set(m, (incl.get(m) ?? 0) + ms);
      }
    }
  }
  const pkg = new Map<string, number>();
  for (const [m, ms] of mod) pkg.set(pkgOf(m), (pkg.get(pkgOf(m)) ?? 0) + ms);
  const pct = (ms: number): number => Math.round((ms / total) * 1000) / 10;
  const r = (ms: number): number => Math.round(ms * 10) / 10;
  return {
    totalMs: r((profile.endTime - profile.startTime) / 1000),
    sampledMs: r(total),
    byFunction: [...fn.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top).map((e) => ({ ...e, selfMs: r(e.selfMs), pct: pct(e.selfMs) })),
    byModule: [...mod].sort((a, b) => b[1] - a[1]).slice(0, top).map(([module, ms]) => ({ module, selfMs: r(ms), pct: pct(ms) })),
    initByPackage: [...init].sort((a, b) => b[1] - a[1]).slice(0, top).map(([p, ms]) => ({ pkg: p, ms: r(ms), pct: pct(ms) })),
    inclusiveBySource: [...incl].sort((a, b) => b[1] - a[1]).slice(0, top).map(([module, ms]) => ({ module, ms: r(ms), pct: pct(ms) })),
    byPackage: [...pkg].sort((a, b) => b[1] - a[1]).slice(0, top).map(([p, ms]) => ({ pkg: p, selfMs: r(ms), pct: pct(ms) })),
  };
}

export function printProfile(s: ProfileSummary): string {
  const out: string[] = [`profile: ${s.totalMs} ms wall, ${s.sampledMs} ms sampled`];
  out.push('', 'self time by package/area:');
  for (const p of s.byPackage) out.push(`  ${String(p.selfMs).padStart(8)} ms ${String(p.pct).padStart(5)}%  ${p.pkg}`);
  out.push('', 'module initialisation (require of a bundled package, its own requires included):');
  for (const m of s.initByPackage) out.push(`  ${String(m.ms).padStart(8)} ms ${String(m.pct).padStart(5)}%  ${m.pkg}`);
  out.push('', 'inclusive time by src/ module (a frame of it on the stack):');
  for (const m of s.inclusiveBySource) out.push(`  ${String(m.ms).padStart(8)} ms ${String(m.pct).padStart(5)}%  ${m.module}`);
  out.push('', 'self time by module:');
  for (const m of s.byModule) out.push(`  ${String(m.selfMs).padStart(8)} ms ${String(m.pct).padStart(5)}%  ${m.module}`);
  out.push('', 'self time by function:');
  for (const f of s.byFunction) out.push(`  ${String(f.selfMs).padStart(8)} ms ${String(f.pct).padStart(5)}%  ${f.name}  ${f.where}`);
  return out.join('\n');
}

// run-ts bundles every entry into one file, so require.main is always the bundle: check its name.
if (/\/profile\.js$/.test(process.argv[1] ?? '')) {
  const [file, top, bundle] = process.argv.slice(2);
  if (!file) {
    console.error('usage: profile.ts <file.cpuprofile> [top] [bundle]');
    process.exit(2);
  }
  console.log(printProfile(summarizeProfile(file, bundle ?? 'dist/chainloop-plugin-oci-registry.js', Number(top ?? 25))));
}
