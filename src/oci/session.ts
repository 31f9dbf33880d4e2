/**
 * Shared plumbing for registry operations: URL building, error conversion,
 * upload-session start and redirect-following GETs.
 */
import type { Authorizer } from './auth/authorizer';
import { RegistryError } from './errors';
import { header, type HttpRequest, type HttpResponse, type HttpTransport } from './http';
import { REDIRECT_STATUSES, redirectHop, resolveUploadLocation } from './location';
import type { ResolvedClientOptions } from './options';
import { redactUrl } from './redact';
import type { Repository } from './reference';
import { discard, responseError } from './response';
import type { RetryContext } from './retry';

export interface Session {
  transport: HttpTransport;
  auth: Authorizer;
  opts: ResolvedClientOptions;
  /** Registry hosts that refused a monolithic blob PUT: upload in chunks there from then on. */
  chunkedOnly: Set<string>;
}

/** Where an upload session lives; off the registry's origin it gets no credentials. */
export interface UploadTarget {
  url: URL;
  /** The registry origin the session was opened on (redirects are judged against it). */
  registry: URL;
  crossOrigin: boolean;
  /** OCI-Chunk-Min-Length, when the registry announced one. */
  minChunk?: number;
}

/** `<scheme>://<apiHost>/v2/<path>/<suffix>` */
export function apiUrl(repo: Repository, suffix: string): URL {
  return new URL(`${repo.scheme}://${repo.apiHost}/v2/${repo.path}/${suffix}`);
}

export function failure(s: Session, res: HttpResponse): Promise<Error> {
  return responseError(res, { limit: s.opts.errorBodyLimit, secrets: s.auth.secrets(), now: s.opts.clock() });
}

/** Protocol violation by the registry (e.g. a missing header), never retried. */
export function protocolError(res: HttpResponse, code: string, message: string): RegistryError {
  return new RegistryError({ status: res.status, method: res.method, url: redactUrl(res.url), errors: [{ code, message }] });
}

/** POSTs a new upload session and returns its (validated) location. */
export async function startUpload(s: Session, repo: Repository, signal?: AbortSignal): Promise<UploadTarget> {
  const url = apiUrl(repo, 'blobs/uploads/');
  const res = await s.auth.send(repo, 'pull,push', { method: 'POST', url, ...(signal ? { signal } : {}) });
  if (res.status !== 202) throw await failure(s, res);
  await discard(res);
  // res.url is where the request really went (a loopback host may have been upgraded to https).
  const target = nextLocation(res, res.url);
  const minChunk = Number(header(res, 'oci-chunk-min-length'));
  return { ...target, ...(Number.isSafeInteger(minChunk) && minChunk > 0 ? { minChunk } : {}) };
}

/** The Location an upload response points the next request to. */
export function nextLocation(res: HttpResponse, registry: URL): Omit<UploadTarget, 'minChunk'> {
  const location = header(res, 'location');
  if (!location) throw protocolError(res, 'LOCATION_MISSING', 'upload response has no Location header');
  const url = resolveUploadLocation(res.url, location);
  return { url, registry, crossOrigin: url.origin !== registry.origin };
}

/**
 * Sends an upload request (PUT/PATCH/GET/DELETE on a session), following
 * 307/308 with the same method and body for at most opts.maxRedirects hops.
 * Only requests to the registry's own origin carry credentials.
 */
export async function sendToUpload(
  s: Session,
  repo: Repository,
  target: UploadTarget,
  req: { method: string; url?: URL; headers?: Record<string, string>; body?: HttpRequest['body'] },
  signal?: AbortSignal,
): Promise<HttpResponse> {
  const send = (url: URL, crossOrigin: boolean): Promise<HttpResponse> => {
    const full = { method: req.method, url, ...(req.headers ? { headers: req.headers } : {}), ...(req.body !== undefined ? { body: req.body } : {}), ...(signal ? { signal } : {}) };
    return crossOrigin ? s.transport.send(full) : s.auth.send(repo, 'pull,push', full);
  };
  let current = req.url ?? target.url;
  let res = await send(current, target.crossOrigin);
  for (let hops = 0; res.status === 307 || res.status === 308; hops++) {
    const location = header(res, 'location');
    await discard(res);
    if (hops >= s.opts.maxRedirects) throw protocolError(res, 'TOO_MANY_REDIRECTS', `more than ${s.opts.maxRedirects} redirects`);
    if (!location) throw protocolError(res, 'LOCATION_MISSING', 'redirect has no Location header');
    const hop = redirectHop(target.registry, current, location);
    current = hop.url;
    res = await send(hop.url, hop.crossOrigin);
  }
  return res;
}

/**
 * GET with manual redirects (at most opts.maxRedirects hops). Hops on the
 * registry's origin stay authorized; hops to other origins (blob storage)
 * are sent without Authorization because it is only ever added by `auth`.
 */
export async function getFollowing(
  s: Session,
  repo: Repository,
  url: URL,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<HttpResponse> {
  const sig = signal ? { signal } : {};
  let res = await s.auth.send(repo, 'pull', { method: 'GET', url, headers, ...sig });
  const origin = res.url;
  let current = res.url;
  for (let hops = 0; REDIRECT_STATUSES.has(res.status); hops++) {
    const location = header(res, 'location');
    await discard(res);
    if (hops >= s.opts.maxRedirects) throw protocolError(res, 'TOO_MANY_REDIRECTS', `more than ${s.opts.maxRedirects} redirects`);
    if (!location) throw protocolError(res, 'LOCATION_MISSING', 'redirect has no Location header');
    const hop = redirectHop(origin, current, location);
    current = hop.url;
    res = hop.crossOrigin
      ? await s.transport.send({ method: 'GET', url: hop.url, headers, ...sig })
      : await s.auth.send(repo, 'pull', { method: 'GET', url: hop.url, headers, ...sig });
  }
  return res;
}

/** Retry hooks that log each retry with its (already redacted) error message. */
export function retryContext(s: Session, what: string, signal?: AbortSignal): RetryContext {
  return {
    ...(signal ? { signal } : {}),
    onRetry: (err: unknown, attempt: number, delayMs: number) =>
      s.opts.logger('info', `retrying ${what}`, {
        attempt,
        delayMs,
        error: err instanceof Error ? err.message : String(err),
      }),
  };
}
