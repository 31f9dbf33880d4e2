/** Manifest push and fetch. */
import { DigestMismatchError, InvalidReferenceError, OciError, PermissionError, RegistryError, TagImmutableError } from './errors';
import { header, mediaTypeOf } from './http';
import { isDigest, isSha256Digest, sha256Digest } from './digest';
import { MANIFEST_ACCEPT } from './media-types';
import { isValidTag, type Repository } from './reference';
import { discard, readLimited, summarizeErrors } from './response';
import { safeText } from '../util/safe-text';
import { withRetry } from './retry';
import { apiUrl, failure, getFollowing, protocolError, retryContext, type Session } from './session';

export async function pushManifest(
  s: Session,
  repo: Repository,
  tag: string,
  manifest: Uint8Array,
  mediaType: string,
  signal?: AbortSignal,
): Promise<string> {
  if (!isValidTag(tag) && !isDigest(tag)) throw new InvalidReferenceError(tag, 'tags are 1-128 characters of [A-Za-z0-9_.-], not starting with "." or "-"', 'tag');
  const digest = sha256Digest(manifest);
  try {
    return await putManifest(s, repo, tag, manifest, mediaType, digest, signal);
  } catch (err) {
    if (!refusesRetag(err)) throw err;
    // Immutable tags (Harbor, ECR, ...) refuse a second PUT even of the same
    // bytes: Chainloop's re-delivery of an attestation already stored is a success.
    const held = await heldDigest(s, repo, tag, signal);
    if (held === digest) {
      s.opts.logger('info', 'the tag is immutable and already holds this manifest', { repository: repo.toString(), tag, digest });
      return digest;
    }
    if (held === undefined) throw err;
    throw new TagImmutableError(`${repo.toString()}:${tag}`, held, digest, refusalReason(err));
  }
}

async function putManifest(
  s: Session,
  repo: Repository,
  tag: string,
  manifest: Uint8Array,
  mediaType: string,
  digest: string,
  signal?: AbortSignal,
): Promise<string> {
  // PUT of the same bytes is idempotent, so transient failures are retried.
  return withRetry(
    async () => {
      await sendManifestPut(s, repo, tag, { bytes: manifest, mediaType, digest }, {}, signal);
      return digest;
    },
    s.opts.retry,
    retryContext(s, 'manifest upload', signal),
  );
}

/**
 * One PUT of manifest bytes at `tag`, checked against the digest the registry
 * reports. 'stale' only for a caller that treats 412 as a lost update (with
 * or without If-Match); otherwise a 412 is a failure like any other.
 */
export async function sendManifestPut(
  s: Session,
  repo: Repository,
  tag: string,
  content: { bytes: Uint8Array; mediaType: string; digest: string },
  options: { ifMatch?: string; staleOn412?: boolean },
  signal?: AbortSignal,
): Promise<'written' | 'stale'> {
  const res = await s.auth.send(repo, 'pull,push', {
    method: 'PUT',
    url: apiUrl(repo, `manifests/${tag}`),
    // distribution requires Content-Type to be exactly the manifest media type.
    headers: { 'content-type': content.mediaType, ...(options.ifMatch ? { 'if-match': options.ifMatch } : {}) },
    body: content.bytes,
    ...(signal ? { signal } : {}),
  });
  if (res.status === 412 && options.staleOn412) {
    await discard(res);
    return 'stale';
  }
  if (res.status !== 200 && res.status !== 201 && res.status !== 202) throw await failure(s, res);
  await discard(res);
  const reported = header(res, 'docker-content-digest');
  if (reported && reported !== content.digest) throw new DigestMismatchError(`manifest ${repo}:${tag}`, content.digest, reported);
  return 'written';
}

/** 412/409, or any refusal that says the tag is immutable or already taken. */
function refusesRetag(err: unknown): boolean {
  if (err instanceof RegistryError && (err.status === 412 || err.status === 409)) return true;
  return (err instanceof RegistryError || err instanceof PermissionError) && /immutable|already exists/i.test(err.message);
}

/** The registry's own words, short: the repository is already named in the message. */
function refusalReason(err: unknown): string {
  if (err instanceof RegistryError) return `${err.status}${err.errors.length ? ` ${safeText(summarizeErrors(err.errors), 100)}` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

/** What the tag points at now; undefined when it does not exist (or cannot be read). */
async function heldDigest(s: Session, repo: Repository, tag: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return (await getManifest(s, repo, tag, signal)).digest;
  } catch (err) {
    if (signal?.aborted || !(err instanceof OciError)) throw err;
    return undefined;
  }
}

export interface FetchedManifest {
  bytes: Uint8Array;
  mediaType: string;
  digest: string;
}

export async function getManifest(s: Session, repo: Repository, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
  if (!isValidTag(reference) && !isDigest(reference)) throw new InvalidReferenceError(reference, 'not a tag or digest', 'reference');
  return withRetry(
    async () => {
      const res = await getFollowing(s, repo, apiUrl(repo, `manifests/${reference}`), { accept: MANIFEST_ACCEPT }, signal);
      if (res.status !== 200) throw await failure(s, res);
      const { bytes, truncated } = await readLimited(res, s.opts.manifestSizeLimit);
      if (truncated) throw protocolError(res, 'MANIFEST_TOO_LARGE', `manifest exceeds ${s.opts.manifestSizeLimit} bytes`);
      const digest = sha256Digest(bytes);
      if (isSha256Digest(reference) && reference !== digest) throw new DigestMismatchError(`manifest ${repo}@${reference}`, reference, digest);
      const reported = header(res, 'docker-content-digest');
      if (reported && isSha256Digest(reported) && reported !== digest) {
        throw new DigestMismatchError(`manifest ${repo}:${reference}`, reported, digest);
      }
      const mediaType = mediaTypeOf(res);
      return { bytes, mediaType, digest };
    },
    s.opts.retry,
    retryContext(s, 'manifest download', signal),
  );
}
