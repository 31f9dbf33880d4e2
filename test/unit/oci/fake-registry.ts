/**
 * Minimal in-process OCI registry on 127.0.0.1 for client tests. It speaks
 * just enough of the distribution API (upload sessions, blobs, manifests,
 * Basic and Bearer auth with a token endpoint) and records every request so
 * tests can count them. `intercept` lets a test inject faults.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  path: string;
  authorization?: string;
  contentType?: string;
  ifMatch?: string;
  contentRange?: string;
  body: Buffer;
}

export interface FakeRegistryOptions {
  auth?: 'none' | 'basic' | 'bearer';
  username?: string;
  password?: string;
  /** Repositories the user may push to; default: all. */
  pushAllowed?: (repo: string) => boolean;
  tokenExpiresIn?: number;
  /** Realm override (e.g. to point at an http realm from a test). */
  realm?: string;
  /** Refuse a PUT that carries the blob (405 UNSUPPORTED): only PATCH + empty PUT work. */
  chunkedOnly?: boolean;
  /** Announced as OCI-Chunk-Min-Length; shorter non-final PATCHes get 416. */
  chunkMinLength?: number;
}

/** Returns true when the test handled the request itself. */
export type Interceptor = (req: RecordedRequest, res: ServerResponse) => boolean | Promise<boolean>;

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class FakeRegistry {
  readonly requests: RecordedRequest[] = [];
  readonly blobs = new Map<string, Buffer>(); // `${repo}@${digest}`
  readonly manifests = new Map<string, { bytes: Buffer; mediaType: string }>(); // `${repo}:${ref}`
  readonly uploads = new Map<string, string>(); // uuid -> repo
  readonly received = new Map<string, Buffer>(); // uuid -> bytes PATCHed so far
  readonly tokens = new Map<string, Set<string>>(); // token -> granted scopes
  intercept: Interceptor | undefined;
  private server: Server | undefined;
  private port = 0;

  constructor(readonly opts: FakeRegistryOptions = {}) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  get tokenRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path === '/token');
  }

  registryRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith('/v2/'));
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      return; // client went away
    }
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    const rec: RecordedRequest = {
      method: req.method ?? '',
      url: url.toString(),
      path: url.pathname,
      body: Buffer.concat(chunks),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
      ...(typeof req.headers['if-match'] === 'string' ? { ifMatch: req.headers['if-match'] } : {}),
      ...(req.headers['content-range'] ? { contentRange: String(req.headers['content-range']) } : {}),
    };
    this.requests.push(rec);
    if (this.intercept && (await this.intercept(rec, res))) return;
    if (url.pathname === '/token') return this.token(rec, url, res);
    const m = /^\/v2\/(.+)\/(blobs\/uploads\/([^/]*)|blobs\/([^/]+)|manifests\/([^/]+))$/.exec(url.pathname);
    if (!m) return json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'not found' }] });
    const repo = m[1]!;
    const push = !['GET', 'HEAD'].includes(rec.method);
    if (!this.authorized(rec, repo, push, res)) return;
    if (m[3] !== undefined) return this.upload(rec, url, repo, m[3], res);
    if (m[4] !== undefined) return this.blob(rec, repo, m[4], res);
    return this.manifest(rec, repo, m[5]!, res);
  }

  private authorized(rec: RecordedRequest, repo: string, push: boolean, res: ServerResponse): boolean {
    const mode = this.opts.auth ?? 'none';
    if (mode === 'none') return true;
    if (mode === 'basic') {
      if (rec.authorization === this.basic()) return true;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return false;
    }
    const need = `repository:${repo}:${push ? 'push' : 'pull'}`;
    const granted = this.grantOf(rec);
    if (granted?.has(need)) return true;
    const realm = this.opts.realm ?? `http://${this.host}/token`;
    let challenge = `Bearer realm="${realm}",service="fake",scope="repository:${repo}:pull,push"`;
    if (granted) challenge += ',error="insufficient_scope"';
    res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    return false;
  }

  /** The scopes the request's bearer token was granted, if it carries one this registry issued. */
  private grantOf(rec: RecordedRequest): Set<string> | undefined {
    const token = rec.authorization?.startsWith('Bearer ') ? rec.authorization.slice(7) : undefined;
    return token ? this.tokens.get(token) : undefined;
  }

  private mayPull(rec: RecordedRequest, repo: string): boolean {
    if ((this.opts.auth ?? 'none') !== 'bearer') return true;
    return this.grantOf(rec)?.has(`repository:${repo}:pull`) ?? false;
  }

  basic(): string {
    return `Basic ${Buffer.from(`${this.opts.username ?? 'user'}:${this.opts.password ?? 'pass'}`).toString('base64')}`;
  }

  private token(rec: RecordedRequest, url: URL, res: ServerResponse): void {
    const anonymous = rec.authorization === undefined;
    if (!anonymous && rec.authorization !== this.basic()) return json(res, 401, { details: 'bad credentials' });
    const scopes = new Set<string>();
    for (const scope of url.searchParams.getAll('scope')) {
      const [type, repo, actions] = scope.split(':');
      for (const a of (actions ?? '').split(',')) {
        if (a === 'push' && (anonymous || !(this.opts.pushAllowed?.(repo!) ?? true))) continue;
        scopes.add(`${type}:${repo}:${a}`);
      }
    }
    const token = `tok-${randomUUID()}`;
    this.tokens.set(token, scopes);
    const body: Record<string, unknown> = { token };
    if (this.opts.tokenExpiresIn !== undefined) body.expires_in = this.opts.tokenExpiresIn;
    json(res, 200, body);
  }

  private upload(rec: RecordedRequest, url: URL, repo: string, id: string, res: ServerResponse): void {
    if (rec.method === 'POST' && id === '') {
      // Cross-repository mount: 201 when the source holds the blob (and the token may pull it), else a session.
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from');
      const source = mount && from ? this.blobs.get(`${from}@${mount}`) : undefined;
      if (source && this.mayPull(rec, from!)) {
        this.blobs.set(`${repo}@${mount}`, source);
        res.writeHead(201, { location: `/v2/${repo}/blobs/${mount}`, 'docker-content-digest': mount! });
        return void res.end();
      }
      const uuid = randomUUID();
      this.uploads.set(uuid, repo);
      const headers: Record<string, string> = { location: `/v2/${repo}/blobs/uploads/${uuid}?_state=SECRETSTATE${uuid}`, 'docker-upload-uuid': uuid };
      if (this.opts.chunkMinLength) headers['oci-chunk-min-length'] = String(this.opts.chunkMinLength);
      res.writeHead(202, headers);
      return void res.end();
    }
    if (!this.uploads.has(id)) return json(res, 404, { errors: [{ code: 'BLOB_UPLOAD_UNKNOWN', message: 'blob upload unknown' }] });
    if (rec.method === 'DELETE') {
      this.uploads.delete(id);
      res.writeHead(204);
      return void res.end();
    }
    const have = this.received.get(id) ?? Buffer.alloc(0);
    const range = (): Record<string, string> => ({ range: `0-${Math.max(0, (this.received.get(id)?.length ?? 0) - 1)}`, location: `/v2/${repo}/blobs/uploads/${id}` });
    if (rec.method === 'GET') {
      res.writeHead(204, range());
      return void res.end();
    }
    if (rec.method === 'PATCH') {
      const start = Number(/^(\d+)-/.exec(String(rec.contentRange ?? ''))?.[1] ?? have.length);
      if (start !== have.length) return json(res, 416, { errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'range mismatch' }] });
      this.received.set(id, Buffer.concat([have, rec.body]));
      res.writeHead(202, range());
      return void res.end();
    }
    if (rec.method !== 'PUT') return json(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'unsupported' }] });
    if (this.opts.chunkedOnly && rec.body.length > 0) return json(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'monolithic upload not supported' }] });
    const blob = Buffer.concat([have, rec.body]);
    this.received.delete(id);
    const digest = url.searchParams.get('digest') ?? '';
    if (sha(blob) !== digest) return json(res, 400, { errors: [{ code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' }] });
    this.uploads.delete(id);
    this.blobs.set(`${repo}@${digest}`, blob);
    res.writeHead(201, { location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest });
    res.end();
  }

  private blob(rec: RecordedRequest, repo: string, digest: string, res: ServerResponse): void {
    const data = this.blobs.get(`${repo}@${digest}`);
    if (!data) return json(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] });
    res.writeHead(200, { 'content-length': data.length, 'docker-content-digest': digest, 'content-type': 'application/octet-stream' });
    res.end(rec.method === 'HEAD' ? undefined : data);
  }

  private manifest(rec: RecordedRequest, repo: string, ref: string, res: ServerResponse): void {
    if (rec.method === 'PUT') {
      const digest = sha(rec.body);
      const entry = { bytes: rec.body, mediaType: rec.contentType ?? '' };
      this.manifests.set(`${repo}:${ref}`, entry);
      this.manifests.set(`${repo}:${digest}`, entry);
      res.writeHead(201, { 'docker-content-digest': digest, location: `/v2/${repo}/manifests/${digest}` });
      return void res.end();
    }
    const entry = this.manifests.get(`${repo}:${ref}`);
    if (!entry) return json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
    res.writeHead(200, { 'content-type': entry.mediaType, 'docker-content-digest': sha(entry.bytes) });
    res.end(rec.method === 'HEAD' ? undefined : entry.bytes);
  }
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
