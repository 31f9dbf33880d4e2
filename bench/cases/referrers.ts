/**
 * Requests each `referrers` option adds to one Execute: a NEW attestation
 * for an image that already has entries, on a WARM plugin, counted from the
 * registry's access log and the token server (distribution has no referrers
 * API, so this is the fallback-index path). Beside each figure: what the
 * design brief's request sequence (§7.4, §7.5) needs on such a registry.
 */
import { parseRepository, RegistryClient } from '../../src/oci';
import { OCI_IMAGE_MANIFEST, smallImage } from '../../test/helpers/referrers';
import { startBenchPlugin } from '../plugin';
import type { BenchMode } from '../registry';
import type { BenchContext } from '../types';

type Option = 'none' | 'oci' | 'cosign' | 'oci+cosign';

/**
 * The brief's sequences, warm (the subject's index/.att exist, the empty
 * config is in the repository), no OCI-Subject so no API probe:
 *   oci:    HEAD subject; HEAD + mount envelope; HEAD {}; PUT referrer; GET, PUT, GET-verify index = 8
 *   cosign: HEAD subject; HEAD + mount envelope; GET .att; POST + PUT config; PUT, GET-verify .att = 8
 *   both:   one HEAD subject, the envelope mounted once (cosign's HEAD finds it) = 8 + 6 = 14
 */
const BRIEF: Record<Exclude<Option, 'none'>, number> = { oci: 8, cosign: 8, 'oci+cosign': 14 };

function envelopeNaming(image: string, digest: string, run: string): Buffer {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: image, digest: { sha256: digest.slice(7) }, annotations: { 'chainloop.material.type': 'CONTAINER_IMAGE' } }],
    predicateType: 'chainloop.dev/attestation/v0.2',
    predicate: { metadata: { name: 'bench', workflowRunID: run, finishedAt: '2024-01-01T00:00:00Z' } },
  };
  const payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  return Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload, signatures: [{ keyid: '', sig: run }] }));
}

async function pushImage(repository: string, username: string, password: string, seed: string): Promise<string> {
  const client = new RegistryClient({ credentials: { username, password } });
  const repo = parseRepository(repository);
  const { layer, config, manifest } = smallImage(`bench ${seed}`);
  await client.pushBlob(repo, config);
  await client.pushBlob(repo, layer);
  return client.pushManifest(repo, 'v1', manifest, OCI_IMAGE_MANIFEST);
}

export async function referrersCase(ctx: BenchContext, mode: BenchMode): Promise<void> {
  const r = ctx.registries.get(mode);
  if (!r) throw new Error(`no ${mode} registry`);
  const counts = new Map<Option, string[]>();
  for (const option of ['none', 'oci', 'cosign', 'oci+cosign'] as Option[]) {
    const image = `${r.repository}/app-${option.replace('+', '-')}`;
    const digest = await pushImage(image, r.username, r.password, option);
    const bp = await startBenchPlugin(r, {}, { referrers: option });
    try {
      await bp.execute(envelopeNaming(image, digest, 'warm-up')); // creates the index/.att, warms tokens
      await r.settle();
      const mark = r.requestMark();
      await bp.execute(envelopeNaming(image, digest, 'measured'));
      await r.settle();
      counts.set(option, r.describeSince(mark));
    } finally {
      await bp.stop();
    }
  }
  // The brief's sequences count registry requests; token fetches are reported on their own row.
  const isToken = (line: string) => line.includes('<token realm>');
  const none = counts.get('none')!;
  for (const option of ['oci', 'cosign', 'oci+cosign'] as const) {
    const all = counts.get(option)!;
    const added = all.filter((l) => !isToken(l)).length - none.filter((l) => !isToken(l)).length;
    const tokens = all.filter(isToken).length - none.filter(isToken).length;
    ctx.record({
      name: `registry requests added by referrers=${option} (warm)`,
      mode,
      value: added,
      unit: 'requests',
      baseline: BRIEF[option],
      baselineLabel: "brief's sequence",
      ratio: Math.round((added / BRIEF[option]) * 100) / 100,
      target: `≤ ${BRIEF[option]}`,
      met: added <= BRIEF[option],
      details: { total: all.length, withoutReferrers: none.length, requests: all },
    });
    if (mode === 'token') {
      // The mount needs pull on the artifact's repository in the same token: one fetch per Execute.
      ctx.record({
        name: `token requests added by referrers=${option} (warm)`,
        mode,
        value: tokens,
        unit: 'requests',
        baseline: null,
        baselineLabel: 'not in the brief (mount scope)',
        ratio: null,
        target: '≤ 1',
        met: tokens <= 1,
        details: {},
      });
    }
  }
}
