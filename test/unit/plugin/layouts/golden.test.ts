/**
 * Golden manifests for both fixture envelopes in every layout: exact bytes
 * (golden/*.json) and digests. The digests the design brief worked out by
 * hand (envelope layer, cosign's 233-byte config) are pinned independently.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseRepository } from '../../../../src/oci';
import { buildAttestationArtifact } from '../../../../src/plugin/artifact';
import { workflowAnnotations } from '../../../../src/plugin/annotations';
import { buildCosignAtt, cosignAttLayer } from '../../../../src/plugin/layouts/cosign-att';
import { buildOciReferrer } from '../../../../src/plugin/layouts/oci-referrer';
import { perAttestationTarget } from '../../../../src/plugin/layouts/per-attestation';
import { singleRepositoryTarget } from '../../../../src/plugin/layouts/single';
import { readStatement } from '../../../../src/plugin/statement';

const fixtures = path.join(__dirname, '../../../fixtures');
const golden = (name: string) => readFileSync(path.join(__dirname, 'golden', name));
const digest = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const SUBJECT = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'ab'.repeat(32)}`, size: 527 };

const cases = [
  {
    fixture: 'chainloop-envelope-image-subject',
    layer: 'sha256:2e9bf8e13acd112eff355787b2b72eb8af4ee51fc22c7e65611939f2225e1dc5',
    size: 4767,
    created: '2023-10-20T12:58:10Z',
    artifact: 'sha256:9131f7756d64c1579441f8f66a6e71dafd7ad5caeccdc07808dc46d543c7d0d0',
    referrer: 'sha256:39ecd20f9b213dfd14269218dc5470e5d8f49652cd2af60afef747088c04807f',
    att: 'sha256:9ea27b42a526b877f0c464c0806a70bcf5c57b9e9a619031933ee31e8f09f066',
    // The brief's worked value for ggcr's empty.Image + one layer.
    attConfig: 'sha256:525613d39f6ebc6241353bd58120a34b666621691e3fb9d8b83a0351b5edf381',
  },
  {
    fixture: 'chainloop-envelope-sbom',
    layer: 'sha256:0adfe2bd5957ef708565b7ec735d299e727f507873d390324b53dfe848149423',
    size: 3089,
    // finishedAt 2023-06-23T15:00:43.70997067+02:00, in UTC with whole seconds.
    created: '2023-06-23T13:00:43Z',
    artifact: 'sha256:a8a6a1c8785493b66c77c812d67fff293ac2fecb5f7ce768e8505b494363d9ee',
    referrer: 'sha256:98eab6e4c8117c74533049efcd56a44a923f2082b5587617ce2ddd6721e06c56',
    att: 'sha256:200d32ee6b7122a3d363ecaa6aa54797a2f6bbb53c15d82f9762e646205e10f8',
    attConfig: 'sha256:e5e81de59047d3474162de71cd6c28b7ca95dfa79819e9cff6af139e2690374e',
  },
];

describe.each(cases)('$fixture', (c) => {
  const envelope = readFileSync(path.join(fixtures, `${c.fixture}.json`));
  const annotations = workflowAnnotations(readStatement(envelope));
  const artifact = buildAttestationArtifact(envelope, annotations);

  it('main artifact: golden bytes, workflow annotations, envelope as the layer', () => {
    expect(Buffer.from(artifact.manifest.bytes).equals(golden(`${c.fixture}.artifact.json`))).toBe(true);
    expect(artifact.manifest.digest).toBe(c.artifact);
    expect(artifact.layer.descriptor).toMatchObject({ digest: c.layer, size: c.size });
    const m = JSON.parse(Buffer.from(artifact.manifest.bytes).toString());
    expect(m.annotations['org.opencontainers.image.created']).toBe(c.created);
    expect(m.annotations['in-toto.io/predicate-type']).toBe('chainloop.dev/attestation/v0.2');
  });

  it('per-attestation and single put the same bytes in different places', () => {
    const repo = parseRepository('ghcr.io/acme/attestations');
    expect(perAttestationTarget(repo, 'chainloop', artifact).repository.toString()).toBe(`ghcr.io/acme/attestations/chainloop-${c.layer.slice(7)}`);
    expect(perAttestationTarget(repo, 'chainloop', artifact).tag).toBe('latest');
    const single = singleRepositoryTarget(repo, 'chainloop', artifact);
    expect(single.repository.toString()).toBe('ghcr.io/acme/attestations/chainloop');
    expect(single.tag).toBe(c.layer.slice(7));
  });

  it('oci referrer: golden bytes and digest', () => {
    const ref = buildOciReferrer(artifact.layer.descriptor, SUBJECT, annotations);
    expect(Buffer.from(ref.bytes).equals(golden(`${c.fixture}.oci-referrer.json`))).toBe(true);
    expect(ref.digest).toBe(c.referrer);
    expect(digest(ref.bytes)).toBe(c.referrer);
    const m = JSON.parse(Buffer.from(ref.bytes).toString());
    expect(m.artifactType).toBe('application/vnd.in-toto+json');
    expect(m.config).toEqual({ mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 });
    expect(m.layers).toEqual([
      {
        mediaType: 'application/vnd.dsse.envelope.v1+json',
        digest: c.layer,
        size: c.size,
        annotations: { 'org.opencontainers.image.title': 'attestation.json', 'in-toto.io/predicate-type': 'chainloop.dev/attestation/v0.2' },
      },
    ]);
    expect(m.subject).toEqual(SUBJECT);
    expect(buildOciReferrer(artifact.layer.descriptor, SUBJECT, annotations).digest).toBe(c.referrer);
  });

  it('cosign .att: golden manifest and config', () => {
    const att = buildCosignAtt([], cosignAttLayer(artifact.layer.descriptor, annotations['in-toto.io/predicate-type']));
    expect(Buffer.from(att.manifest.bytes).equals(golden(`${c.fixture}.cosign-att.json`))).toBe(true);
    expect(Buffer.from(att.config.bytes).equals(golden(`${c.fixture}.cosign-att-config.json`))).toBe(true);
    expect(att.manifest.digest).toBe(c.att);
    expect(att.config.digest).toBe(c.attConfig);
    expect(att.config.size).toBe(233);
  });
});

describe('buildCosignAtt appending', () => {
  it('keeps existing layers verbatim (unknown fields too) and lists every layer in the config', () => {
    const foreign = { mediaType: 'application/vnd.dsse.envelope.v1+json', size: 9, digest: `sha256:${'1'.repeat(64)}`, annotations: { x: 'y' }, extra: [1] };
    const ours = cosignAttLayer({ digest: `sha256:${'2'.repeat(64)}`, size: 5 }, 'p');
    const att = buildCosignAtt([foreign], ours);
    const m = JSON.parse(Buffer.from(att.manifest.bytes).toString());
    expect(m.layers).toEqual([foreign, ours]);
    const config = JSON.parse(Buffer.from(att.config.bytes).toString());
    expect(config.rootfs.diff_ids).toEqual([foreign.digest, ours.digest]);
    expect(config.history).toHaveLength(2);
  });

  it('keeps Docker media types when the existing .att uses them', () => {
    const att = buildCosignAtt([], cosignAttLayer({ digest: `sha256:${'2'.repeat(64)}`, size: 5 }, undefined), true);
    const m = JSON.parse(Buffer.from(att.manifest.bytes).toString());
    expect(m.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(m.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(m.layers[0].annotations).toEqual({ 'dev.cosignproject.cosign/signature': '' });
  });
});
