/**
 * cosign's attestation tag `<alg>-<hex>.att`: an image manifest with one DSSE
 * layer per attestation. The manifest and config bytes come from the caller
 * (the plugin's layout builder); this module owns the protocol: read the
 * tag, keep existing layers verbatim, append once, respect cosign's cap,
 * upload the new config, write with If-Match, verify.
 */
import { pushBlob } from './upload';
import { MEDIA_TYPES } from './media-types';
import type { Repository } from './reference';
import type { Session } from './session';
import { digestOf, parseCurrent, updateTag, type CurrentManifest } from './tag-update';

export type AttOutcome = 'written' | 'already-present' | 'skipped:not-an-image-manifest' | 'skipped:layer-limit';

export interface AttBuild {
  manifest: { bytes: Uint8Array; mediaType: string };
  config: { bytes: Uint8Array; digest: string };
}

export interface AttAppend {
  /** Digest of the envelope layer we add. */
  layerDigest: string;
  /** Most layers a readable `.att` may have (cosign: 1000). */
  maxLayers: number;
  /** Builds the new manifest from the existing layers (verbatim) and whether they use Docker media types. */
  build(existingLayers: unknown[], docker: boolean): AttBuild;
}

/** `sha256:<hex>` → `sha256-<hex>.att` */
export function attTag(subjectDigest: string): string {
  return `${subjectDigest.replace(':', '-')}.att`;
}

export async function appendAttLayer(s: Session, repo: Repository, subjectDigest: string, add: AttAppend, signal?: AbortSignal): Promise<AttOutcome> {
  const outcome = await updateTag(
    s,
    repo,
    attTag(subjectDigest),
    {
      decide(current) {
        const read = current ? readImageLayers(current) : { layers: [], docker: false };
        if (!read) return { done: 'skipped:not-an-image-manifest' };
        if (read.layers.some((l) => digestOf(l) === add.layerDigest)) return { done: 'already-present' };
        if (read.layers.length >= add.maxLayers) return { done: 'skipped:layer-limit' };
        const built = add.build(read.layers, read.docker);
        return {
          write: built.manifest,
          // The config lists every layer, so it is new with each append: upload it (no HEAD) first.
          before: async () => {
            await pushBlob(s, repo, built.config.bytes, built.config.digest, signal);
          },
        };
      },
      applied: (current) => (current ? readImageLayers(current)?.layers ?? [] : []).some((l) => digestOf(l) === add.layerDigest),
    },
    signal,
  );
  return outcome as AttOutcome;
}

function readImageLayers(current: CurrentManifest): { layers: unknown[]; docker: boolean } | undefined {
  const parsed = parseCurrent(current);
  if (!parsed) return undefined;
  const { body, mediaType } = parsed;
  const docker = mediaType === MEDIA_TYPES.dockerManifest;
  if (body.schemaVersion !== 2 || (mediaType !== MEDIA_TYPES.ociManifest && !docker) || !Array.isArray(body.layers)) return undefined;
  return { layers: body.layers, docker };
}
