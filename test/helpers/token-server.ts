/**
 * Minimal Docker registry token server (the "realm" of a Bearer challenge)
 * issuing ES256 JWTs that CNCF distribution's `auth: token` verifies.
 *
 * Supports both flows clients use:
 *   GET  <realm>?service=S&scope=repository:NAME:pull,push[&scope=...]
 *        Authorization: Basic ... (or none: anonymous)
 *        -> {token, access_token, expires_in, issued_at[, refresh_token]}
 *   POST <realm> (application/x-www-form-urlencoded)
 *        grant_type=password&username=&password=  |  grant_type=refresh_token&refresh_token=
 *        service=S&scope=space separated scopes&client_id=&access_type=offline
 *        -> {access_token, expires_in, issued_at, scope[, refresh_token]}
 *
 * Tokens carry the signing certificate in `x5c`; distribution trusts it
 * because the same certificate is its `rootcertbundle` (certPath).
 *
 * The request log never holds passwords, Authorization values or tokens:
 * tests that check redaction grep everything a fixture recorded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, sign } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSelfSignedCert, type SelfSignedCert } from './tls-ca';
import { LOOPBACK } from './ports';

export interface TokenUser {
  password: string;
  /** Actions this user may be granted, e.g. ['pull'] or ['pull', 'push']; '*' = any. */
  actions: string[];
  /** Repositories the actions apply to. Default: every repository. */
  repositories?: RegExp;
}

export interface TokenServerOptions {
  users?: Record<string, TokenUser>;
  /** Actions granted without credentials (intersected like a user's). Default none. */
  anonymousActions?: string[];
  service?: string;
  issuer?: string;
  /** Token lifetime in seconds. distribution adds 60 s of leeway past `exp`. */
  expiresIn?: number;
  /** Called with each request's record once its answer is sent (token-server-process.ts forwards them). */
  onAnswered?: (record: TokenRequestRecord) => void;
}

/** One access grant, exactly as it appears in the JWT `access` claim. */
export interface ResourceAccess {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequestRecord {
  method: string;
  /** Path only; the query carries nothing secret but is parsed into fields below. */
  path: string;
  service?: string;
  scopes: string[];
  /** How the client identified itself. */
  grant: 'anonymous' | 'basic' | 'password' | 'refresh_token' | 'unsupported';
  hadAuthorization: boolean;
  /** Username claimed (not a secret; the password never is recorded). */
  username?: string;
  status: number;
  granted: ResourceAccess[];
  /** True when the response was produced by failNext() injection. */
  injected: boolean;
}

export interface FailureSpec {
  status?: number;
  /** Seconds, sent as Retry-After. */
  retryAfter?: number;
  body?: string;
}

export interface TokenServer {
  /** Full realm URL for `auth.token.realm`. */
  realm: string;
  /** http://127.0.0.1:PORT */
  url: string;
  service: string;
  issuer: string;
  /** PEM of the JWT signing certificate, for `auth.token.rootcertbundle`. */
  certPath: string;
  certPem: string;
  users: Record<string, TokenUser>;
  requests: TokenRequestRecord[];
  /** The next `count` requests get `spec.status` (default 503) instead of a token. */
  failNext(count: number, spec?: FailureSpec): void;
  /** Changes the lifetime of tokens issued from now on. */
  setExpiresIn(seconds: number): void;
  close(): Promise<void>;
}

const REALM_PATH = '/token';

// Directories of servers not yet closed, removed synchronously if the test
// process ends without close() (one listener for the module, not per server).
const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});
const MAX_FORM_BYTES = 64 * 1024;

function b64url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url');
}

/** `repository:NAME:a,b` -> parts. NAME may contain ':' (e.g. host:port/x), so split on the first and last colon. */
export function parseScope(scope: string): ResourceAccess | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = scope.slice(last + 1).split(',').filter(Boolean);
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

