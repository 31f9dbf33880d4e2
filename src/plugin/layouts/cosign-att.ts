/**
 * cosign's `sha256-<digest>.att` manifest: an image manifest with one DSSE
 * layer per attestation and an image config whose rootfs lists them (what
 * ggcr's mutate.Append on empty.Image writes). Existing layers are kept
 * verbatim, unknown fields included; ours is appended.
 */
import { sha256Digest } from '../../oci';
import { DSSE_MEDIA_TYPE, OCI_CONFIG_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE } from '../artifact';
import type { BuiltManifest } from './oci-referrer';

/** cosign cannot read a `.att` with more layers than this (pkg/oci/mutate/signatures.go). */
export const COSIGN_MAX_LAYERS = 1000;
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const ZERO_TIME = '0001-01-01T00:00:00Z';

export type AttLayer = Record<string, unknown> & { digest: string };

export interface BuiltAtt {
  manifest: BuiltManifest;
  config: { bytes: Uint8Array; digest: string; size: number };
}

export function cosignAttLayer(envelope: { digest: string; size: number }, predicateType: string | undefined): AttLayer {
  return {
    mediaType: DSSE_MEDIA_TYPE,
    size: envelope.size,
    digest: envelope.digest,
    annotations: { 'dev.cosignproject.cosign/signature': '', ...(predicateType ? { predicateType } : {}) },
  };
}

/** `existingLayers` come from the current `.att` (or [] for none); `docker` keeps its Docker media types. */
export function buildCosignAtt(existingLayers: readonly unknown[], layer: AttLayer, docker = false): BuiltAtt {
  const layers = [...existingLayers, layer];
  const diffIds = layers.map((l) => (l as { digest?: unknown }).digest);
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: ZERO_TIME,
      history: layers.map(() => ({ created: ZERO_TIME })),
      os: '',
      rootfs: { type: 'layers', diff_ids: diffIds },
      config: {},
    }),
  );
  const config = { bytes: configBytes, digest: sha256Digest(configBytes), size: configBytes.byteLength };
  const mediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST_MEDIA_TYPE;
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG_MEDIA_TYPE, size: config.size, digest: config.digest },
      layers,
    }),
  );
  return { manifest: { bytes, digest: sha256Digest(bytes), mediaType }, config };
}
