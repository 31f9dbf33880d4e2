/**
 * Thin transport over undici: counts requests, maps network failures to
 * typed errors, and logs only redacted URLs. Redirects are never followed
 * here (undici does not by default); callers decide hop by hop.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { AbortedError, RegistryUnreachableError, abortedFromSignal } from './errors';
import { DEFAULT_AGENT_OPTIONS, DEFAULT_TIMEOUTS, LOOPBACK_CONNECT_TIMEOUT_MS, msAtSlowestLink, type Logger, type Timeouts } from './options';
import { effectiveUrl, isNotTls, needsProbe, remember } from './loopback-scheme';
import { redactUrl } from './redact';
import { trustedSecureContext } from './trust-store';

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** Sent as-is (no copy). */
  body?: Uint8Array | string | StreamedBody;
  signal?: AbortSignal;
}

/**
 * A body of known length whose bytes are still arriving while it is sent.
 * It can be opened once: a request that would be sent again (a 401 retry,
 * a redirect) fails instead of going out short.
 */
export interface StreamedBody {
  readonly length: number;
  open(): Readable;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  url: URL;
  method: string;
  /** The request's signal, so body reads can tell a cancel from a reset. */
  signal?: AbortSignal;
  /** The bounds the request ran under, for error messages and draining. */
  timeouts?: Timeouts;
}

let sharedDispatcher: Dispatcher | undefined;

/**
 * undici is loaded on the first registry request, not at startup: the plugin
 * must print its handshake fast, and Describe/validation never need HTTP.
 */
let undiciModule: typeof import('undici') | undefined;
function undici(): typeof import('undici') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  undiciModule ??= require('undici') as typeof import('undici');
  return undiciModule;
}

/**
 * One keep-alive, proxy-aware agent per process unless a caller brings its
 * own. Its connect timeout is the first caller's (one setting per process).
 */
export function getSharedDispatcher(connectTimeoutMs = DEFAULT_TIMEOUTS.connectMs): Dispatcher {
  if (!sharedDispatcher) {
    // Only loopback registries speak plain HTTP, so the first request here is a TLS use.
    // The same trust for direct connections, for the registry behind a proxy, and for an HTTPS proxy itself.
    const tls = { secureContext: trustedSecureContext() };
    sharedDispatcher = new (undici().EnvHttpProxyAgent)({
      ...DEFAULT_AGENT_OPTIONS,
      connect: { ...tls, timeout: connectTimeoutMs },
      requestTls: tls,
      proxyTls: tls,
    });
  }
  return sharedDispatcher;
}

let loopbackDispatcher: Dispatcher | undefined;

/**
 * Loopback registries get a direct agent: like Go's ProxyFromEnvironment,
 * localhost never goes through HTTPS_PROXY, and a loopback peer that does not
 * finish a TCP/TLS handshake in a couple of seconds is not going to.
 */
export function getLoopbackDispatcher(): Dispatcher {
  loopbackDispatcher ??= new (undici().Agent)({
    ...DEFAULT_AGENT_OPTIONS,
    connect: connectorTrustingOnFirstTls({ timeout: LOOPBACK_CONNECT_TIMEOUT_MS }),
  });
  return loopbackDispatcher;
}

/**
 * Loopback registries are often plain HTTP: the trust store (files to read, a
 * context to build) is loaded at the first TLS connection, not before.
 */
function connectorTrustingOnFirstTls(options: { timeout: number }): import('undici').buildConnector.connector {
  const { buildConnector } = undici();
  const plain = buildConnector(options);
  let tls: import('undici').buildConnector.connector | undefined;
  return (opts, callback) => {
    if (opts.protocol !== 'https:') return plain(opts, callback);
    tls ??= buildConnector({ ...options, secureContext: trustedSecureContext() });
    return tls(opts, callback);
  };
}

/** For process shutdown; clients never close the shared agents themselves. */
export async function closeSharedDispatcher(): Promise<void> {
  const agents = [sharedDispatcher, loopbackDispatcher];
  sharedDispatcher = undefined;
  loopbackDispatcher = undefined;
  await Promise.all(agents.map((d) => d?.close()));
}

export class HttpTransport {
  private sent = 0;

  constructor(
    private readonly dispatcher: Dispatcher | undefined,
    private readonly userAgent: string,
    private readonly logger: Logger,
    private readonly traceRequests = false,
    private readonly timeouts: Timeouts = DEFAULT_TIMEOUTS,
  ) {}

  get requestCount(): number {
    return this.sent;
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    if (req.signal?.aborted) throw abortedFromSignal(req.signal);
    // Only loopback registries (and loopback token realms) are ever http: here; see reference.ts.
    const dispatcher =
      this.dispatcher ?? (req.url.protocol === 'http:' ? getLoopbackDispatcher() : getSharedDispatcher(this.timeouts.connectMs));
    if (needsProbe(req.url)) {
      const tls = new URL(req.url.href);
      tls.protocol = 'https:';
      try {
        const res = await this.dispatch({ ...req, url: tls }, dispatcher);
        remember(req.url.host, 'https');
        return res;
      } catch (err) {
        if (!isNotTls(err)) throw networkError(err, { ...req, url: tls }, this.timeouts);
        remember(req.url.host, 'http');
        this.sent--; // the probe never reached the registry as an HTTP request
      }
    }
    try {
      return await this.dispatch({ ...req, url: effectiveUrl(req.url) }, dispatcher);
    } catch (err) {
      throw networkError(err, req, this.timeouts);
    }
  }

