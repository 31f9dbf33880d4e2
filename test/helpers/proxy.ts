/**
 * Recording reverse proxy in front of a registry, for request counting,
 * benchmarks and fault injection.
 *
 *   const proxy = await startProxy({ target: reg.host });
 *   proxy.failNext(1, { status: 503, retryAfter: 1 });
 *   ... point the client at proxy.host ...
 *   expect(proxy.count({ method: 'PUT' })).toBe(2);
 *   afterAll(() => proxy.close());
 *
 * Bodies are streamed in both directions (pipe with backpressure), so
 * multi-hundred-MiB blobs never sit in memory.
 *
 * The Host header is passed through unchanged and X-Forwarded-Proto/Host are
 * set, so the Location URLs distribution builds for uploads point back at the
 * proxy and every follow-up request is seen (and counted) here too.
 *
 * Records hold method, path and an allow-listed query only: upload URLs carry
 * `_state` (signed server state) and nothing credential-like is kept.
 */
import {
  Agent as HttpAgent,
  createServer,
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { LOOPBACK } from './ports';

export type ProxyAction =
  /**
   * `responseHeaders` are added to the target's answer (e.g. OCI-Subject or OCI-Chunk-Min-Length);
   * `requestBytesPerSecond` paces the request body toward the target, as a slow link does.
   */
  | {
      kind: 'forward';
      delayMs?: number;
      responseHeaders?: Record<string, string>;
      editResponseHeaders?: (h: OutgoingHttpHeaders) => void;
      requestBytesPerSecond?: number;
    }
  /**
   * Never finish: 'headers' reads the request and never answers; 'mid-headers'
   * sends the start of a status line and header block, then goes silent; 'body'
   * forwards, sends the target's status and headers plus `afterBytes` of body,
   * then goes silent.
   */
  | { kind: 'stall'; when: 'headers' | 'mid-headers' | 'body'; afterBytes?: number; delayMs?: number }
  /** Answer without contacting the target. */
  | { kind: 'respond'; status: number; retryAfter?: number | string; headers?: Record<string, string>; body?: string; delayMs?: number }
  /** Destroy the client connection before anything is forwarded. */
  | { kind: 'reset'; delayMs?: number }
  /** Forward, send the target's status and headers plus `afterBytes` of body, then destroy the connection. */
  | { kind: 'reset-mid-response'; afterBytes?: number; delayMs?: number };

export interface ProxyRequestInfo {
  /** 0-based position among all requests this proxy received. */
  index: number;
  method: string;
  path: string;
  /** Allow-listed query (see QUERY_KEPT); other values replaced by '…'. */
  query: string;
  headers: IncomingHttpHeaders;
  /** Path and full query, for hooks that redirect; never recorded (it holds upload state). */
  rawUrl: string;
}

export type ProxyHook = (info: ProxyRequestInfo) => ProxyAction | undefined;

export interface ProxyRecord {
  index: number;
  method: string;
  path: string;
  query: string;
  hadAuthorization: boolean;
  action: ProxyAction['kind'];
  /** Status sent to the client (undefined when the connection was reset first). */
  status?: number;
  /** Set when forwarding failed (target down, target reset). */
  upstreamError?: string;
  requestBytes: number;
  responseBytes: number;
  durationMs: number;
  /** False until the exchange finished (or failed). */
  done: boolean;
}

export interface ProxyMatch {
  method?: string;
  /** Exact path or a pattern tested against the path. */
  path?: string | RegExp;
}

export interface StartProxyOptions {
  /** `host:port` or URL of the target registry. */
  target: string;
  /** PEM CA for an https target (the proxy itself always listens on plain http). */
  targetCa?: string;
  hook?: ProxyHook;
  /**
   * Sent to the target on requests that arrive without Authorization: the
   * proxy then plays a storage origin that authenticates on its own (signed URLs).
   */
  injectAuthorization?: string;
  /** Keep at most this many records (oldest dropped). Default 100000. */
  maxRecords?: number;
}

export interface RecordingProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  url: string;
  port: number;
  requests: ProxyRecord[];
  count(match?: ProxyMatch): number;
  /** Replaces the per-request hook; it wins over queued failNext/resetNext rules. */
  setHook(hook?: ProxyHook): void;
  /** The next `n` matching requests are answered with `status` (default 503). */
  failNext(n: number, opts?: { status?: number; retryAfter?: number | string; body?: string; match?: ProxyMatch }): void;
  /** The next `n` matching requests get their connection reset. */
  resetNext(n: number, opts?: { when?: 'before' | 'mid-response'; afterBytes?: number; match?: ProxyMatch }): void;
  /** Waits until every recorded exchange has finished. */
  idle(timeoutMs?: number): Promise<void>;
  /** Forgets records and queued rules (the hook stays). */
  reset(): void;
  close(): Promise<void>;
}

const QUERY_KEPT = new Set(['digest', 'mount', 'from', 'n', 'last', 'service', 'scope']);
// `expect` too: node's server already answered 100-continue to the client.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect',
]);

