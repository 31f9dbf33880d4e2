/**
 * Response body handling. Every response body is either read or dumped so
 * keep-alive sockets return to the pool; error bodies are read only up to a
 * bound and parsed for the distribution spec `{"errors":[...]}` shape.
 */
import { AuthenticationError, PermissionError, RegistryError, type RegistryErrorDetail } from './errors';
import { bodyReadError, header, type HttpResponse } from './http';
import { droppedQueryValues, redactUrl, scrubSecrets } from './redact';
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

/** Drops the body without buffering it. */
export async function discard(res: HttpResponse): Promise<void> {
  try {
    await res.body.dump({ limit: 64 * 1024 });
  } catch {
    // Nothing useful to report: the response has already been judged.
  }
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
    const entry: RegistryErrorDetail = {
      code: typeof code === 'string' ? code.slice(0, 100) : 'UNKNOWN',
      message: typeof message === 'string' ? scrubSecrets(message.slice(0, 1000), secretList) : '',
    };
    if (detail !== undefined) {
      // Registries sometimes echo request data in `detail`; scrub before keeping it.
      const text = scrubSecrets(JSON.stringify(detail) ?? '', secretList);
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
