/**
 * Who calls a function in a V8 .cpuprofile: self time of `name`, grouped by
 * the chain of its callers (bundle lines mapped to source modules).
 *
 *   node scripts/run-ts.js bench/callers.ts <file.cpuprofile> <functionName> [depth=5] [bundle]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

const [file, name, depthArg, bundleArg] = process.argv.slice(2);
if (!file || !name) {
  console.error('usage: callers.ts <file.cpuprofile> <functionName> [depth] [bundle]');
  process.exit(2);
}
const bundle = bundleArg ?? 'dist/chainloop-plugin-oci-registry.js';
const depth = Number(depthArg ?? 5);
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const lines = readFileSync(bundle, 'utf8').split('\n');
const sections: Array<[number, string]> = [];
lines.forEach((l, i) => {
  const m = /^\/\/ ((?:node_modules|src)\/\S+)$/.exec(l);
  if (m) sections.push([i, m[1]]);
});
const moduleOf = (line: number): string => {
  let found = '?';
  for (const [start, mod] of sections) {
    if (start > line) break;
    found = mod;
  }
  return found;
};
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
const label = (n: Node): string => {
  const cf = n.callFrame;
  const where = cf.url.endsWith(bundle.split('/').pop()!) ? moduleOf(cf.lineNumber) : cf.url.replace(/^.*\//, '');
  return `${cf.functionName || '(anonymous)'} [${where}]`;
};
const agg = new Map<string, number>();
let total = 0;
for (const [id, ms] of self) {
  const n = byId.get(id);
  if (!n || n.callFrame.functionName !== name) continue;
  total += ms;
  const chain: string[] = [];
  for (let cur = parent.get(id); cur !== undefined && chain.length < depth; cur = parent.get(cur)) chain.push(label(byId.get(cur)!));
  const key = chain.join('\n      < ');
  agg.set(key, (agg.get(key) ?? 0) + ms);
}
console.log(`${name}: ${total.toFixed(1)} ms self`);
for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(`${v.toFixed(1).padStart(8)} ms  < ${k}`);