function grantFor(requested: ResourceAccess[], allowed: string[], repos?: RegExp): ResourceAccess[] {
  const out: ResourceAccess[] = [];
  for (const r of requested) {
    // Only repository scopes are modelled; catalog etc. are granted nothing.
    if (r.type !== 'repository') continue;
    if (repos && !repos.test(r.name)) continue;
    const actions = allowed.includes('*') ? r.actions : r.actions.filter((a) => allowed.includes(a));
    // Repeated scopes for one repository are merged, as distribution expects one entry each.
    const existing = out.find((o) => o.type === r.type && o.name === r.name);
    if (existing) {
      for (const a of actions) if (!existing.actions.includes(a)) existing.actions.push(a);
    } else if (actions.length > 0) {
      out.push({ type: r.type, name: r.name, actions: [...new Set(actions)] });
    }
  }
  return out;
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FORM_BYTES) {
        reject(new Error('form too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function parseBasic(header: string): { username: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const users = options.users ?? {};
  const service = options.service ?? 'test-registry';
  const issuer = options.issuer ?? 'test-token-issuer';
  const anonymousActions = options.anonymousActions ?? [];
  let expiresIn = options.expiresIn ?? 300;

  const signer: SelfSignedCert = await createSelfSignedCert('test token signer');
  const dir = await mkdtemp(join(tmpdir(), 'token-server-'));
  liveDirs.add(dir);
  const certPath = join(dir, 'token-signer.pem');
  await writeFile(certPath, signer.certPem);

  const requests: TokenRequestRecord[] = [];
  // Opaque refresh token -> username. Random, never derived from the password.
  const refreshTokens = new Map<string, string>();
  let failures: { remaining: number; spec: FailureSpec } = { remaining: 0, spec: {} };

  function mint(subject: string, access: ResourceAccess[]): { token: string; issuedAt: Date } {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [signer.certDerBase64] };
    const claims = {
      iss: issuer,
      sub: subject,
      aud: service, // distribution 2.8 rejects an array here
      exp: now + expiresIn,
      nbf: now - 5,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    // JOSE ES256 wants r||s (IEEE P1363), not the DER that node emits by default.
    const sig = sign('sha256', Buffer.from(input), { key: signer.privateKey, dsaEncoding: 'ieee-p1363' });
    return { token: `${input}.${b64url(sig)}`, issuedAt: new Date(now * 1000) };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const authz = req.headers.authorization;
    const rec: TokenRequestRecord = {
      method: req.method ?? '',
      path: url.pathname,
      scopes: [],
      grant: 'anonymous',
      hadAuthorization: authz !== undefined,
      status: 0,
      granted: [],
      injected: false,
    };
    requests.push(rec);
    if (options.onAnswered) res.once('close', () => options.onAnswered!(rec));
    const reply = (status: number, body: unknown, headers?: Record<string, string>): void => {
      rec.status = status;
      sendJson(res, status, body, headers);
    };

    if (failures.remaining > 0) {
      failures.remaining -= 1;
      rec.injected = true;
      const { status = 503, retryAfter, body } = failures.spec;
      rec.status = status;
      const headers: Record<string, string> = { 'content-type': 'text/plain' };
      if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
      req.resume();
      res.writeHead(status, headers);
      res.end(body ?? 'injected failure\n');
      return;
    }
    if (url.pathname !== REALM_PATH) return reply(404, { errors: [{ code: 'NOT_FOUND', message: 'unknown path' }] });
    if (req.method !== 'GET' && req.method !== 'POST') return reply(405, { errors: [{ code: 'UNSUPPORTED' }] });

    const isPost = req.method === 'POST';
    let params: URLSearchParams;
    try {
      params = isPost ? await readForm(req) : url.searchParams;
    } catch {
      return reply(400, { error: 'invalid_request' });
    }
    rec.service = params.get('service') ?? undefined;
    // GET repeats `scope`; the OAuth2 form packs several into one, space-separated.
    rec.scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    if (rec.service !== undefined && rec.service !== service) {
      return reply(400, { errors: [{ code: 'DENIED', message: `unknown service ${rec.service}` }] });
    }

    let username: string | undefined;
    let allowed = anonymousActions;
    let repos: RegExp | undefined;
    let wantsRefresh = false;
    const unauthorized = (): void =>
      isPost
        ? reply(401, { error: 'invalid_grant', error_description: 'invalid credentials' })
        : reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid credentials' }] }, {
            'www-authenticate': 'Basic realm="test-token-server"',
          });

    if (isPost) {
      const grantType = params.get('grant_type');
      wantsRefresh = params.get('access_type') === 'offline';
      if (grantType === 'password') {
        rec.grant = 'password';
        username = params.get('username') ?? '';
        rec.username = username;
        const user = users[username];
        if (!user || user.password !== params.get('password')) return unauthorized();
      } else if (grantType === 'refresh_token') {
        rec.grant = 'refresh_token';
        username = refreshTokens.get(params.get('refresh_token') ?? '');
        rec.username = username;
        if (username === undefined || !users[username]) return unauthorized();
        wantsRefresh = true;
      } else {
        rec.grant = 'unsupported';
        return reply(400, { error: 'unsupported_grant_type' });
      }
    } else if (authz !== undefined) {
      rec.grant = 'basic';
      const basic = parseBasic(authz);
      rec.username = basic?.username;
      const user = basic ? users[basic.username] : undefined;
      if (!basic || !user || user.password !== basic.password) return unauthorized();
      username = basic.username;
      wantsRefresh = params.get('offline_token') === 'true';
    }
    if (username !== undefined) {
      allowed = users[username].actions;
      repos = users[username].repositories;
    }

    const requested = rec.scopes.map(parseScope).filter((s): s is ResourceAccess => s !== undefined);
    rec.granted = grantFor(requested, allowed, repos);
    const { token, issuedAt } = mint(username ?? '', rec.granted);
    const body: Record<string, unknown> = {
      access_token: token,
      expires_in: expiresIn,
      issued_at: issuedAt.toISOString(),
    };
    if (isPost) body.scope = rec.scopes.join(' ');
    else body.token = token;
    if (wantsRefresh && username !== undefined) {
      const refresh = randomBytes(24).toString('base64url');
      refreshTokens.set(refresh, username);
      body.refresh_token = refresh;
    }
    reply(200, body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { errors: [{ code: 'UNKNOWN' }] });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  // Do not hold jest open if a test never calls close().
  server.unref();
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('token server has no port');
  const url = `http://${LOOPBACK}:${addr.port}`;

  let closed = false;
  return {
    realm: `${url}${REALM_PATH}`,
    url,
    service,
    issuer,
    certPath,
    certPem: signer.certPem,
    users,
    requests,
    failNext(count, spec = {}) {
      failures = { remaining: count, spec };
    },
    setExpiresIn(seconds) {
      expiresIn = seconds;
    },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    },
  };
}
