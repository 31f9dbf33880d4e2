/**
 * Case 2, requests per Execute: a NEW attestation on a WARM plugin (one
 * Execute of another envelope first), counted from the registry's access log
 * plus the token server's records. Peer in the same run: `skopeo copy` of
 * the same artifact from an OCI layout to a new repository, counted the
 * same way.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { copyToOciLayout, runSkopeo } from '../../test/helpers/skopeo';
import { makeEnvelope } from '../envelopes';
import { startBenchPlugin } from '../plugin';
import type { BenchMode } from '../registry';
import { buildArtifact } from '../artifact';
import type { BenchContext } from '../types';

const TARGET: Record<BenchMode, number> = { token: 6, anonymous: 5, basic: 5 };

export async function requestsCase(ctx: BenchContext, mode: BenchMode): Promise<void> {
  const r = ctx.registries.get(mode);
  if (!r) throw new Error(`no ${mode} registry`);
  const bp = await startBenchPlugin(r);
  const layout = await mkdtemp(join(tmpdir(), 'bench-oci-layout-'));
  try {
    await bp.execute(makeEnvelope(ctx.params.envelopeBytes)); // warm-up: another envelope
    await r.settle();
    const envelope = makeEnvelope(ctx.params.envelopeBytes);
    const mark = r.requestMark();
    await bp.execute(envelope);
    await r.settle();
    const pluginRequests = r.describeSince(mark);

    // The peer: the same artifact, from an OCI layout, into a new repository.
    const creds = mode === 'anonymous' ? undefined : { username: r.username, password: r.password };
    const pushed = `${r.repository}/chainloop-${buildArtifact(envelope).hex}:latest`;
    await copyToOciLayout(pushed, join(layout, 'art'), { ...(creds ? { creds } : {}) });
    await r.settle();
    const dest = `docker://${r.repository}/skopeo-peer-${randomBytes(6).toString('hex')}:latest`;
    const peerMark = r.requestMark();
    await runSkopeo(
      [
        '--insecure-policy',
        'copy',
        '--quiet',
        '--preserve-digests',
        `oci:${join(layout, 'art')}:latest`,
        dest,
        '--dest-tls-verify=false',
        ...(creds ? ['--dest-creds', `${creds.username}:${creds.password}`] : ['--dest-no-creds']),
      ],
      { secrets: creds ? [creds.password] : [], timeoutMs: 60_000 },
    );
    await r.settle();
    const peerRequests = r.describeSince(peerMark);

    const value = pluginRequests.length;
    const target = TARGET[mode];
    ctx.record({
      name: 'requests per new attestation (warm)',
      mode,
      value,
      unit: 'requests',
      baseline: peerRequests.length,
      baselineLabel: 'skopeo copy',
      ratio: Math.round((value / peerRequests.length) * 100) / 100,
      target: `≤ ${target}`,
      met: value <= target,
      details: { plugin: pluginRequests, skopeo: peerRequests },
    });
  } finally {
    await bp.stop();
    await rm(layout, { recursive: true, force: true });
  }
}
