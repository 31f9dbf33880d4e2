/**
 * Blob upload and download. Uploads always use POST + PUT ?digest= (never a
 * monolithic POST ?digest=, which distribution 2.8 accepts but silently
 * stores empty).
 */
import { DigestMismatchError, InvalidReferenceError } from './errors';
import { header } from './http';
import { isSha256Digest, sha256Digest } from './digest';
import type { Repository } from './reference';
import { discard, readAll } from './response';
import { withRetry } from './retry';
import { apiUrl, failure, getFollowing, retryContext, startUpload, type Session } from './session';

export async function pushBlob(s: Session, repo: Repository, data: Uint8Array, digest: string, signal?: AbortSignal): Promise<string> {
  let putAttempted = false;
  return withRetry(
    async () => {
      // A PUT that failed in transit may still have been committed: check first.
      if (putAttempted && (await blobExists(s, repo, digest, signal))) return digest;
      // The old session may be consumed or expired, so each attempt starts a new one.
      const url = await startUpload(s, repo, signal);
      url.searchParams.append('digest', digest);
      putAttempted = true;
      const res = await s.auth.send(repo, 'pull,push', {
        method: 'PUT',
        url,
        headers: { 'content-type': 'application/octet-stream' },
        body: data,
        ...(signal ? { signal } : {}),
      });
      if (res.status < 200 || res.status > 299) throw await failure(s, res);
      await discard(res);
      const reported = header(res, 'docker-content-digest');
      if (reported && reported !== digest) throw new DigestMismatchError(`blob upload to ${repo}`, digest, reported);
      return digest;
    },
    s.opts.retry,
    retryContext(s, 'blob upload', signal),
  );
}

export async function blobExists(s: Session, repo: Repository, digest: string, signal?: AbortSignal): Promise<boolean> {
  const res = await s.auth.send(repo, 'pull,push', { method: 'HEAD', url: apiUrl(repo, `blobs/${digest}`), ...(signal ? { signal } : {}) });
  await discard(res);
  if (res.status === 200) return true;
  // Registries only redirect blobs they hold to storage.
  if (res.status === 307 || res.status === 302) return true;
  if (res.status === 404) return false;
  throw await failure(s, res);
}

export async function getBlob(s: Session, repo: Repository, digest: string, signal?: AbortSignal): Promise<Uint8Array> {
  if (!isSha256Digest(digest)) throw new InvalidReferenceError(digest, 'only sha256 digests are supported', 'digest');
  return withRetry(
    async () => {
      const res = await getFollowing(s, repo, apiUrl(repo, `blobs/${digest}`), {}, signal);
      if (res.status !== 200) throw await failure(s, res);
      const bytes = await readAll(res);
      const actual = sha256Digest(bytes);
      if (actual !== digest) throw new DigestMismatchError(`blob ${digest} from ${repo}`, digest, actual);
      return bytes;
    },
    s.opts.retry,
    retryContext(s, 'blob download', signal),
  );
}
