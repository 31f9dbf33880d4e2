/** Blob existence and download; uploads are in upload.ts. */
import { DigestMismatchError, InvalidReferenceError } from './errors';
import { isSha256Digest, sha256Digest } from './digest';
import type { Repository } from './reference';
import { discard, readAll } from './response';
import { withRetry } from './retry';
import { apiUrl, failure, getFollowing, retryContext, type Session } from './session';

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
