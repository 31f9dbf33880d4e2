/**
 * Read-modify-write of a tagged manifest that many writers append to (the
 * referrers fallback index, cosign's `.att`). Registries that need these
 * offer no working lock (distribution 2.8.2 ignores If-Match), so:
 * serialize per tag within the process, send If-Match when an ETag came
 * back, and read again after writing to confirm the change survived.
 */
import { header, mediaTypeOf } from './http';
import { MANIFEST_ACCEPT } from './media-types';
import type { Repository } from './reference';
import { discard, readLimited } from './response';
import { withRetry } from './retry';
import { sendManifestPut } from './manifest';
import { apiUrl, failure, protocolError, retryContext, type Session } from './session';
import { sha256Digest } from './digest';
import { OciError } from './errors';

export interface CurrentManifest {
  bytes: Uint8Array;
  mediaType: string;
  etag?: string;
}

/** The `digest` of a descriptor-shaped entry kept verbatim (an index entry, a layer). */
export function digestOf(entry: unknown): unknown {
  return entry !== null && typeof entry === 'object' ? (entry as { digest?: unknown }).digest : undefined;
}

/**
 * A tag's content as a JSON object, with its media type as the content
 * declares it (else as the registry served it); undefined when it is not a
 * JSON object at all.
 */
export function parseCurrent(current: CurrentManifest): { body: Record<string, unknown>; mediaType: string } | undefined {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(current.bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  return { body: b, mediaType: typeof b.mediaType === 'string' ? b.mediaType : current.mediaType };
}

/** What the caller wants done with the current content (undefined = the tag does not exist). */
export type TagDecision =
  | { done: string }
  | { write: { bytes: Uint8Array; mediaType: string }; before?: () => Promise<void> };

export interface TagUpdate {
  /** Decide from the current content. `done` ends the update with that outcome. */
  decide(current: CurrentManifest | undefined): TagDecision | Promise<TagDecision>;
  /** True when the content read back already includes our change. */
  applied(current: CurrentManifest | undefined): boolean;
}

export const TAG_UPDATE_ATTEMPTS = 5;

/** Other writers kept winning: temporary, so Execute fails and the host's retry tries again. */
export class TagUpdateConflictError extends OciError {
  constructor(where: string) {
    super('OCI_TAG_UPDATE_CONFLICT', `the update of ${where} did not persist after ${TAG_UPDATE_ATTEMPTS} attempts (concurrent writers)`);
  }

  override isTemporary(): boolean {
    return true;
  }
}
const locks = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier holder of `key` (process-wide, so all clients share it). */
export async function withTagLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = locks.get(key) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const tail = run.catch(() => undefined);
  locks.set(key, tail);
  try {
    return await run;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}

/** Outcome: the decision's `done` value, or 'written'. Throws when it did not stick after TAG_UPDATE_ATTEMPTS. */
export function updateTag(s: Session, repo: Repository, tag: string, update: TagUpdate, signal?: AbortSignal): Promise<string> {
  return withTagLock(`${repo.scheme}://${repo.apiHost}/${repo.path}:${tag}`, async () => {
    for (let attempt = 1; attempt <= TAG_UPDATE_ATTEMPTS; attempt++) {
      const current = await readTag(s, repo, tag, signal);
      const decision = await update.decide(current);
      if ('done' in decision) return decision.done;
      if (decision.before) await decision.before();
      const accepted = await putTag(s, repo, tag, decision.write, current?.etag, signal);
      if (!accepted) continue; // 412: someone else wrote first
      // Another process may have overwritten us between PUT and now: look again, after a short jitter.
      await s.opts.retry.sleep(20 + Math.floor(s.opts.retry.random() * 80), signal);
      if (update.applied(await readTag(s, repo, tag, signal))) return 'written';
    }
    throw new TagUpdateConflictError(`${repo.toString()}:${tag}`);
  });
}

/** GET with every manifest type in Accept: distribution 404s an index to a client that does not list it. */
export function readTag(s: Session, repo: Repository, tag: string, signal?: AbortSignal): Promise<CurrentManifest | undefined> {
  return withRetry(
    async () => {
      const res = await s.auth.send(repo, 'pull', {
        method: 'GET',
        url: apiUrl(repo, `manifests/${tag}`),
        headers: { accept: MANIFEST_ACCEPT },
        ...(signal ? { signal } : {}),
      });
      if (res.status === 404) {
        await discard(res);
        return undefined;
      }
      if (res.status !== 200) throw await failure(s, res);
      const { bytes, truncated } = await readLimited(res, s.opts.manifestSizeLimit);
      if (truncated) throw protocolError(res, 'MANIFEST_TOO_LARGE', `${tag} exceeds ${s.opts.manifestSizeLimit} bytes`);
      const mediaType = mediaTypeOf(res);
      const etag = header(res, 'etag');
      return { bytes, mediaType, ...(etag ? { etag } : {}) };
    },
    s.opts.retry,
    retryContext(s, `read ${tag}`, signal),
  );
}

/** PUT the tag; false on 412 (the ETag no longer matches). */
async function putTag(
  s: Session,
  repo: Repository,
  tag: string,
  content: { bytes: Uint8Array; mediaType: string },
  etag: string | undefined,
  signal?: AbortSignal,
): Promise<boolean> {
  const digest = sha256Digest(content.bytes);
  return withRetry(
    async () =>
      (await sendManifestPut(s, repo, tag, { ...content, digest }, { ...(etag ? { ifMatch: etag } : {}), staleOn412: true }, signal)) ===
      'written',
    s.opts.retry,
    retryContext(s, `write ${tag}`, signal),
  );
}
