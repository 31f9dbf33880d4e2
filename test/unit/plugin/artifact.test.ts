import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  buildAttestationArtifact,
  DSSE_MEDIA_TYPE,
  OCI_CONFIG_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
} from '../../../src/plugin/artifact';

const envelope = readFileSync(path.join(__dirname, '../../fixtures/chainloop-envelope-sbom.json'));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('buildAttestationArtifact', () => {
  const artifact = buildAttestationArtifact(envelope);
  const manifest = JSON.parse(Buffer.from(artifact.manifest.bytes).toString()) as Record<string, any>;
  const config = JSON.parse(Buffer.from(artifact.config.bytes).toString()) as Record<string, any>;

  it('stores the envelope bytes as received, as the only layer', () => {
    expect(artifact.layer.bytes).toBe(envelope);
    expect(artifact.envelopeHex).toBe(sha(envelope));
    expect(manifest.layers).toEqual([
      {
        mediaType: DSSE_MEDIA_TYPE,
        digest: `sha256:${sha(envelope)}`,
        size: envelope.length,
        annotations: { 'org.opencontainers.image.title': 'attestation.json' },
      },
    ]);
  });

  it('is an OCI image manifest with the chainloop annotations', () => {
    expect(manifest.schemaVersion).toBe(2);
    expect(manifest.mediaType).toBe(OCI_MANIFEST_MEDIA_TYPE);
    expect(manifest.annotations).toEqual({
      'org.opencontainers.image.authors': 'chainloop.dev',
      'org.opencontainers.image.title': 'attestation.json',
    });
    expect(artifact.manifest.digest).toBe(`sha256:${sha(artifact.manifest.bytes)}`);
  });

  it('has an image config whose rootfs lists the layer', () => {
    expect(manifest.config).toEqual({
      mediaType: OCI_CONFIG_MEDIA_TYPE,
      digest: `sha256:${sha(artifact.config.bytes)}`,
      size: artifact.config.bytes.byteLength,
    });
    expect(config.rootfs).toEqual({ type: 'layers', diff_ids: [`sha256:${sha(envelope)}`] });
    expect(typeof config.architecture).toBe('string');
    expect(typeof config.os).toBe('string');
  });

  it('gives the same bytes for the same envelope (retries are harmless)', () => {
    const again = buildAttestationArtifact(Buffer.from(envelope));
    expect(Buffer.from(again.manifest.bytes).equals(Buffer.from(artifact.manifest.bytes))).toBe(true);
    expect(again.manifest.digest).toBe(artifact.manifest.digest);
  });

  it('gives a different digest for a different envelope', () => {
    const other = buildAttestationArtifact(Buffer.from(envelope.toString().replace('MEQC', 'MEQD')));
    expect(other.manifest.digest).not.toBe(artifact.manifest.digest);
  });
});
