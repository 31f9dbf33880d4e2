/**
 * Client options and every default in one place.
 */
import type { Dispatcher } from 'undici';
import { abortableSleep, type RetryOptions } from './retry';

export interface Credentials {
  username: string;
  password: string;
}

export type LogLevel = 'debug' | 'info' | 'warn';
/** Receives only redacted URLs and non-secret fields. */
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export interface ClientOptions {
  /** undefined = anonymous. */
  credentials?: Credentials;
  userAgent?: string;
  retry?: Partial<RetryOptions>;
  /** Default: one shared EnvHttpProxyAgent (HTTPS_PROXY/NO_PROXY honoured). */
  dispatcher?: Dispatcher;
  logger?: Logger;
  /** Log every registry request at debug (redacted URL, status, ms). Off by default: it costs time per request. */
  traceRequests?: boolean;
  /** Clock for token expiry; injected by tests. */
  clock?: () => number;
}

export interface ResolvedClientOptions {
  credentials: Credentials | undefined;
  userAgent: string;
  retry: RetryOptions;
  /** undefined = use the shared default dispatcher. */
  dispatcher: Dispatcher | undefined;
  logger: Logger;
  traceRequests: boolean;
  clock: () => number;
  /** Token lifetime when the token endpoint omits expires_in (distribution spec: 60 s). */
  tokenDefaultTtlMs: number;
  /** Tokens are treated as expired this long before their real expiry. */
  tokenExpiryMarginMs: number;
  maxRedirects: number;
  /** Error bodies are read up to this size to extract OCI error codes. */
  errorBodyLimit: number;
  /** Manifests above this size are refused (distribution's own limit is 4 MiB). */
  manifestSizeLimit: number;
  /** OAuth2 client_id sent to token endpoints. */
  clientId: string;
}

export const DEFAULT_USER_AGENT = 'chainloop-plugin-oci-registry';

export const DEFAULT_RETRY: Readonly<RetryOptions> = Object.freeze({
  attempts: 5,
  baseDelayMs: 200,
  factor: 2,
  maxDelayMs: 3_000,
  budgetMs: 60_000,
  maxRetryAfterMs: 10_000,
  refusedAttempts: 3,
  sleep: abortableSleep,
  random: Math.random,
  now: Date.now,
});

/** Same shape with near-zero delays, for tests. */
export const FAST_RETRY: Readonly<RetryOptions> = Object.freeze({
  ...DEFAULT_RETRY,
  baseDelayMs: 1,
  maxDelayMs: 5,
  budgetMs: 5_000,
  maxRetryAfterMs: 50,
});

/** Keep-alive pool settings for the shared default dispatcher. */
export const DEFAULT_AGENT_OPTIONS = Object.freeze({
  keepAliveTimeout: 30_000,
  keepAliveMaxTimeout: 600_000,
  connections: 64,
});

/** Connect (TCP + TLS) timeout for loopback registries, which answer in milliseconds or not at all. */
export const LOOPBACK_CONNECT_TIMEOUT_MS = 2_000;

export function resolveRetryOptions(partial?: Partial<RetryOptions>): RetryOptions {
  return { ...DEFAULT_RETRY, ...stripUndefined(partial ?? {}) };
}

export function defaultClientOptions(o: ClientOptions = {}): ResolvedClientOptions {
  return {
    credentials: o.credentials,
    userAgent: o.userAgent ?? DEFAULT_USER_AGENT,
    retry: resolveRetryOptions(o.retry),
    dispatcher: o.dispatcher,
    logger: o.logger ?? (() => undefined),
    traceRequests: o.traceRequests ?? false,
    clock: o.clock ?? Date.now,
    tokenDefaultTtlMs: 60_000,
    tokenExpiryMarginMs: 5_000,
    maxRedirects: 5,
    errorBodyLimit: 64 * 1024,
    manifestSizeLimit: 4 * 1024 * 1024,
    clientId: DEFAULT_USER_AGENT,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
