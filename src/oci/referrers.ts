/**
 * OCI 1.1 referrers support: the subject's descriptor (a HEAD, which Docker
 * Hub does not count as a pull) and whether a registry really has the
 * referrers API. Detection is the strict rule of @sigstore/oci: `OCI-Subject`
 * echoed on the PUT *and* `GET /referrers/<digest>` answering 200 with an OCI
 * index. Each half alone has been a false signal (ECR's header without the
 * API, Harbor < 2.11's application/json, GHCR's 303, GitLab's HTML 404).
 * Writing a fallback index that was not needed is harmless (spec: registries
 * that gain the API must include it); skipping one that was needed is not.
 */
import { AuthenticationError, PermissionError } from './errors';
import { header, headerValues, mediaTypeOf } from './http';
import { nextPageLink } from './location';
import { MANIFEST_ACCEPT, MEDIA_TYPES } from './media-types';
import type { Repository } from './reference';
import { discard, readLimited } from './response';
import { withRetry } from './retry';
import { apiUrl, failure, retryContext, type Session } from './session';
import { readIndex } from './fallback-index';
import { readTag } from './tag-update';

export interface SubjectDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** The subject descriptor, or why it cannot be read (a skip, not a failure). */
export type SubjectLookup = { found: SubjectDescriptor } | { unreadable: number };

export async function headSubject(s: Session, repo: Repository, digest: string, signal?: AbortSignal): Promise<SubjectLookup> {
  try {
    return await withRetry(
      async (): Promise<SubjectLookup> => {
        const url = apiUrl(repo, `manifests/${digest}`);
        const sig = signal ? { signal } : {};
        const res = await s.auth.send(repo, 'pull', { method: 'HEAD', url, headers: { accept: MANIFEST_ACCEPT }, ...sig });
        await discard(res);
        if (res.status === 401 || res.status === 403 || res.status === 404) return { unreadable: res.status };
        if (res.status !== 200) throw await failure(s, res);
        const mediaType = mediaTypeOf(res);
        const size = Number(header(res, 'content-length'));
        if (mediaType !== '' && Number.isSafeInteger(size) && size > 0) return { found: { mediaType, digest, size } };
        // No usable headers: the body says both.
        const got = await s.auth.send(repo, 'pull', { method: 'GET', url, headers: { accept: MANIFEST_ACCEPT }, ...sig });
        if (got.status !== 200) throw await failure(s, got);
        const { bytes } = await readLimited(got, s.opts.manifestSizeLimit);
        const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown };
        const type = typeof parsed.mediaType === 'string' ? parsed.mediaType : MEDIA_TYPES.ociManifest;
        return { found: { mediaType: type, digest, size: bytes.byteLength } };
      },
      s.opts.retry,
      retryContext(s, 'subject lookup', signal),
    );
  } catch (err) {
    if (err instanceof AuthenticationError || err instanceof PermissionError) return { unreadable: 401 };
    throw err;
  }
}

const SUPPORT_TTL_MS = 60 * 60 * 1000;

