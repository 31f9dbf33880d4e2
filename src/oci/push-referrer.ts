/**
 * Pushes one OCI 1.1 referrer and makes it listable: the blobs (mounted when
 * the registry already holds them elsewhere), the manifest by digest, then
 * either the registry's own referrers API (detected, cached per registry and
 * repository) or the fallback index. Written once, for any referrer.
 */
import { ensureBlob } from './blob-mount';
import { DigestMismatchError } from './errors';
import { addToFallbackIndex, type FallbackOutcome, type ReferrerEntry } from './fallback-index';
import { header } from './http';
import type { Repository } from './reference';
import { referrersApiAnswers, type ReferrersSupportCache } from './referrers';
import { discard } from './response';
import { withRetry } from './retry';
import { apiUrl, failure, retryContext, type Session } from './session';

export interface Referrer {
  manifest: { bytes: Uint8Array; mediaType: string; digest: string };
  /** Every blob the manifest names (config and layers). */
  blobs: Array<{ digest: string; bytes: Uint8Array }>;
  subjectDigest: string;
  /** A repository on the same registry that holds the blobs, to mount from. */
  mountFrom?: Repository;
}

export type ReferrerOutcome = 'native-api' | FallbackOutcome;

export async function pushReferrer(
  s: Session,
  support: ReferrersSupportCache,
  repo: Repository,
  ref: Referrer,
  signal?: AbortSignal,
): Promise<ReferrerOutcome> {
  for (const blob of ref.blobs) await ensureBlob(s, repo, blob.digest, blob.bytes, ref.mountFrom, signal);
  const ociSubject = await putByDigest(s, repo, ref.manifest, signal);

  let supported = support.get(repo);
  if (supported === undefined || (supported && ociSubject !== ref.subjectDigest)) {
    supported = ociSubject === ref.subjectDigest && (await referrersApiAnswers(s, repo, ref.subjectDigest, signal));
    support.set(repo, supported);
  }
  if (supported) return 'native-api';
  return addToFallbackIndex(s, repo, ref.subjectDigest, fallbackEntry(ref.manifest), signal);
}

/** The spec's fallback descriptor: artifactType (else config.mediaType) and every manifest annotation, copied. */
export function fallbackEntry(manifest: { bytes: Uint8Array; mediaType: string; digest: string }): ReferrerEntry {
  const body = JSON.parse(Buffer.from(manifest.bytes).toString('utf8')) as {
    artifactType?: string;
    config?: { mediaType?: string };
    annotations?: Record<string, string>;
  };
  return {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.bytes.byteLength,
    artifactType: body.artifactType ?? body.config?.mediaType ?? '',
    annotations: body.annotations ?? {},
  };
}

/** PUT manifests/<digest>; returns the `OCI-Subject` the registry echoed, if any. */
async function putByDigest(s: Session, repo: Repository, manifest: Referrer['manifest'], signal?: AbortSignal): Promise<string | undefined> {
  return withRetry(
    async () => {
      const res = await s.auth.send(repo, 'pull,push', {
        method: 'PUT',
        url: apiUrl(repo, `manifests/${manifest.digest}`),
        headers: { 'content-type': manifest.mediaType },
        body: manifest.bytes,
        ...(signal ? { signal } : {}),
      });
      if (res.status !== 200 && res.status !== 201 && res.status !== 202) throw await failure(s, res);
      await discard(res);
      const reported = header(res, 'docker-content-digest');
      if (reported && reported !== manifest.digest) throw new DigestMismatchError(`referrer ${repo}`, manifest.digest, reported);
      return header(res, 'oci-subject');
    },
    s.opts.retry,
    retryContext(s, 'referrer upload', signal),
  );
}
