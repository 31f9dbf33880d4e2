/**
 * Typed errors for the OCI registry client. Every error carries a stable
 * `code` (like undici's lib/core/errors.js) so callers branch on codes, not
 * on messages. Messages are built only from redacted URLs and registry error
 * bodies: they never contain passwords, tokens or Authorization values.
 */
import { STATUS_CODES } from 'node:http';
import { quoteInput, safeText } from '../util/safe-text';

export class OciError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** True when repeating the same operation later may succeed. */
  isTemporary(): boolean {
    return false;
  }
}

export class InvalidReferenceError extends OciError {
  readonly input: string;

  constructor(input: string, reason: string, what = 'repository') {
    super('OCI_INVALID_REFERENCE', `invalid ${what} ${quoteInput(input)}: ${safeText(reason, 400)}`);
    this.input = input;
  }
}

/** One entry of the distribution spec error body `{"errors":[...]}`. */
export interface RegistryErrorDetail {
  code: string;
  message: string;
  detail?: unknown;
}

const TEMPORARY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export class RegistryError extends OciError {
  readonly status: number;
  readonly method: string;
  /** Redacted: no userinfo, no secret-bearing query parameters. */
  readonly url: string;
  readonly errors: RegistryErrorDetail[];
  /** Parsed Retry-After in milliseconds, when the registry sent one. */
  readonly retryAfterMs?: number;

  constructor(init: {
    status: number;
    statusText?: string;
    method: string;
    url: string;
    errors?: RegistryErrorDetail[];
    retryAfterMs?: number;
  }) {
    const errors = init.errors ?? [];
    const statusText = init.statusText || defaultStatusText(init.status);
    const details = errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join('; ');
    const head = `${init.method} ${init.url}: ${init.status}${statusText ? ` ${statusText}` : ''}`;
    const wait = init.retryAfterMs !== undefined ? ` (the registry asks to retry after ${Math.ceil(init.retryAfterMs / 1000)} s)` : '';
    super('OCI_REGISTRY_ERROR', `${details ? `${head}: ${details}` : head}${wait}`);
    this.status = init.status;
    this.method = init.method;
    this.url = init.url;
    this.errors = errors;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }

  override isTemporary(): boolean {
    return TEMPORARY_STATUSES.has(this.status);
  }

  /** True when any registry error entry has the given code (e.g. BLOB_UNKNOWN). */
  hasCode(code: string): boolean {
    return this.errors.some((e) => e.code === code);
  }
}

/** Network reasons worth another try: the peer or path may recover. */
const TEMPORARY_REASONS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

export class RegistryUnreachableError extends OciError {
  readonly host: string;
  /** Low-level reason: ECONNREFUSED, ENOTFOUND, UND_ERR_CONNECT_TIMEOUT, a TLS code... */
  readonly reason: string;

  constructor(host: string, reason: string, detail: string, options?: { cause?: unknown }) {
    super('OCI_UNREACHABLE', `cannot reach registry ${host}: ${reason}${detail ? ` (${detail})` : ''}`, options);
    this.host = host;
    this.reason = reason;
  }

  override isTemporary(): boolean {
    return TEMPORARY_REASONS.has(this.reason);
  }
}

export class AuthenticationError extends OciError {
  readonly host: string;

  constructor(host: string, message: string) {
    super('OCI_UNAUTHORIZED', `${host}: ${message}`);
    this.host = host;
  }
}

export class PermissionError extends OciError {
  readonly host: string;
  readonly status: number;
  readonly errors: RegistryErrorDetail[];

  constructor(host: string, status: number, message: string, errors: RegistryErrorDetail[] = []) {
    super('OCI_DENIED', `${host}: ${message}`);
    this.host = host;
    this.status = status;
    this.errors = errors;
  }
}

export class DigestMismatchError extends OciError {
  readonly expected: string;
  readonly actual: string;

  constructor(what: string, expected: string, actual: string) {
    super('OCI_DIGEST_MISMATCH', `${what}: digest mismatch: expected ${expected}, registry reported ${actual}`);
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A tag PUT was refused (412/409/immutable) and the tag already holds other
 * content, so this push cannot land there.
 */
export class TagImmutableError extends OciError {
  readonly held: string;
  readonly wanted: string;

  constructor(reference: string, held: string, wanted: string, reason: string) {
    super(
      'OCI_TAG_IMMUTABLE',
      `the tag ${reference} is immutable and holds ${held}, not ${wanted}: ${reason}`,
    );
    this.held = held;
    this.wanted = wanted;
  }
}

export class InsecureRequestError extends OciError {
  constructor(message: string) {
    super('OCI_INSECURE', message);
  }
}

export class AbortedError extends OciError {
  /** True when the abort reason was a deadline (AbortSignal.timeout / TimeoutError). */
  readonly deadline: boolean;

  constructor(deadline: boolean, message?: string, options?: { cause?: unknown }) {
    super('OCI_ABORTED', message ?? (deadline ? 'operation deadline exceeded' : 'operation aborted'), options);
    this.deadline = deadline;
  }
}

export function isTemporary(err: unknown): boolean {
  return err instanceof OciError && err.isTemporary();
}

/** Builds the AbortedError matching a signal's reason. */
export function abortedFromSignal(signal: AbortSignal | undefined, context?: string): AbortedError {
  const reason = signal?.reason as { name?: unknown; message?: unknown } | undefined;
  // DOMException may come from another realm (e.g. under jest), so test the name only.
  const deadline = typeof reason === 'object' && reason !== null && reason.name === 'TimeoutError';
  const why = deadline && typeof reason.message === 'string' && reason.message ? ` (${safeText(reason.message, 200)})` : '';
  const base = deadline ? `operation deadline exceeded${why}` : 'operation aborted';
  return new AbortedError(deadline, context ? `${base} ${context}` : base);
}

/** The standard reason phrase; registries' own phrases are not exposed by undici. */
function defaultStatusText(status: number): string {
  return STATUS_CODES[status] ?? (status >= 500 ? 'Server Error' : status >= 400 ? 'Client Error' : 'Unexpected Status');
}
