/**
 * A scriptable HTTP(S) server on 127.0.0.1 for hostile-registry scenarios the
 * real distribution cannot produce (cross-origin redirects, foreign upload
 * Locations, plain-http token realms). Records every request it answers,
 * including the Authorization header it received (tests assert on it).
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { LOOPBACK } from '../helpers/ports';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization?: string;
  host?: string;
  bodyBytes: number;
}

export type FakeHandler = (req: FakeRequest, res: ServerResponse, server: FakeServer) => void;

export interface FakeServer {
  /** `http(s)://127.0.0.1:PORT` */
  url: string;
  host: string;
  port: number;
  requests: FakeRequest[];
  /** Number of TCP connections accepted (TLS garbage included). */
  connections: () => number;
  close(): Promise<void>;
}

export async function startFakeServer(
  handler: FakeHandler,
  tls?: { certPem: string; keyPem: string },
): Promise<FakeServer> {
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let self!: FakeServer;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => (bodyBytes += c.length));
    req.on('end', () => {
      const rec: FakeRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        authorization: req.headers.authorization,
        host: req.headers.host,
        bodyBytes,
      };
      requests.push(rec);
      try {
        handler(rec, res, self);
      } catch {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }
    });
  };
  const server: Server = tls
    ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, onRequest)
    : createHttpServer(onRequest);
  server.keepAliveTimeout = 1000;
  server.on('connection', (s: Socket) => {
    connections += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  self = {
    url: `${tls ? 'https' : 'http'}://${LOOPBACK}:${port}`,
    host: `${LOOPBACK}:${port}`,
    port,
    requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return self;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': '0', ...headers });
  res.end();
}

/**
 * A minimal registry API: /v2/ 200, uploads (POST → 202 + relative Location,
 * PUT ?digest → 201), HEAD blob 404, PUT manifest 201. `override` runs first
 * and returns true when it answered.
 */
export function registryHandler(override?: (req: FakeRequest, res: ServerResponse) => boolean): FakeHandler {
  return (req, res) => {
    if (override?.(req, res)) return;
    if (req.path === '/v2/' || req.path === '/v2') return sendJson(res, 200, {});
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/(.*)$/.exec(req.path);
    if (upload && req.method === 'POST') {
      return sendEmpty(res, 202, { location: `/v2/${upload[1]}/blobs/uploads/${randomBytes(8).toString('hex')}` });
    }
    if (upload && req.method === 'PUT') {
      return sendEmpty(res, 201, { 'docker-content-digest': req.query.get('digest') ?? '' });
    }
    if (upload && req.method === 'DELETE') return sendEmpty(res, 204);
    if (/\/blobs\/sha256:/.test(req.path) && req.method === 'HEAD') return sendEmpty(res, 404);
    if (/\/manifests\//.test(req.path) && req.method === 'PUT') return sendEmpty(res, 201);
    return sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'fake registry: no route' }] });
  };
}
