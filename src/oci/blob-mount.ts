/**
 * Puts a blob into a repository that may lack it: HEAD, then a
 * cross-repository mount from a repository on the same registry that holds
 * it (no bytes sent), and an upload only when the registry declines the mount.
 */
import { blobExists } from './blob';
import { pushBlob } from './upload';
import { AuthenticationError, PermissionError } from './errors';
import { header } from './http';
import type { Repository } from './reference';
import { discard } from './response';
import { withRetry } from './retry';
import { apiUrl, failure, nextLocation, retryContext, sendToUpload, type Session } from './session';

export type EnsureOutcome = 'present' | 'mounted' | 'uploaded';

/** `present`: the answer of a HEAD the caller already sent, if it has one. */
export async function ensureBlob(
  s: Session,
  repo: Repository,
  digest: string,
  data: Uint8Array,
  from: Repository | undefined,
  signal?: AbortSignal,
  present?: boolean,
): Promise<EnsureOutcome> {
  if (present ?? (await blobExists(s, repo, digest, signal))) return 'present';
  if (from && from.apiHost === repo.apiHost && from.path !== repo.path) {
    const mounted = await withRetry(
      async () => {
        const url = apiUrl(repo, 'blobs/uploads/');
        url.searchParams.set('mount', digest);
        url.searchParams.set('from', from.path);
        const res = await s.auth.send(repo, 'pull,push', { method: 'POST', url, ...(signal ? { signal } : {}) }, from);
        if (res.status === 201) {
          await discard(res);
          return true;
        }
        if (res.status !== 202) throw await failure(s, res);
        await discard(res);
        // Mount declined (e.g. no pull right on `from`): the 202 opened an upload session; close it.
        // Through the upload sender, so a Location on another origin gets no credentials.
        if (header(res, 'location')) {
          const cancel = await sendToUpload(s, repo, nextLocation(res, res.url), { method: 'DELETE' }, signal).catch(() => undefined);
          if (cancel) await discard(cancel);
        }
        return false;
      },
      s.opts.retry,
      retryContext(s, 'blob mount', signal),
    ).catch((err: unknown) => {
      // Not allowed to read the source after all: an upload needs no such right.
      if (err instanceof AuthenticationError || err instanceof PermissionError) return false;
      throw err;
    });
    if (mounted) return 'mounted';
  }
  await pushBlob(s, repo, data, digest, signal);
  return 'uploaded';
}
