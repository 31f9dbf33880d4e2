/**
 * Token endpoint client (distribution "token" and "oauth" specs). GET with
 * Basic credentials is tried first; a realm that answers 404/405 to GET
 * only speaks OAuth2, so we POST a password grant instead. An identity
 * token (username "<token>", as oras and docker use) or a refresh token the
 * endpoint returned earlier is exchanged with a refresh_token grant.
 */
import { AuthenticationError, InsecureRequestError, PermissionError, RegistryError } from '../errors';
import type { HttpRequest, HttpResponse, HttpTransport } from '../http';
import type { Credentials } from '../options';
import { redactUrl } from '../redact';
import { discard, errorBodySummary, readLimited, responseError } from '../response';
import { decideRealmCredentials } from './realm-policy';
import type { FetchedToken } from './token-cache';

export interface TokenRequest {
  realm: string;
  service?: string;
  scopes: string[];
  credentials?: Credentials;
  /** Refresh token previously issued by this realm. */
  refreshToken?: string;
  registryScheme: 'https' | 'http';
  registryHost: string;
  clientId: string;
  signal?: AbortSignal;
  errorBodyLimit: number;
  secrets: () => Iterable<string>;
  now: () => number;
}

export interface TokenGrant extends FetchedToken {
  refreshToken?: string;
}

const IDENTITY_TOKEN_USER = '<token>';
const TOKEN_BODY_LIMIT = 1024 * 1024;

export async function fetchToken(transport: HttpTransport, req: TokenRequest): Promise<TokenGrant> {
  let realm: URL;
  try {
    realm = new URL(req.realm);
  } catch {
    throw new InsecureRequestError(`registry ${req.registryHost} advertised a malformed token realm`);
  }
  const decision = decideRealmCredentials(realm, req.registryScheme, req.credentials !== undefined);
  if (decision.refusal) throw new InsecureRequestError(`${req.registryHost}: ${decision.refusal}`);
  const creds = decision.sendCredentials ? req.credentials : undefined;

  if (creds?.username === IDENTITY_TOKEN_USER) {
    return finish(await transport.send(oauthRequest(realm, req, { grant_type: 'refresh_token', refresh_token: creds.password })), req);
  }
  if (creds && req.refreshToken) {
    const res = await transport.send(oauthRequest(realm, req, { grant_type: 'refresh_token', refresh_token: req.refreshToken }));
    // A stale refresh token is not fatal: fall back to the password flow below.
    if (res.status !== 400 && res.status !== 401) return finish(res, req);
    await discard(res);
  }

  const url = new URL(realm);
  if (req.service) url.searchParams.set('service', req.service);
  for (const scope of req.scopes) url.searchParams.append('scope', scope);
  const headers: Record<string, string> = {};
  if (creds) headers.authorization = basicAuthorization(creds);
  const res = await transport.send({ method: 'GET', url, headers, signal: req.signal });
  if ((res.status === 404 || res.status === 405) && creds) {
    await discard(res);
    const form: Record<string, string> = { grant_type: 'password', username: creds.username, password: creds.password };
    return finish(await transport.send(oauthRequest(realm, req, form)), req);
  }
  return finish(res, req);
}

export function basicAuthorization(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
}

function oauthRequest(realm: URL, req: TokenRequest, grant: Record<string, string>): HttpRequest {
  const form = new URLSearchParams(grant);
  if (req.service) form.set('service', req.service);
  if (req.scopes.length) form.set('scope', req.scopes.join(' '));
  form.set('client_id', req.clientId);
  return {
    method: 'POST',
    url: realm,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
    signal: req.signal,
  };
}

async function finish(res: HttpResponse, req: TokenRequest): Promise<TokenGrant> {
  if (res.status === 401 || res.status === 403) {
    const { errors, summary } = await errorBodySummary(res, req.errorBodyLimit, req.secrets());
    const reason = summary ? ` (${summary})` : '';
    if (res.status === 403) {
      throw new PermissionError(req.registryHost, 403, `the token endpoint denied access to ${req.scopes.join(' ')}${reason}`, errors);
    }
    throw new AuthenticationError(
      req.registryHost,
      (req.credentials ? 'the token endpoint rejected the provided credentials' : 'the registry requires credentials and none were provided') + reason,
    );
  }
  if (res.status !== 200) {
    throw await responseError(res, { limit: req.errorBodyLimit, secrets: req.secrets(), now: req.now() });
  }
  const { bytes, truncated } = await readLimited(res, TOKEN_BODY_LIMIT);
  let body: Record<string, unknown> = {};
  try {
    body = truncated ? {} : (JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>);
  } catch {
    // Handled below as a missing token.
  }
  const token = typeof body.token === 'string' && body.token ? body.token : body.access_token;
  if (typeof token !== 'string' || !token) {
    throw new RegistryError({
      status: res.status,
      method: res.method,
      url: redactUrl(res.url),
      errors: [{ code: 'TOKEN_MISSING', message: 'token endpoint response has no token' }],
    });
  }
  const grant: TokenGrant = { token };
  if (typeof body.expires_in === 'number' && body.expires_in > 0) grant.expiresInMs = body.expires_in * 1000;
  if (typeof body.refresh_token === 'string' && body.refresh_token) grant.refreshToken = body.refresh_token;
  return grant;
}
