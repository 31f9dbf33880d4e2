import { createHash } from 'node:crypto';
import { takeEnvelopeDigest } from './envelope-digest';

export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const JSON_MEDIA_TYPE = 'application/json';
export const ATTESTATION_TITLE = 'attestation.json';
export const AUTHORS = 'chainloop.dev';

/** Envelopes up to this size are parsed in full; larger ones are sniffed, so
 * a 256 MiB SBOM envelope does not cost two more copies of itself in memory. */
const FULL_PARSE_LIMIT = 8 * 1024 * 1024;

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

/** The envelope is not something we can store as an attestation. */
export class EnvelopeError extends Error {
  readonly code = 'ENVELOPE_INVALID';
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Builds the artifact for an envelope, stored byte for byte as its only layer.
 * Everything is a function of the envelope alone (no clock, no host data), so
 * the host's retries of Execute produce the same manifest and digest.
 */
export function buildAttestationArtifact(envelope: Uint8Array, annotations: Record<string, string> = {}): AttestationArtifact {
  // Large envelopes were hashed as they arrived (envelope-digest.ts).
  const envelopeHex = takeEnvelopeDigest(envelope) ?? sha256Hex(envelope);
  const layerDescriptor: Descriptor = {
    mediaType: classifyEnvelope(envelope),
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

/** DSSE envelope media type when the JSON has DSSE's shape, plain JSON otherwise. */
export function classifyEnvelope(envelope: Uint8Array): string {
  if (envelope.byteLength === 0) throw new EnvelopeError('the envelope is empty');
  if (envelope.byteLength > FULL_PARSE_LIMIT) return sniffLargeEnvelope(Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength));
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(envelope));
  } catch {
    throw new EnvelopeError('the envelope is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EnvelopeError('the envelope must be a JSON object');
  }
  const v = value as Record<string, unknown>;
  const isDsse = typeof v.payloadType === 'string' && typeof v.payload === 'string' && Array.isArray(v.signatures);
  return isDsse ? DSSE_MEDIA_TYPE : JSON_MEDIA_TYPE;
}

/** Checks a large envelope's outline without decoding it (a view, no copy). */
function sniffLargeEnvelope(buf: Buffer): string {
  const first = firstNonSpace(buf, 0, 1);
  const last = firstNonSpace(buf, buf.length - 1, -1);
  if (buf[first] !== 0x7b /* { */ || buf[last] !== 0x7d /* } */) {
    throw new EnvelopeError('the envelope must be a JSON object');
  }
  const has = (key: string) => buf.indexOf(`"${key}"`) !== -1;
  return has('payloadType') && has('payload') && has('signatures') ? DSSE_MEDIA_TYPE : JSON_MEDIA_TYPE;
}

function firstNonSpace(buf: Buffer, from: number, step: 1 | -1): number {
  let i = from;
  while (i >= 0 && i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i += step;
  return i;
}
