import { createHash } from 'node:crypto';
import { parseEnvelope, type ParsedEnvelope } from './envelope';
import { takeEnvelopeDigest } from './envelope-digest';

export { classifyEnvelope, DSSE_MEDIA_TYPE, EnvelopeError, JSON_MEDIA_TYPE } from './envelope';

export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
export const ATTESTATION_TITLE = 'attestation.json';
export const AUTHORS = 'chainloop.dev';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The blobs and manifest that carry one attestation into a registry. */
export interface AttestationArtifact {
  /** sha256 hex of the envelope bytes: names the repository the artifact lands in. */
  envelopeHex: string;
  layer: { bytes: Uint8Array; descriptor: Descriptor };
  config: { bytes: Uint8Array; descriptor: Descriptor };
  manifest: { bytes: Uint8Array; digest: string; mediaType: string };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Builds the artifact for an envelope, stored byte for byte as its only layer.
 * Everything is a function of the envelope alone (no clock, no host data), so
 * the host's retries of Execute produce the same manifest and digest.
 */
export function buildAttestationArtifact(
  envelope: Uint8Array,
  annotations: Record<string, string> = {},
  parsed: ParsedEnvelope = parseEnvelope(envelope),
): AttestationArtifact {
  // Large envelopes were hashed as they arrived (envelope-digest.ts).
  const envelopeHex = takeEnvelopeDigest(envelope) ?? sha256Hex(envelope);
  const layerDescriptor: Descriptor = {
    mediaType: parsed.mediaType,
    digest: `sha256:${envelopeHex}`,
    size: envelope.byteLength,
    annotations: { 'org.opencontainers.image.title': ATTESTATION_TITLE },
  };
  // A valid image config whose rootfs lists the (uncompressed) layer, so
  // skopeo, umoci and crane can inspect the artifact like any image.
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'unknown',
      os: 'unknown',
      config: {},
      rootfs: { type: 'layers', diff_ids: [layerDescriptor.digest] },
    }),
  );
  const configDescriptor: Descriptor = {
    mediaType: OCI_CONFIG_MEDIA_TYPE,
    digest: `sha256:${sha256Hex(configBytes)}`,
    size: configBytes.byteLength,
  };
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: configDescriptor,
      layers: [layerDescriptor],
      annotations: {
        'org.opencontainers.image.authors': AUTHORS,
        'org.opencontainers.image.title': ATTESTATION_TITLE,
        ...annotations,
      },
    }),
  );
  return {
    envelopeHex,
    layer: { bytes: envelope, descriptor: layerDescriptor },
    config: { bytes: configBytes, descriptor: configDescriptor },
    manifest: { bytes: manifestBytes, digest: `sha256:${sha256Hex(manifestBytes)}`, mediaType: OCI_MANIFEST_MEDIA_TYPE },
  };
}
