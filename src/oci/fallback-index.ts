/**
 * The referrers tag schema (distribution-spec v1.1 "Referrers Tag Schema"):
 * an image index at `<alg>-<hex>` listing the referrers of a subject, kept by
 * clients on registries without the referrers API. Existing entries are kept
 * verbatim (parsed as plain JSON, unknown fields included); ours is appended
 * once. Content at the tag that is not an index is never overwritten.
 */
import { MEDIA_TYPES } from './media-types';
import type { Repository } from './reference';
import type { Session } from './session';
import { digestOf, parseCurrent, updateTag, type CurrentManifest } from './tag-update';

/** distribution rejects manifests over 4 MiB; stay clear of it. */
export const FALLBACK_INDEX_LIMIT = 4 * 1024 * 1024 - 16 * 1024;

export interface ReferrerEntry {
  mediaType: string;
  digest: string;
  size: number;
  artifactType: string;
  annotations: Record<string, string>;
}

export type FallbackOutcome = 'written' | 'already-present' | 'skipped:not-an-index' | 'skipped:index-too-large';

/** `sha256:<hex>` → `sha256-<hex>` */
export function fallbackTag(subjectDigest: string): string {
  return subjectDigest.replace(':', '-');
}

export async function addToFallbackIndex(
  s: Session,
  repo: Repository,
  subjectDigest: string,
  entry: ReferrerEntry,
  signal?: AbortSignal,
): Promise<FallbackOutcome> {
  const outcome = await updateTag(
    s,
    repo,
    fallbackTag(subjectDigest),
    {
      decide(current) {
        const manifests = current ? readIndex(current) : [];
        if (manifests === undefined) return { done: 'skipped:not-an-index' };
        if (manifests.some((m) => digestOf(m) === entry.digest)) return { done: 'already-present' };
        const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [...manifests, entry] }));
        if (bytes.byteLength > FALLBACK_INDEX_LIMIT) return { done: 'skipped:index-too-large' };
        return { write: { bytes, mediaType: MEDIA_TYPES.ociIndex } };
      },
      applied: (current) => (current ? readIndex(current) ?? [] : []).some((m) => digestOf(m) === entry.digest),
    },
    signal,
  );
  return outcome as FallbackOutcome;
}

/** The index's entries, untouched; undefined when the content is not an OCI image index. */
export function readIndex(current: CurrentManifest): unknown[] | undefined {
  const parsed = parseCurrent(current);
  if (!parsed) return undefined;
  const { body, mediaType } = parsed;
  if (body.schemaVersion !== 2 || mediaType !== MEDIA_TYPES.ociIndex || !Array.isArray(body.manifests)) return undefined;
  return body.manifests;
}
