/**
 * Response body handling. Every response body is either read or dumped so
 * keep-alive sockets return to the pool; error bodies are read only up to a
 * bound and parsed for the distribution spec `{"errors":[...]}` shape.
 */
import { AuthenticationError, PermissionError, RegistryError, type RegistryErrorDetail } from './errors';
import { bodyReadError, header, type HttpResponse } from './http';
import { droppedQueryValues, redactUrl, scrubAndCut } from './redact';
import { parseRetryAfter } from './retry';
import { safeText } from '../util/safe-text';

/**
 * Reads at most `limit` bytes; the rest is discarded and the stream destroyed.
 * A connection lost mid-body becomes a retryable RegistryUnreachableError.
 */
export async function readLimited(res: HttpResponse, limit: number): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      if (size + buf.byteLength > limit) {
        chunks.push(buf.subarray(0, limit - size));
        size = limit;
        truncated = true;
        res.body.destroy();
        break;
      }
      chunks.push(buf);
      size += buf.byteLength;
    }
  } catch (err) {
    throw bodyReadError(err, res);
  }
  return { bytes: Buffer.concat(chunks, size), truncated };
}

/** Reads the whole body (blob downloads, whose size the caller accepted). */
export async function readAll(res: HttpResponse): Promise<Uint8Array> {
  try {
    return new Uint8Array(await res.body.arrayBuffer());
  } catch (err) {
    throw bodyReadError(err, res);
  }
}

/**
 * Drops the body without buffering it. The status has already been judged,
 * so a body that does not finish within a short drain time is not waited
 * for: the connection is dropped instead of being kept alive.
 */
export async function discard(res: HttpResponse): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let drained = false;
  try {
    await Promise.race([
      res.body.dump({ limit: 64 * 1024 }).then(() => {
        drained = true;
      }),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, res.timeouts?.drainMs ?? 1_000);
      }),
    ]);
  } catch {
    // Nothing useful to report: the response has already been judged.
  } finally {
    clearTimeout(timer);
  }
  if (!drained && !res.body.destroyed) res.body.destroy();
}

/** Parses `{"errors":[{code,message,detail}]}`; anything else yields []. */
export function parseErrorBody(bytes: Uint8Array, secrets: Iterable<string> = []): RegistryErrorDetail[] {
  if (bytes.byteLength === 0) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return [];
  }
  const list = (parsed as { errors?: unknown })?.errors;
  if (!Array.isArray(list)) return [];
  const secretList = [...secrets];
  const out: RegistryErrorDetail[] = [];
  for (const item of list.slice(0, 20)) {
    if (typeof item !== 'object' || item === null) continue;
    const { code, message, detail } = item as { code?: unknown; message?: unknown; detail?: unknown };
    // Registries echo request data (headers, form bodies): scrub, then cut.
    const entry: RegistryErrorDetail = {
      code: typeof code === 'string' ? scrubAndCut(code, 100, secretList) : 'UNKNOWN',
      message: typeof message === 'string' ? scrubAndCut(message, 1000, secretList) : '',
    };
    if (detail !== undefined) {
      const text = scrubAndCut(JSON.stringify(detail) ?? '', Number.MAX_SAFE_INTEGER, secretList);
      try {
        entry.detail = JSON.parse(text);
      } catch {
        entry.detail = text;
      }
    }
    out.push(entry);
  }
  return out;
}

/** `CODE: message; CODE2` — the registry's own reason, already scrubbed, made printable. */
export function summarizeErrors(errors: readonly RegistryErrorDetail[]): string {
  return safeText(errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join('; '), 500);
}

/**
 * Reads an error body (bounded, never throwing) and summarizes it; '' when it
 * has no OCI errors. Upload-state and signature values of the request's own
 * URL count as secrets too.
 */
export async function errorBodySummary(res: HttpResponse, limit: number, secrets: Iterable<string>): Promise<{ errors: RegistryErrorDetail[]; summary: string }> {
  const { bytes } = await readLimited(res, limit).catch(() => ({ bytes: new Uint8Array() }));
  const errors = parseErrorBody(bytes, [...secrets, ...droppedQueryValues(res.url)]);
  return { errors, summary: summarizeErrors(errors) };
}

export interface ErrorContext {
  limit: number;
  secrets: Iterable<string>;
  now: number;
}

/**
 * Converts a non-success response into a typed error, consuming its body.
 * 403 and DENIED map to PermissionError; 401 reaching here means the
 * credentials (or their absence) were refused.
 */
export async function responseError(res: HttpResponse, ctx: ErrorContext): Promise<Error> {
  const { errors, summary } = await errorBodySummary(res, ctx.limit, ctx.secrets);
  const host = res.url.host;
  if (res.status === 403) {
    return new PermissionError(host, 403, `${res.method} ${redactUrl(res.url)}: 403 Forbidden${summary ? `: ${summary}` : ''}`, errors);
  }
  if (res.status === 401) {
    return new AuthenticationError(host, `${res.method} ${redactUrl(res.url)}: 401 Unauthorized${summary ? `: ${summary}` : ''}`);
  }
  const retryAfterMs = parseRetryAfter(header(res, 'retry-after'), ctx.now);
  return new RegistryError({
    status: res.status,
    method: res.method,
    url: redactUrl(res.url),
    errors,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}
