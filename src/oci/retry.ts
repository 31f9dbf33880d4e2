/**
 * Retry policy for transient registry failures: exponential backoff with
 * full jitter, bounded by attempts, a total time budget and the caller's
 * AbortSignal. Only errors that report isTemporary() are retried.
 */
import { AbortedError, RegistryError, RegistryUnreachableError, abortedFromSignal, isTemporary } from './errors';

export interface RetryOptions {
  /** Total attempts including the first. */
  attempts: number;
  baseDelayMs: number;
  factor: number;
  maxDelayMs: number;
  /** Wall-clock budget for all attempts and delays. */
  budgetMs: number;
  /** Longest Retry-After honoured; a longer one fails the request at once. */
  maxRetryAfterMs: number;
  /** Total attempts when the connection is refused (the registry is likely down; fail fast). */
  refusedAttempts: number;
  /** Injected for tests; must reject when the signal aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  now: () => number;
}

export interface RetryContext {
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Delay before the next attempt, or undefined when `err` must not be retried. */
export function retryDelay(err: unknown, attempt: number, opts: RetryOptions): number | undefined {
  if (!isTemporary(err)) return undefined;
  const refused = err instanceof RegistryUnreachableError && err.reason === 'ECONNREFUSED';
  const limit = refused ? Math.min(opts.refusedAttempts, opts.attempts) : opts.attempts;
  if (attempt >= limit) return undefined;
  if (err instanceof RegistryError && err.retryAfterMs !== undefined) {
    // A wait longer than we may sleep is left to the caller's backoff (Chainloop
    // re-delivers): answer now, with the registry's reason and the wait it asked for.
    return err.retryAfterMs > opts.maxRetryAfterMs ? undefined : err.retryAfterMs;
  }
  let ceiling = Math.min(opts.maxDelayMs, opts.baseDelayMs * opts.factor ** (attempt - 1));
  if (refused) ceiling = Math.min(ceiling, opts.baseDelayMs);
  return Math.floor(opts.random() * ceiling);
}

/** Runs `op` until it succeeds, fails permanently, or the budget/signal ends. */
export async function withRetry<T>(op: (attempt: number) => Promise<T>, opts: RetryOptions, ctx: RetryContext = {}): Promise<T> {
  const start = opts.now();
  for (let attempt = 1; ; attempt++) {
    if (ctx.signal?.aborted) throw abortedFromSignal(ctx.signal);
    try {
      return await op(attempt);
    } catch (err) {
      const delay = retryDelay(err, attempt, opts);
      if (delay === undefined) throw err;
      // A delay that would outlive the budget cannot lead to success in time.
      if (opts.now() - start + delay > opts.budgetMs) throw err;
      ctx.onRetry?.(err, attempt, delay);
      try {
        await opts.sleep(delay, ctx.signal);
      } catch {
        const last = err instanceof Error ? err.message : String(err);
        const aborted = abortedFromSignal(ctx.signal);
        throw new AbortedError(aborted.deadline, `${aborted.message} while waiting to retry after: ${last}`, { cause: err });
      }
    }
  }
}

/** Retry-After as delta-seconds or HTTP-date, in milliseconds; undefined if unparsable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** setTimeout-based sleep that rejects promptly when the signal aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
