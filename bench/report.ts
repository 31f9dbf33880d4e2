/** The printed table and bench/results.json. */
import { cpus, totalmem, release } from 'node:os';
import { writeFileSync } from 'node:fs';
import type { CaseOutcome, CaseResult, Params } from './types';

const fmt = (v: number | null, unit = ''): string => {
  if (v === null || v === undefined) return '-';
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  const s = abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(1) : v.toFixed(2);
  return unit ? `${s} ${unit}` : s;
};

export function table(results: CaseResult[]): string {
  const rows = results.map((r) => [
    r.name,
    r.mode,
    fmt(r.value, r.unit),
    r.baseline === null ? '-' : `${fmt(r.baseline, r.unit === 'MiB' || r.unit === 'ms' || r.unit === 'att/s' || r.unit === 'requests' ? r.unit : '')} ${r.baselineLabel}`.trim(),
    r.ratio === null ? '-' : `${fmt(r.ratio)}×`,
    r.target,
    r.met === null ? 'info' : r.met ? 'MET' : 'MISSED',
  ]);
  const head = ['case', 'mode', 'value', 'baseline', 'ratio', 'target', 'result'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function writeResults(path: string, params: Params, results: CaseResult[], outcomes: CaseOutcome[], startedAt: Date): void {
  const cpu = cpus();
  const doc = {
    timestamp: startedAt.toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 100) / 10,
    smoke: params.smoke,
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model ?? 'unknown',
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
      platform: `${process.platform} ${release()}`,
    },
    params,
    cases: results,
    outcomes,
  };
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
}

/** One line per figure whose details explain it (where the time or memory went). */
export function notes(results: CaseResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    const d = r.details as Record<string, any> | undefined;
    if (!d) continue;
    const tag = `${r.name} [${r.mode}]`;
    if (d.pluginReportedPushP50 !== undefined) {
      out.push(
        `${tag}: plugin's own push p50 ${d.pluginReportedPushP50} ms (its log) vs floor p50 ${fmt(d.floor.p50)} ms; ` +
          `gRPC String round trip p50 ${d.grpcStringRoundTripP50} ms`,
      );
    }
    if (d.cpuMsPerAttestation) {
      const c = d.cpuMsPerAttestation;
      out.push(
        `${tag}: CPU ms/attestation plugin path: plugin ${c.plugin.plugin} + host ${c.plugin.benchHost} + registry ${c.plugin.registry}; ` +
          `floor: client ${c.floor.benchHost} + registry ${c.floor.registry}` +
          (c.peer ? `; @sigstore/oci: client ${c.peer.benchHost} + registry ${c.peer.registry}` : '') +
          (c.goref ? `; Go reference plugin: plugin ${c.goref.plugin} + host ${c.goref.benchHost} + registry ${c.goref.registry}` : ''),
      );
    }
    if (d.hopCpu) {
      out.push(
        `${tag}: the host hop alone (Go reference plugin answering on arrival): p50 ${d.hopP50} ms, ` +
          `CPU ms/Execute plugin ${d.hopCpu.plugin} + host ${d.hopCpu.host}`,
      );
    }
    if (d.grpcAndDecodeMs !== undefined) {
      out.push(`${tag}: plugin's own push ${d.pluginPushMs} ms; gRPC transfer into the plugin + decode + response ${d.grpcAndDecodeMs} ms`);
    }
    if (d.idlePeakBytes !== undefined) {
      out.push(
        `${tag}: startup peak (VmHWM before the Execute) ${fmt(d.idlePeakBytes / 2 ** 20)} MiB, ` +
          (d.peakResetBeforeExecute ? 'reset before the Execute' : 'could not be reset: included in the peak'),
      );
    }
  }
  return out;
}
