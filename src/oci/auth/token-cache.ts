/**
 * Bearer token cache keyed by registry host + scope, with one shared
 * in-flight fetch per key (as oras-go v2 registry/remote/auth/cache.go does)
 * so concurrent blob pushes to one repository trigger a single token request.
 * Failed fetches are not cached.
 */

export interface FetchedToken {
  token: string;
  /** Lifetime reported by the token endpoint; default applies when absent. */
  expiresInMs?: number;
}

export interface TokenResult {
  token: string;
  /** True when this call fetched (or joined the fetch of) a new token. */
  fresh: boolean;
}

interface Entry {
  token: string;
  expiresAt: number;
}

export interface TokenCacheOptions {
  clock: () => number;
  defaultTtlMs: number;
  marginMs: number;
}

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(private readonly opts: TokenCacheOptions) {}

  static key(host: string, scope: string): string {
    return `${host} ${scope}`;
  }

  /** A still-valid cached token, without fetching. */
  peek(key: string): string | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.opts.clock() >= e.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return e.token;
  }

  async get(key: string, fetch: () => Promise<FetchedToken>): Promise<TokenResult> {
    const cached = this.peek(key);
    if (cached !== undefined) return { token: cached, fresh: false };
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchAndStore(key, fetch);
      this.inflight.set(key, pending);
    }
    return { token: await pending, fresh: true };
  }

  /** Forget a token the registry refused; only if it is still the cached one. */
  invalidate(key: string, token?: string): void {
    const e = this.entries.get(key);
    if (e && (token === undefined || e.token === token)) this.entries.delete(key);
  }

  /** Drops all tokens of a host (its auth realm changed). */
  clearHost(host: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(`${host} `)) this.entries.delete(key);
  }

  /** Current tokens, so error text can be scrubbed of them. */
  tokens(): string[] {
    return [...this.entries.values()].map((e) => e.token);
  }

  private async fetchAndStore(key: string, fetch: () => Promise<FetchedToken>): Promise<string> {
    try {
      const got = await fetch();
      const ttl = got.expiresInMs ?? this.opts.defaultTtlMs;
      // Refresh early so a token does not expire between check and use.
      const margin = Math.min(this.opts.marginMs, ttl / 2);
      this.entries.set(key, { token: got.token, expiresAt: this.opts.clock() + ttl - margin });
      return got.token;
    } finally {
      this.inflight.delete(key);
    }
  }
}
