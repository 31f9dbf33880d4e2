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
  timeouts?: Partial<Timeouts>;
}

/** Bounds on every single request; the per-call budgets live in the plugin (CallBudgets). */
export interface Timeouts {
  /** TCP + TLS handshake to a non-loopback registry or token service. */
  connectMs: number;
  /** From the request being sent to the response headers. */
  headersMs: number;
  /** Longest pause between two chunks of a response body. */
  bodyIdleMs: number;
  /** How long a success response's unneeded body is drained before the socket is dropped instead. */
  drainMs: number;
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
  /** A token is still scrubbed from error text this long after it stopped being handed out (well past the default call budgets). */
  tokenRetainMs: number;
  maxRedirects: number;
  /** Error bodies are read up to this size to extract OCI error codes. */
  errorBodyLimit: number;
  /** Manifests above this size are refused (distribution's own limit is 4 MiB). */
  manifestSizeLimit: number;
  /** OAuth2 client_id sent to token endpoints. */
  clientId: string;
  timeouts: Timeouts;
  /** Chunk size for PATCH uploads (raised to the registry's OCI-Chunk-Min-Length). */
  chunkSize: number;
  /** Times an upload starts over with a new session after the registry lost the old one. */
  uploadRestarts: number;
}

export const DEFAULT_USER_AGENT = 'chainloop-plugin-oci-registry';

/**
 * Each request is retried on its own, so `attempts` is per request: at a 30 %
 * transient fault rate, 8 attempts leave ~1 in 15 000 requests failing; the
 * call's time budget (the signal) is what really bounds the work.
 */
export const DEFAULT_RETRY: Readonly<RetryOptions> = Object.freeze({
  attempts: 8,
  baseDelayMs: 200,
  factor: 2,
  maxDelayMs: 3_000,
  budgetMs: 40_000,
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

/**
 * A stalled read is given long enough for a slow registry but little enough
 * that a retry still fits in the call budget (DEFAULT_CALL_BUDGETS).
 */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  connectMs: 10_000,
  headersMs: 15_000,
  bodyIdleMs: 15_000,
  drainMs: 1_000,
});

/** Overall time for one plugin call, well under Chainloop's 5 minute retry window. */
export interface CallBudgets {
  executeMs: number;
  registerMs: number;
}

export const DEFAULT_CALL_BUDGETS: Readonly<CallBudgets> = Object.freeze({ executeMs: 45_000, registerMs: 30_000 });

/**
 * The slowest link to a registry that the plugin waits for: 1 s per MiB. A
 * fixed time would fail every delivery of a body the link cannot carry in
 * it, and Chainloop's retries would fail the same way until they gave up.
 * Execute's budget grows by this much per MiB of envelope, and so does the
 * response timeout of a request per MiB of its body (undici's timer runs
 * while the body is sent). Both stay finite, so a stalled upload still ends.
 */
export const SLOWEST_LINK_MS_PER_MIB = 1000;

/** How long `bytes` take at the slowest link the plugin waits for. */
export function msAtSlowestLink(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * SLOWEST_LINK_MS_PER_MIB);
}

/** The budget of one Execute whose envelope is `envelopeBytes` long. */
export function executeBudgetMs(budgets: CallBudgets, envelopeBytes: number): number {
  return budgets.executeMs + msAtSlowestLink(envelopeBytes);
}

/** Environment variables that override the time bounds (milliseconds). */
export const TIME_LIMIT_ENV = Object.freeze({
  connectMs: 'CHAINLOOP_PLUGIN_OCI_CONNECT_TIMEOUT_MS',
  headersMs: 'CHAINLOOP_PLUGIN_OCI_RESPONSE_TIMEOUT_MS',
  bodyIdleMs: 'CHAINLOOP_PLUGIN_OCI_BODY_IDLE_TIMEOUT_MS',
  executeMs: 'CHAINLOOP_PLUGIN_OCI_EXECUTE_BUDGET_MS',
  registerMs: 'CHAINLOOP_PLUGIN_OCI_REGISTER_BUDGET_MS',
});

export interface TimeLimits {
  timeouts: Timeouts;
  budgets: CallBudgets;
  /** Variables that were set but not a positive whole number of milliseconds (ignored). */
  invalid: string[];
}

/** Reads TIME_LIMIT_ENV from an environment map (the caller owns process.env). */
export function timeLimitsFromEnv(env: Record<string, string | undefined>): TimeLimits {
  const invalid: string[] = [];
  const read = (key: keyof typeof TIME_LIMIT_ENV, fallback: number): number => {
    const name = TIME_LIMIT_ENV[key];
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d{1,9}$/.test(raw) || Number(raw) === 0) {
      invalid.push(name);
      return fallback;
    }
    return Number(raw);
  };
  const timeouts = {
    connectMs: read('connectMs', DEFAULT_TIMEOUTS.connectMs),
    headersMs: read('headersMs', DEFAULT_TIMEOUTS.headersMs),
    bodyIdleMs: read('bodyIdleMs', DEFAULT_TIMEOUTS.bodyIdleMs),
    drainMs: DEFAULT_TIMEOUTS.drainMs,
  };
  const budgets = {
    executeMs: read('executeMs', DEFAULT_CALL_BUDGETS.executeMs),
    registerMs: read('registerMs', DEFAULT_CALL_BUDGETS.registerMs),
  };
  return { timeouts, budgets, invalid };
}

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
    tokenRetainMs: 10 * 60_000,
    maxRedirects: 5,
    errorBodyLimit: 64 * 1024,
    manifestSizeLimit: 4 * 1024 * 1024,
    clientId: DEFAULT_USER_AGENT,
    timeouts: { ...DEFAULT_TIMEOUTS, ...stripUndefined(o.timeouts ?? {}) },
    chunkSize: 4 * 1024 * 1024,
    uploadRestarts: 2,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