/** Per registry and repository: does the referrers API exist? Remembered for an hour. */
export class ReferrersSupportCache {
  private readonly known = new Map<string, { supported: boolean; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  get(repo: Repository): boolean | undefined {
    const hit = this.known.get(key(repo));
    if (!hit || hit.until <= this.now()) return undefined;
    return hit.supported;
  }

  set(repo: Repository, supported: boolean): void {
    if (this.known.size > 1024) this.known.clear();
    this.known.set(key(repo), { supported, until: this.now() + SUPPORT_TTL_MS });
  }
}

function key(repo: Repository): string {
  return `${repo.scheme}://${repo.apiHost}/${repo.path}`;
}

/**
 * GET /referrers/<digest>, never following redirects (a 303 to another origin
 * must not take the request, let alone credentials, elsewhere). Only a 200
 * OCI index counts; 401/403/5xx are errors the caller handles.
 */
export async function referrersApiAnswers(s: Session, repo: Repository, digest: string, signal?: AbortSignal): Promise<boolean> {
  return withRetry(
    async () => {
      const res = await s.auth.send(repo, 'pull', {
        method: 'GET',
        url: apiUrl(repo, `referrers/${digest}`),
        headers: { accept: MEDIA_TYPES.ociIndex },
        ...(signal ? { signal } : {}),
      });
      if (res.status >= 500 || res.status === 429 || res.status === 408) throw await failure(s, res);
      const type = mediaTypeOf(res);
      if (res.status !== 200 || type !== MEDIA_TYPES.ociIndex) {
        await discard(res);
        return false;
      }
      const { bytes, truncated } = await readLimited(res, s.opts.manifestSizeLimit);
      if (truncated) return true; // a large index is still an index
      try {
        const body = JSON.parse(Buffer.from(bytes).toString('utf8')) as { schemaVersion?: unknown; manifests?: unknown };
        return body.schemaVersion === 2 && Array.isArray(body.manifests);
      } catch {
        return false;
      }
    },
    s.opts.retry,
    retryContext(s, 'referrers API check', signal),
  );
}

export interface ReferrersListing {
  /** `api` = the registry's referrers API; `fallback` = the `sha256-<hex>` tag; `none` = neither has entries. */
  source: 'api' | 'fallback' | 'none';
  manifests: unknown[];
  /** Why the API's pages were not all read (the entries listed are those read before). */
  incomplete?: string;
}

/** Pages of the referrers API read at most: each is one request, and the listing is for a person. */
export const MAX_REFERRER_PAGES = 50;

/**
 * The referrers of `digest`: from the API when it answers an OCI index (every
 * page its Link headers name, on the registry's own origin; never following
 * redirects), else from the fallback tag. A non-index at the tag reads as no
 * entries.
 */
export async function listReferrers(s: Session, repo: Repository, digest: string, signal?: AbortSignal): Promise<ReferrersListing> {
  const api = await readReferrersApi(s, repo, apiUrl(repo, `referrers/${digest}`), signal);
  if (api) return api;
  const current = await readTag(s, repo, digest.replace(':', '-'), signal);
  const manifests = current ? readIndex(current) : undefined;
  return manifests ? { source: 'fallback', manifests } : { source: 'none', manifests: [] };
}

/** Every page of the API's answer, or undefined when its first page is not an OCI index. */
async function readReferrersApi(s: Session, repo: Repository, first: URL, signal?: AbortSignal): Promise<ReferrersListing | undefined> {
  const manifests: unknown[] = [];
  let url: URL | undefined = first;
  for (let page = 1; url; page++) {
    const res = await s.auth.send(repo, 'pull', { method: 'GET', url, headers: { accept: MEDIA_TYPES.ociIndex }, ...(signal ? { signal } : {}) });
    const type = mediaTypeOf(res);
    let entries: unknown[] | undefined;
    if (res.status === 200 && type === MEDIA_TYPES.ociIndex) entries = parseIndexManifests((await readLimited(res, s.opts.manifestSizeLimit)).bytes);
    else await discard(res);
    if (!entries) {
      if (page === 1) return undefined;
      return { source: 'api', manifests, incomplete: `page ${page} of the referrers was not an OCI index (HTTP ${[res.status, type].filter(Boolean).join(' ')})` };
    }
    manifests.push(...entries);
    try {
      url = nextPageLink(url, headerValues(res, 'link'));
    } catch (err) {
      return { source: 'api', manifests, incomplete: (err as Error).message };
    }
    if (url && page === MAX_REFERRER_PAGES) return { source: 'api', manifests, incomplete: `stopped after ${page} pages` };
  }
  return { source: 'api', manifests };
}

function parseIndexManifests(bytes: Uint8Array): unknown[] | undefined {
  try {
    const body = JSON.parse(Buffer.from(bytes).toString('utf8')) as { manifests?: unknown };
    return Array.isArray(body.manifests) ? body.manifests : undefined;
  } catch {
    return undefined;
  }
}
