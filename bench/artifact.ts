/**
 * The floor's own minimal artifact builder: the same three objects the
 * plugin pushes for an envelope (config blob, envelope as the only layer,
 * OCI image manifest), built with nothing but node:crypto.
 */
import { createHash } from 'node:crypto';

export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';

export interface FloorArtifact {
  hex: string;
  config: { bytes: Buffer; digest: string };
  layer: { bytes: Uint8Array; digest: string };
  manifest: Buffer;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export function buildArtifact(envelope: Uint8Array): FloorArtifact {
  const hex = sha256(envelope);
  const layerDigest = `sha256:${hex}`;
  const config = Buffer.from(
    JSON.stringify({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: [layerDigest] } }),
  );
  const configDigest = `sha256:${sha256(config)}`;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: layerDigest, size: envelope.byteLength }],
    }),
  );
  return { hex, config: { bytes: config, digest: configDigest }, layer: { bytes: envelope, digest: layerDigest }, manifest };
}