  private async dispatch(req: HttpRequest, dispatcher: Dispatcher): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(byteLength(req.body));
    this.sent++;
    const started = Date.now();
    const res = await settleOnAbort(
      undici().request(req.url, {
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: bodyToSend(req.body),
        signal: req.signal,
        dispatcher,
        headersTimeout: headersWaitMs(req, this.timeouts),
        bodyTimeout: this.timeouts.bodyIdleMs,
      }),
      req.signal,
    );
    if (this.traceRequests) {
      this.logger('debug', 'registry request', {
        method: req.method,
        url: redactUrl(req.url),
        status: res.statusCode,
        ms: Date.now() - started,
      });
    }
    return {
      status: res.statusCode,
      headers: res.headers,
      body: res.body,
      url: req.url,
      method: req.method,
      ...(req.signal ? { signal: req.signal } : {}),
      timeouts: this.timeouts,
    };
  }
}

/**
 * undici drops an aborted request from its queue but lets a connection attempt
 * in progress run to its connect timeout; the caller's cancel must not wait
 * for that. A response that still arrives after the abort is released.
 */
function settleOnAbort(pending: Promise<Dispatcher.ResponseData>, signal: AbortSignal | undefined): Promise<Dispatcher.ResponseData> {
  if (!signal) return pending;
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      reject(abortedFromSignal(signal));
      pending.then((late) => late.body.destroy(), () => undefined);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (res) => {
        signal.removeEventListener('abort', onAbort);
        resolve(res);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** First value of a response header (undici lower-cases names). */
export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** The Content-Type without its parameters (`application/json; charset=utf-8` → `application/json`), or ''. */
export function mediaTypeOf(res: HttpResponse): string {
  return (header(res, 'content-type') ?? '').split(';')[0]?.trim() ?? '';
}

/** All values of a header, for headers that may repeat (WWW-Authenticate). */
export function headerValues(res: HttpResponse, name: string): string[] {
  const v = res.headers[name.toLowerCase()];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function byteLength(body: Uint8Array | string | StreamedBody): number {
  if (typeof body === 'string') return Buffer.byteLength(body);
  return body instanceof Uint8Array ? body.byteLength : body.length;
}

/**
 * undici's headers timer runs while the body goes out (it is refreshed only
 * when a write meets backpressure), so a request with a body also gets the
 * time that body takes at the slowest link the plugin waits for.
 */
function headersWaitMs(req: Pick<HttpRequest, 'body'>, timeouts: Timeouts): number {
  return timeouts.headersMs + (req.body === undefined ? 0 : msAtSlowestLink(byteLength(req.body)));
}

function bodyToSend(body: Uint8Array | string | StreamedBody | undefined): Uint8Array | string | Readable | undefined {
  return body === undefined || typeof body === 'string' || body instanceof Uint8Array ? body : body.open();
}

/**
 * A failure while reading a response body (a reset mid-response) is as
 * transient as one before the headers: same typed, retryable error.
 */
export function bodyReadError(err: unknown, res: HttpResponse): Error {
  return networkError(err, { method: res.method, url: res.url, ...(res.signal ? { signal: res.signal } : {}) }, res.timeouts);
}

const TLS_REASONS = /CERT|SELF_SIGNED|TLS|SSL|UNABLE_TO_(GET|VERIFY)/;

function networkError(err: unknown, req: HttpRequest, timeouts: Timeouts = DEFAULT_TIMEOUTS): Error {
  if (err instanceof AbortedError || err instanceof RegistryUnreachableError) return err;
  if (req.signal?.aborted) return abortedFromSignal(req.signal);
  const e = err as { code?: unknown; cause?: { code?: unknown }; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : 'UNKNOWN';
  const causeCode = typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  // undici wraps system errors; the system code is the informative one.
  const reason = code === 'UND_ERR_SOCKET' && causeCode ? causeCode : code;
  let detail = '';
  const during = `during ${req.method} ${redactUrl(req.url)}`;
  if (reason === 'UND_ERR_HEADERS_TIMEOUT') detail = `no response within ${seconds(headersWaitMs(req, timeouts))} ${during}`;
  else if (reason === 'UND_ERR_BODY_TIMEOUT') detail = `the response stalled for ${seconds(timeouts.bodyIdleMs)} ${during}`;
  else if (reason === 'UND_ERR_CONNECT_TIMEOUT') detail = `no connection within ${seconds(timeouts.connectMs)}`;
  else if (/TIMEOUT/.test(reason) || reason === 'ETIMEDOUT') detail = 'timeout';
  else if (isNotTls(err)) detail = 'the server does not speak TLS (HTTPS)';
  else if (TLS_REASONS.test(reason)) detail = 'TLS certificate verification failed';
  else if (reason === 'ECONNREFUSED') detail = 'connection refused';
  else if (reason === 'ENOTFOUND' || reason === 'EAI_AGAIN') detail = 'host name could not be resolved';
  else if (reason === 'ECONNRESET' || reason === 'EPIPE' || reason === 'UND_ERR_SOCKET') detail = 'connection reset';
  return new RegistryUnreachableError(req.url.host, reason, detail, { cause: err });
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
