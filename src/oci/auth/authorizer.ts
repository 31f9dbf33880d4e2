/**
 * Attaches registry credentials to requests and handles 401 challenges.
 *
 * The auth scheme (Basic, or Bearer with realm/service) is remembered per
 * registry host after the first challenge, so a warm client authenticates
 * up front: Basic credentials are sent directly, and a token for a new
 * repository scope is fetched before the request instead of after a 401.
 */
import { AuthenticationError, PermissionError } from '../errors';
import { headerValues, type HttpRequest, type HttpResponse, type HttpTransport } from '../http';
import type { ResolvedClientOptions } from '../options';
import type { Repository } from '../reference';
import { credentialForms } from '../redact';
import { discard, errorBodySummary } from '../response';
import { withRetry } from '../retry';
import { parseChallenges, pickChallenge, type Challenge } from './challenge';
import { TokenCache } from './token-cache';
import { basicAuthorization, fetchToken } from './token-fetch';

export type Actions = 'pull' | 'pull,push';

type HostAuth = { kind: 'basic' } | { kind: 'bearer'; realm: string; service?: string };

type Attached =
  | { kind: 'none' }
  | { kind: 'basic'; header: string }
  | { kind: 'bearer'; header: string; token: string; key: string; fresh: boolean };

export class Authorizer {
  private readonly hosts = new Map<string, HostAuth>();
  /** Refresh tokens issued by an OAuth2 realm, keyed by realm URL. */
  private readonly refreshTokens = new Map<string, string>();
  private readonly tokens: TokenCache;

  constructor(
    private readonly transport: HttpTransport,
    private readonly opts: ResolvedClientOptions,
  ) {
    this.tokens = new TokenCache({
      clock: opts.clock,
      defaultTtlMs: opts.tokenDefaultTtlMs,
      marginMs: opts.tokenExpiryMarginMs,
      retainMs: opts.tokenRetainMs,
    });
  }

  /** Every secret this client holds, for scrubbing remote-supplied text. */
  secrets(): string[] {
    // Tokens travel as-is in headers and URL-encoded in form bodies.
    const out = [...this.tokens.tokens(), ...this.refreshTokens.values()].flatMap((t) => [t, encodeURIComponent(t)]);
    const creds = this.opts.credentials;
    if (creds) out.push(...credentialForms(creds.username, creds.password));
    return out;
  }

  /**
   * Sends `req` authorized for `actions` on `repo`. Returns any response
   * other than 401; a 401 that re-authenticating cannot fix becomes an
   * AuthenticationError or PermissionError.
   */
  async send(repo: Repository, actions: Actions, req: HttpRequest, alsoPull?: Repository): Promise<HttpResponse> {
    const scope = scopeOf(repo, actions, alsoPull);
    let auth = await this.attach(repo, scope, actions, req.signal);
    let res = await this.transport.send(withAuthorization(req, auth));
    if (res.status !== 401) return res;

    const changed = this.learn(repo.apiHost, pickChallenge(parseChallenges(headerValues(res, 'www-authenticate'))));
    const stale = auth.kind === 'bearer' && !auth.fresh;
    if (!changed && auth.kind !== 'none' && !stale) throw await this.unauthorized(res, scope);
    if (auth.kind === 'bearer') this.tokens.invalidate(auth.key, auth.token);
    await discard(res);

    auth = await this.attach(repo, scope, actions, req.signal);
    if (auth.kind === 'none') {
      throw new AuthenticationError(repo.apiHost, 'the registry requires credentials and none were provided');
    }
    res = await this.transport.send(withAuthorization(req, auth));
    if (res.status !== 401) return res;
    if (auth.kind === 'bearer') this.tokens.invalidate(auth.key, auth.token);
    throw await this.unauthorized(res, scope);
  }

  /**
   * Fetches the token that `send` would use for these arguments now, ahead of
   * the request, so that the request itself later finds it cached. Registries
   * that take Basic credentials (or whose scheme is not known yet) need nothing.
   */
  async prepare(repo: Repository, actions: Actions, alsoPull?: Repository, signal?: AbortSignal): Promise<void> {
    await this.attach(repo, scopeOf(repo, actions, alsoPull), actions, signal);
  }

