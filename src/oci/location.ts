/**
 * Security checks for URLs the registry hands back to us: upload session
 * Locations and redirects.
 */
import { InsecureRequestError } from './errors';
import { redactUrl } from './redact';

/**
 * Resolves an upload Location (often relative, e.g. "/v2/x/blobs/uploads/uuid")
 * against the request URL. Registries may hand uploads to a storage origin;
 * that is allowed, but the caller sends nothing of ours there but the blob
 * (no Authorization: oras-go advisory GHSA-jxpm-75mh-9fp7). A https→http
 * downgrade and non-HTTP schemes are refused; userinfo is dropped.
 */
export function resolveUploadLocation(requestUrl: URL, location: string): URL {
  const target = parseRelative(requestUrl, location);
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new InsecureRequestError(`refusing upload location with a ${target.protocol} URL`);
  }
  if (requestUrl.protocol === 'https:' && target.protocol === 'http:') {
    throw new InsecureRequestError(`refusing upload location ${redactUrl(target)}: it downgrades https to http`);
  }
  target.username = '';
  target.password = '';
  return target;
}

export interface RedirectHop {
  url: URL;
  /** True when the hop leaves the origin of the original request. */
  crossOrigin: boolean;
}

/**
 * Next hop of a redirect. Blob downloads are commonly redirected to object
 * storage (S3, GCS), so other origins are allowed, but the caller must drop
 * Authorization for them: forwarding it leaks registry credentials to the
 * storage host (GHSA-vh4v-2xq2-g5cg). Downgrades to http are refused.
 */
export function redirectHop(origin: URL, current: URL, location: string): RedirectHop {
  const target = parseRelative(current, location);
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new InsecureRequestError(`refusing redirect to ${target.protocol} URL`);
  }
  if (current.protocol === 'https:' && target.protocol === 'http:') {
    throw new InsecureRequestError(`refusing redirect to ${redactUrl(target)}: it downgrades https to http`);
  }
  return { url: target, crossOrigin: target.origin !== origin.origin };
}

/**
 * The `rel="next"` target of a paginated answer's Link headers (RFC 8288, as
 * the distribution spec uses them for tags and referrers), or undefined on the
 * last page. The next page gets the same credentials as this one, so it must
 * be on the same origin: a registry response must not send them elsewhere.
 */
export function nextPageLink(current: URL, linkHeaders: readonly string[]): URL | undefined {
  for (const value of linkHeaders) {
    // <target> then its parameters, up to the next link (a comma outside quotes).
    for (const m of value.matchAll(/<([^>]*)>((?:[^,<"]|"[^"]*")*)/g)) {
      const rels = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(m[2]!);
      if (!(rels?.[1] ?? rels?.[2] ?? '').toLowerCase().split(/\s+/).includes('next')) continue;
      const target = parseRelative(current, m[1]!);
      if (target.origin !== current.origin) {
        throw new InsecureRequestError(`refusing the next page at ${redactUrl(target)}: it is not on ${current.origin}`);
      }
      target.username = '';
      target.password = '';
      return target;
    }
  }
  return undefined;
}

function parseRelative(base: URL, location: string): URL {
  try {
    return new URL(location, base);
  } catch {
    throw new InsecureRequestError(`refusing malformed location from ${base.host}`);
  }
}

export const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
