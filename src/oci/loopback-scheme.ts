/**
 * Which scheme a loopback registry speaks. Registries on loopback may serve
 * plain HTTP (the usual local test registry) or TLS with a private CA; like
 * Docker's handling of localhost, the first contact tries TLS and falls back
 * to plain HTTP only when the server does not speak TLS at all (a
 * certificate problem is still an error). The answer is kept per host for the
 * life of the process, so only the first request to a host pays the probe.
 * Registries off loopback are always HTTPS and never probed.
 */
const known = new Map<string, 'https' | 'http'>();

/** OpenSSL's answers when the peer's first bytes are not a TLS record. */
const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'EPROTO']);

/** The URL to use now: `http:` URLs (only ever loopback, see reference.ts) become https when the host speaks TLS. */
export function effectiveUrl(url: URL): URL {
  if (url.protocol !== 'http:' || known.get(url.host) !== 'https') return url;
  const out = new URL(url.href);
  out.protocol = 'https:';
  return out;
}

/** True when the scheme of this plain-HTTP (loopback) URL's host is still unknown. */
export function needsProbe(url: URL): boolean {
  return url.protocol === 'http:' && !known.has(url.host);
}

export function remember(host: string, scheme: 'https' | 'http'): void {
  known.set(host, scheme);
}

/** Whether a failed TLS attempt means "this server speaks plain HTTP". */
export function isNotTls(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  return NOT_TLS.has(String(e?.code)) || NOT_TLS.has(String(e?.cause?.code));
}

/** For tests that start several registries on one port over time. */
export function forgetLoopbackSchemes(): void {
  known.clear();
}