  private async attach(repo: Repository, scope: string, actions: Actions, signal?: AbortSignal): Promise<Attached> {
    const state = this.hosts.get(repo.apiHost);
    const creds = this.opts.credentials;
    if (!state) return { kind: 'none' };
    if (state.kind === 'basic') return creds ? { kind: 'basic', header: basicAuthorization(creds) } : { kind: 'none' };

    if (actions === 'pull') {
      // A push token also grants pull; reuse it rather than fetching another.
      const pushKey = TokenCache.key(repo.apiHost, `repository:${repo.path}:pull,push`);
      const pushToken = this.tokens.peek(pushKey);
      if (pushToken) return { kind: 'bearer', header: `Bearer ${pushToken}`, token: pushToken, key: pushKey, fresh: false };
    }
    const key = TokenCache.key(repo.apiHost, scope);
    // Concurrent callers share the first caller's fetch (and its signal).
    const got = await this.tokens.get(key, async () => {
      // Retried on its own, like every request: a token fault must not cost the request it serves an attempt.
      const grant = await withRetry(() => fetchToken(this.transport, {
        realm: state.realm,
        ...(state.service !== undefined ? { service: state.service } : {}),
        scopes: scope.split(' '),
        ...(creds ? { credentials: creds } : {}),
        ...(this.refreshTokens.has(state.realm) ? { refreshToken: this.refreshTokens.get(state.realm) } : {}),
        registryScheme: repo.scheme,
        registryHost: repo.apiHost,
        clientId: this.opts.clientId,
        ...(signal ? { signal } : {}),
        errorBodyLimit: this.opts.errorBodyLimit,
        secrets: () => this.secrets(),
        now: this.opts.clock,
      }), this.opts.retry, {
        ...(signal ? { signal } : {}),
        onRetry: (err, attempt, delayMs) =>
          this.opts.logger('info', 'retrying token fetch', { attempt, delayMs, error: err instanceof Error ? err.message : String(err) }),
      });
      if (grant.refreshToken) this.refreshTokens.set(state.realm, grant.refreshToken);
      return grant;
    });
    return { kind: 'bearer', header: `Bearer ${got.token}`, token: got.token, key, fresh: got.fresh };
  }

  /** Records the host's auth scheme; true when it changed. */
  private learn(host: string, challenge: Challenge | undefined): boolean {
    if (!challenge) return false;
    let next: HostAuth;
    if (challenge.scheme === 'bearer' && challenge.params.realm) {
      next = { kind: 'bearer', realm: challenge.params.realm };
      if (challenge.params.service !== undefined) next.service = challenge.params.service;
    } else if (challenge.scheme === 'basic') {
      next = { kind: 'basic' };
    } else {
      return false;
    }
    const prev = this.hosts.get(host);
    if (prev && JSON.stringify(prev) === JSON.stringify(next)) return false;
    this.hosts.set(host, next);
    this.tokens.clearHost(host);
    this.opts.logger('debug', 'registry auth scheme', { host, scheme: next.kind });
    return true;
  }

  private async unauthorized(res: HttpResponse, scope: string): Promise<Error> {
    const challenge = pickChallenge(parseChallenges(headerValues(res, 'www-authenticate')));
    const { errors, summary } = await errorBodySummary(res, this.opts.errorBodyLimit, this.secrets());
    const host = res.url.host;
    const reason = summary ? ` (${summary})` : '';
    if (!this.opts.credentials) {
      return new AuthenticationError(host, `the registry requires credentials and none were provided${reason}`);
    }
    if (challenge?.params.error === 'insufficient_scope' || errors.some((e) => e.code === 'DENIED')) {
      return new PermissionError(host, 401, `insufficient permissions for ${scope}${reason}`, errors);
    }
    return new AuthenticationError(host, `the registry rejected the provided credentials${reason}`);
  }
}

/** A cross-repository mount needs pull on the source too, in the same token. */
function scopeOf(repo: Repository, actions: Actions, alsoPull?: Repository): string {
  return `repository:${repo.path}:${actions}${alsoPull ? ` repository:${alsoPull.path}:pull` : ''}`;
}

function withAuthorization(req: HttpRequest, auth: Attached): HttpRequest {
  if (auth.kind === 'none') return req;
  return { ...req, headers: { ...req.headers, authorization: auth.header } };
}
