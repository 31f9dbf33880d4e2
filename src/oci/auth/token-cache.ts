/**
 * Bearer token cache keyed by registry host + scope, with one shared
 * in-flight fetch per key (as oras-go v2 registry/remote/auth/cache.go does)
 * so concurrent blob pushes to one repository trigger a single token request.
 * Failed fetches are not cached.
 *
 * Chainloop's layout gives every attestation a repository of its own, so a
 * long-lived client fetches a token per attestation and never asks for most
 * of them again. Expired tokens are therefore swept, not only dropped when
 * their key is asked for; otherwise the cache grows with every Execute.
 * A token leaves tokens() (the list error text is scrubbed of) only
 * `retainMs` after it stopped being used, so an answer to a request that
 * still carried it is scrubbed too.
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
  /** How long a token stays in tokens() after it expired or was dropped. */
  retainMs: number;
}

/**
 * A sweep runs on an insert once the cache has doubled since the last sweep
 * (so its cost is spread over the inserts) or a minute has passed (so a
 * quieter client lets go of what a busy hour left).
 */
const MIN_SWEEP_SIZE = 64;
const SWEEP_INTERVAL_MS = 60_000;

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<string>>();
  /** Tokens no longer handed out, with the time they stop being scrubbed. */
  private readonly retired = new Map<string, number>();
  private sweepAt = MIN_SWEEP_SIZE;
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: TokenCacheOptions) {}

  static key(host: string, scope: string): string {
    return `${host} ${scope}`;
  }

  /** A still-valid cached token, without fetching. */
  peek(key: string): string | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.opts.clock() >= e.expiresAt) {
      this.retire(key, e);
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
    if (e && (token === undefined || e.token === token)) this.retire(key, e);
  }

  /** Drops all tokens of a host (its auth realm changed). */
  clearHost(host: string): void {
    for (const [key, e] of this.entries) if (key.startsWith(`${host} `)) this.retire(key, e);
  }

  /** Current tokens and recently retired ones, so error text can be scrubbed of them. */
  tokens(): string[] {
    return [...[...this.entries.values()].map((e) => e.token), ...this.retired.keys()];
  }

  /** Tokens held, current and retired (what the sweep bounds). */
  get size(): number {
    return this.entries.size + this.retired.size;
  }

  private retire(key: string, e: Entry): void {
    this.entries.delete(key);
    // It stopped being handed out when it expired, or now if it is dropped before that.
    const until = Math.min(this.opts.clock(), e.expiresAt) + this.opts.retainMs;
    this.retired.set(e.token, Math.max(until, this.retired.get(e.token) ?? 0));
  }

  private sweep(): void {
    const now = this.opts.clock();
    for (const [key, e] of this.entries) if (now >= e.expiresAt) this.retire(key, e);
    for (const [token, until] of this.retired) if (now >= until) this.retired.delete(token);
    this.sweepAt = Math.max(MIN_SWEEP_SIZE, 2 * this.size);
    this.lastSweep = now;
  }

  private async fetchAndStore(key: string, fetch: () => Promise<FetchedToken>): Promise<string> {
    try {
      const got = await fetch();
      const ttl = got.expiresInMs ?? this.opts.defaultTtlMs;
      // Refresh early so a token does not expire between check and use.
      const margin = Math.min(this.opts.marginMs, ttl / 2);
      const previous = this.entries.get(key);
      if (previous) this.retire(key, previous);
      this.entries.set(key, { token: got.token, expiresAt: this.opts.clock() + ttl - margin });
      if (this.size >= this.sweepAt || this.opts.clock() - this.lastSweep >= SWEEP_INTERVAL_MS) this.sweep();
      return got.token;
    } finally {
      this.inflight.delete(key);
    }
  }
}
