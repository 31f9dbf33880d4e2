/**
 * Blob upload: POST a session, then either one monolithic PUT ?digest= or,
 * where the registry refuses that, PATCH chunks and a closing PUT. Never a
 * monolithic POST ?digest= (distribution 2.8 accepts it but stores nothing).
 *
 * Each request is retried on its own. A PUT that failed in transit may have
 * been committed, so its retry first asks whether the blob exists; a PATCH
 * that failed in transit resumes from the Range the session reports. Only
 * when the registry has lost the session does the upload start over.
 */
import { DigestMismatchError, RegistryError, isTemporary } from './errors';
import { header, type HttpResponse } from './http';
import type { Repository } from './reference';
import { discard } from './response';
import { withRetry } from './retry';
import { failure, nextLocation, retryContext, sendToUpload, startUpload, type Session, type UploadTarget } from './session';
import { blobExists } from './blob';

const OCTETS = { 'content-type': 'application/octet-stream' };

/** Thrown inside when a registry refuses a monolithic PUT; never leaves this module. */
class MonolithicRefused extends Error {
  constructor(readonly refusal: RegistryError) {
    super(refusal.message);
  }
}

export async function pushBlob(s: Session, repo: Repository, data: Uint8Array, digest: string, signal?: AbortSignal): Promise<string> {
  for (let restarts = 0; ; ) {
    const target = await withRetry(() => startUpload(s, repo, signal), s.opts.retry, retryContext(s, 'blob upload start', signal));
    try {
      if (s.chunkedOnly.has(repo.apiHost)) await uploadChunked(s, repo, target, data, digest, signal);
      else await closeUpload(s, repo, target, data, digest, signal);
      return digest;
    } catch (err) {
      if (err instanceof MonolithicRefused) {
        // Remembered per registry: later uploads go chunked straight away.
        s.chunkedOnly.add(repo.apiHost);
        s.opts.logger('info', 'the registry refused a monolithic blob upload; uploading in chunks', { host: repo.apiHost, error: err.message });
        continue;
      }
      if (!sessionGone(err) || restarts >= s.opts.uploadRestarts) throw err;
      if (await existsQuietly(s, repo, digest, signal)) return digest;
      restarts += 1;
      s.opts.logger('info', 'the registry lost the upload session; starting over', { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** PATCHes the blob in chunks of at least OCI-Chunk-Min-Length, then closes the session. */
async function uploadChunked(s: Session, repo: Repository, start: UploadTarget, data: Uint8Array, digest: string, signal?: AbortSignal): Promise<void> {
  const chunk = Math.max(s.opts.chunkSize, start.minChunk ?? 0);
  let target = start;
  let offset = 0;
  while (offset < data.byteLength) {
    const from = offset;
    offset = await withRetry(
      async (attempt) => {
        if (attempt > 1) {
          // The last PATCH may or may not have landed: the session knows.
          const status = await uploadStatus(s, repo, target, signal);
          target = status.target;
          if (status.offset !== from) return Math.min(status.offset, data.byteLength);
        }
        const end = Math.min(data.byteLength, from + chunk);
        const res = await sendToUpload(
          s,
          repo,
          target,
          { method: 'PATCH', headers: { ...OCTETS, 'content-range': `${from}-${end - 1}` }, body: data.subarray(from, end) },
          signal,
        );
        if (res.status !== 202 && res.status !== 204) throw await failure(s, res);
        await discard(res);
        target = { ...target, ...nextLocation(res, target.registry) };
        return Math.min(rangeEnd(res) ?? end, data.byteLength);
      },
      s.opts.retry,
      retryContext(s, 'blob chunk upload', signal),
    );
  }
  await closeUpload(s, repo, target, undefined, digest, signal);
}

/** GET on the session: where the registry stands (204 + Range + Location). */
async function uploadStatus(s: Session, repo: Repository, target: UploadTarget, signal?: AbortSignal): Promise<{ target: UploadTarget; offset: number }> {
  const res = await sendToUpload(s, repo, target, { method: 'GET' }, signal);
  if (res.status !== 204 && res.status !== 202) throw await failure(s, res);
  await discard(res);
  const next = header(res, 'location') ? { ...target, ...nextLocation(res, target.registry) } : target;
  return { target: next, offset: rangeEnd(res) ?? 0 };
}

/**
 * The closing PUT ?digest=, with the whole blob (monolithic) or nothing
 * (after PATCHes). A refusal of the monolithic form becomes MonolithicRefused.
 */
async function closeUpload(s: Session, repo: Repository, target: UploadTarget, body: Uint8Array | undefined, digest: string, signal?: AbortSignal): Promise<void> {
  const url = new URL(target.url.href);
  url.searchParams.append('digest', digest);
  let inDoubt = false;
  await withRetry(
    async () => {
      // A PUT that failed in transit may still have been committed: check first.
      if (inDoubt && (await existsQuietly(s, repo, digest, signal))) return;
      let res: HttpResponse;
      try {
        res = await sendToUpload(s, repo, target, { method: 'PUT', url, headers: OCTETS, body: body ?? new Uint8Array() }, signal);
      } catch (err) {
        inDoubt ||= isTemporary(err);
        throw err;
      }
      if (res.status < 200 || res.status > 299) {
        const err = await failure(s, res);
        if (body !== undefined && refusesMonolithic(err)) throw new MonolithicRefused(err as RegistryError);
        inDoubt ||= isTemporary(err);
        throw err;
      }
      await discard(res);
      const reported = header(res, 'docker-content-digest');
      if (reported && reported !== digest) throw new DigestMismatchError(`blob upload to ${repo}`, digest, reported);
    },
    s.opts.retry,
    retryContext(s, 'blob upload', signal),
  );
}

/** The existence check is an optimisation: when it fails, the answer is "not known to exist". */
async function existsQuietly(s: Session, repo: Repository, digest: string, signal?: AbortSignal): Promise<boolean> {
  try {
    return await blobExists(s, repo, digest, signal);
  } catch (err) {
    if (signal?.aborted) throw err;
    return false;
  }
}

/** Registries that only take chunked uploads answer the monolithic PUT like this. */
function refusesMonolithic(err: Error): boolean {
  if (!(err instanceof RegistryError)) return false;
  return err.status === 405 || err.status === 501 || err.status === 413 || err.hasCode('UNSUPPORTED');
}

/** The registry no longer knows the session (consumed, expired or out of step). */
function sessionGone(err: unknown): boolean {
  if (!(err instanceof RegistryError)) return false;
  if (err.hasCode('BLOB_UPLOAD_UNKNOWN') || err.hasCode('BLOB_UPLOAD_INVALID')) return true;
  return (err.status === 404 || err.status === 416) && err.errors.length === 0;
}

/** `Range: 0-<last>` (some registries write `bytes=0-<last>`): the next offset. */
function rangeEnd(res: HttpResponse): number | undefined {
  const m = /(\d+)-(\d+)/.exec(header(res, 'range') ?? '');
  return m ? Number(m[2]) + 1 : undefined;
}

/** Closes a session whose bytes were all sent already (streamed-upload.ts): the PUT ?digest= with no body. */
export function commitUpload(s: Session, repo: Repository, target: UploadTarget, digest: string, signal?: AbortSignal): Promise<void> {
  return closeUpload(s, repo, target, undefined, digest, signal);
}