function sanitizeQuery(search: string): string {
  const params = new URLSearchParams(search);
  const parts: string[] = [];
  for (const [k, v] of params) parts.push(QUERY_KEPT.has(k) ? `${k}=${v}` : `${k}=…`);
  return parts.join('&');
}

function matches(m: ProxyMatch | undefined, info: ProxyRequestInfo): boolean {
  if (!m) return true;
  if (m.method && m.method.toUpperCase() !== info.method) return false;
  if (m.path instanceof RegExp) return m.path.test(info.path);
  if (typeof m.path === 'string') return m.path === info.path;
  return true;
}

function forwardHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const connTokens = String(h.connection ?? '').toLowerCase().split(',').map((s) => s.trim());
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k) || connTokens.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Rule {
  remaining: number;
  match?: ProxyMatch;
  action: ProxyAction;
}

export async function startProxy(options: StartProxyOptions): Promise<RecordingProxy> {
  const target = new URL(options.target.includes('://') ? options.target : `${options.targetCa ? 'https' : 'http'}://${options.target}`);
  const isHttps = target.protocol === 'https:';
  // Bounded keep-alive pool toward the target; loopback only.
  const agent = isHttps
    ? new HttpsAgent({ keepAlive: true, maxSockets: 64, ca: options.targetCa })
    : new HttpAgent({ keepAlive: true, maxSockets: 64 });
  const maxRecords = options.maxRecords ?? 100_000;

  const requests: ProxyRecord[] = [];
  let rules: Rule[] = [];
  let hook = options.hook;
  let seen = 0;
  const sockets = new Set<Socket>();
  const upstreams = new Set<ClientRequest>();

  function decide(info: ProxyRequestInfo): ProxyAction {
    const fromHook = hook?.(info);
    if (fromHook) return fromHook;
    const rule = rules.find((r) => r.remaining > 0 && matches(r.match, info));
    if (rule) {
      rule.remaining -= 1;
      return rule.action;
    }
    return { kind: 'forward' };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const info: ProxyRequestInfo = {
      index: seen++,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: sanitizeQuery(url.search),
      headers: req.headers,
      rawUrl: req.url ?? '/',
    };
    const action = decide(info);
    const rec: ProxyRecord = {
      index: info.index,
      method: info.method,
      path: info.path,
      query: info.query,
      hadAuthorization: req.headers.authorization !== undefined,
      action: action.kind,
      requestBytes: 0,
      responseBytes: 0,
      durationMs: 0,
      done: false,
    };
    requests.push(rec);
    if (requests.length > maxRecords) requests.shift();
    const finish = (): void => {
      if (rec.done) return;
      rec.done = true;
      rec.durationMs = Date.now() - started;
    };
    res.on('close', finish);
    // Attached only when the body is consumed: a 'data' listener starts the
    // flow, and chunks emitted before the pipe exists would be lost.
    const countBody = (): void => {
      req.on('data', (c: Buffer) => (rec.requestBytes += c.length));
    };

    if (action.delayMs) {
      await sleep(action.delayMs);
      if (req.destroyed || res.destroyed) return finish();
    }

    if (action.kind === 'reset') {
      req.socket.destroy();
      return finish();
    }
    if (action.kind === 'stall' && action.when !== 'body') {
      countBody();
      req.resume();
      if (action.when === 'mid-headers') req.socket.write('HTTP/1.1 201 Created\r\nContent-Type: application/js');
      // Held until the client gives up (or the proxy closes).
      res.on('close', finish);
      return;
    }
    if (action.kind === 'respond') {
      countBody();
      req.resume(); // discard the body; the client may still be sending it
      const body = action.body ?? `{"errors":[{"code":"UNAVAILABLE","message":"injected by test proxy"}]}`;
      const headers: OutgoingHttpHeaders = {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...action.headers,
      };
      if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
      rec.status = action.status;
      rec.responseBytes = Buffer.byteLength(body);
      res.writeHead(action.status, headers);
      res.end(body);
      return;
    }

    const headers = forwardHeaders(req.headers);
    headers['x-forwarded-proto'] = 'http';
    headers['x-forwarded-host'] = req.headers.host ?? `${LOOPBACK}:${port}`;
    if (options.injectAuthorization && headers.authorization === undefined) headers.authorization = options.injectAuthorization;
    const up = (isHttps ? httpsRequest : httpRequest)({
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method: info.method,
      path: req.url,
      headers,
      agent,
    });
    upstreams.add(up);
    up.on('close', () => upstreams.delete(up));
    up.on('error', (err) => {
      rec.upstreamError = err.message;
      if (!res.headersSent) {
        rec.status = 502;
        res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' });
        res.end(`proxy: upstream error: ${err.message}\n`);
      } else {
        res.destroy();
      }
      finish();
    });
    // Client went away mid-request: stop the upstream exchange too.
    req.on('aborted', () => up.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });

    up.on('response', (upRes) => {
      const outHeaders = forwardHeaders(upRes.headers);
      if (action.kind === 'forward' && action.responseHeaders) Object.assign(outHeaders, action.responseHeaders);
      if (action.kind === 'forward') action.editResponseHeaders?.(outHeaders);
      if (action.kind === 'stall') {
        // Without the length the client cannot see the body as complete.
        delete outHeaders['content-length'];
        rec.status = upRes.statusCode;
        res.writeHead(upRes.statusCode ?? 502, outHeaders);
        upRes.once('data', (chunk: Buffer) => {
          const piece = chunk.subarray(0, action.afterBytes ?? 0);
          rec.responseBytes += piece.length;
          if (piece.length) res.write(piece);
          else res.flushHeaders();
          upRes.destroy();
        });
        upRes.once('end', () => res.flushHeaders());
        return;
      }
      if (action.kind === 'reset-mid-response') {
        const status = upRes.statusCode ?? 502;
        if (info.method === 'HEAD' || status === 204 || status === 304) {
          // These responses end with their headers: sending them would deliver a
          // complete answer, and the reset would hit whatever request the client
          // sends next on the kept-alive socket. Reset before the headers instead.
          upRes.destroy();
          req.socket.destroy();
          return finish();
        }
        // Chunked, without the length: the client cannot see the body as complete
        // (an empty body would be), so the reset fails this request and no later one.
        delete outHeaders['content-length'];
      }
      rec.status = upRes.statusCode;
      res.writeHead(upRes.statusCode ?? 502, outHeaders);
      if (action.kind === 'reset-mid-response') {
        const limit = action.afterBytes ?? 0;
        if (limit <= 0) {
          res.flushHeaders();
          // Give the headers a moment to leave before the RST.
          setTimeout(() => res.socket?.destroy(), 10);
          upRes.destroy();
          return;
        }
        // A body shorter than `afterBytes` still ends in a reset, never in a complete response.
        upRes.on('end', () => res.socket?.destroy());
        upRes.on('data', (chunk: Buffer) => {
          const room = limit - rec.responseBytes;
          if (room <= 0) return;
          const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
          rec.responseBytes += piece.length;
          if (rec.responseBytes >= limit) {
            upRes.destroy();
            res.write(piece, () => res.socket?.destroy());
          } else if (!res.write(piece)) {
            upRes.pause();
            res.once('drain', () => upRes.resume());
          }
        });
        return;
      }
      upRes.on('data', (c: Buffer) => (rec.responseBytes += c.length));
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    countBody();
    if (action.kind === 'forward' && action.requestBytesPerSecond) void pipePaced(req, up, action.requestBytesPerSecond);
    else req.pipe(up);
  }

  /** Copies `from` to `to` at about `rate` bytes a second, in 16 KiB pieces. */
  async function pipePaced(from: IncomingMessage, to: ClientRequest, rate: number): Promise<void> {
    const start = Date.now();
    let sent = 0;
    try {
      for await (const chunk of from as AsyncIterable<Buffer>) {
        for (let at = 0; at < chunk.length; at += 16 * 1024) {
          const piece = chunk.subarray(at, at + 16 * 1024);
          sent += piece.length;
          const wait = start + (sent / rate) * 1000 - Date.now();
          if (wait > 0) await sleep(wait);
          if (to.destroyed) return;
          if (!to.write(piece)) await new Promise((r) => to.once('drain', r).once('close', r));
        }
      }
      to.end();
    } catch {
      to.destroy();
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.maxConnections = 256;
  server.requestTimeout = 10 * 60_000; // large uploads through a slow path still finish
  server.keepAliveTimeout = 5000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  // Do not hold jest open if a test never calls close().
  server.unref();
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('proxy has no port');
  const port = addr.port;

  let closing: Promise<void> | undefined;
  return {
    host: `${LOOPBACK}:${port}`,
    url: `http://${LOOPBACK}:${port}`,
    port,
    requests,
    count: (match) => requests.filter((r) => matches(match, { ...r, headers: {}, rawUrl: '' })).length,
    setHook(h) {
      hook = h;
    },
    failNext(n, opts = {}) {
      rules.push({
        remaining: n,
        match: opts.match,
        action: { kind: 'respond', status: opts.status ?? 503, retryAfter: opts.retryAfter, body: opts.body },
      });
    },
    resetNext(n, opts = {}) {
      const action: ProxyAction =
        opts.when === 'mid-response' ? { kind: 'reset-mid-response', afterBytes: opts.afterBytes } : { kind: 'reset' };
      rules.push({ remaining: n, match: opts.match, action });
    },
    async idle(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.some((r) => !r.done)) {
        if (Date.now() > deadline) throw new Error('proxy: exchanges still in flight');
        await sleep(10);
      }
    },
    reset() {
      requests.length = 0;
      rules = [];
    },
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const up of upstreams) up.destroy();
        for (const s of sockets) s.destroy();
        agent.destroy();
        await closed;
      })();
      return closing;
    },
  };
}
