import { AbortedError, AuthenticationError, RegistryError, RegistryUnreachableError } from '../../../src/oci/errors';
import { DEFAULT_RETRY, resolveRetryOptions } from '../../../src/oci/options';
import { abortableSleep, parseRetryAfter, retryDelay, withRetry, type RetryOptions } from '../../../src/oci/retry';

const regErr = (status: number, retryAfterMs?: number) =>
  new RegistryError({ status, method: 'PUT', url: 'https://r/v2/x', ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
const netErr = (reason: string) => new RegistryUnreachableError('r', reason, '');

function fakeClock(over: Partial<RetryOptions> = {}) {
  let now = 0;
  const sleeps: number[] = [];
  const opts = resolveRetryOptions({
    random: () => 1,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    ...over,
  });
  return { opts, sleeps };
}

describe('retryDelay classification', () => {
  const opts = resolveRetryOptions({ random: () => 1 });
  it.each([408, 429, 500, 502, 503, 504])('retries status %i', (s) => expect(retryDelay(regErr(s), 1, opts)).toBe(200));
  it.each([400, 401, 403, 404, 405, 409, 501])('does not retry status %i', (s) => expect(retryDelay(regErr(s), 1, opts)).toBeUndefined());
  it.each(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])(
    'retries %s',
    (r) => expect(retryDelay(netErr(r), 1, opts)).toBe(200),
  );
  it.each(['ENOTFOUND', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT'])('does not retry %s', (r) =>
    expect(retryDelay(netErr(r), 1, opts)).toBeUndefined(),
  );
  it('does not retry auth errors, aborts or plain errors', () => {
    expect(retryDelay(new AuthenticationError('h', 'x'), 1, opts)).toBeUndefined();
    expect(retryDelay(new AbortedError(false), 1, opts)).toBeUndefined();
    expect(retryDelay(new Error('x'), 1, opts)).toBeUndefined();
  });
  it('backs off exponentially with full jitter, capped at maxDelay', () => {
    expect([1, 2, 3, 4].map((a) => retryDelay(regErr(503), a, opts))).toEqual([200, 400, 800, 1600]);
    const wide = resolveRetryOptions({ random: () => 1, attempts: 10 });
    expect(retryDelay(regErr(503), 6, wide)).toBe(3000);
    expect(retryDelay(regErr(503), 7, opts)).toBe(3000);
    expect(retryDelay(regErr(503), 8, opts)).toBeUndefined(); // 8 attempts per request
    expect(retryDelay(regErr(503), 3, resolveRetryOptions({ random: () => 0.5 }))).toBe(400);
  });
  it('retries ECONNREFUSED only briefly', () => {
    expect(retryDelay(netErr('ECONNREFUSED'), 1, opts)).toBe(200);
    expect(retryDelay(netErr('ECONNREFUSED'), 2, opts)).toBe(200);
    expect(retryDelay(netErr('ECONNREFUSED'), 3, opts)).toBeUndefined();
  });
  it('honours a Retry-After it can wait for, and answers at once when it is longer', () => {
    expect(retryDelay(regErr(429, 2_000), 1, opts)).toBe(2_000);
    expect(retryDelay(regErr(429, DEFAULT_RETRY.maxRetryAfterMs), 1, opts)).toBe(DEFAULT_RETRY.maxRetryAfterMs);
    expect(retryDelay(regErr(429, DEFAULT_RETRY.maxRetryAfterMs + 1), 1, opts)).toBeUndefined();
    expect(retryDelay(regErr(503, 3_600_000), 1, opts)).toBeUndefined();
    expect(regErr(429, 3_600_000).message).toMatch(/retry after 3600 s/);
  });
});

describe('parseRetryAfter', () => {
  it('parses seconds and HTTP dates', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000);
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sun, 31 Dec 2023 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('withRetry', () => {
  it('retries transient failures then succeeds', async () => {
    const { opts, sleeps } = fakeClock();
    let calls = 0;
    const got = await withRetry(async () => {
      if (++calls < 3) throw regErr(503);
      return 'ok';
    }, opts);
    expect(got).toBe('ok');
    expect(calls).toBe(3);
    expect(sleeps).toEqual([200, 400]);
  });

  it('fails at once on a permanent error', async () => {
    const { opts, sleeps } = fakeClock();
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw regErr(400);
      }, opts),
    ).rejects.toMatchObject({ status: 400 });
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('stops when the next delay would exceed the budget, returning the last error', async () => {
    const { opts, sleeps } = fakeClock({ budgetMs: 500 });
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw regErr(502);
      }, opts),
    ).rejects.toMatchObject({ status: 502 });
    expect(sleeps).toEqual([200]); // 200 + 400 > 500
    expect(calls).toBe(2);
  });

  it('gives up after `attempts`', async () => {
    const { opts } = fakeClock();
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw netErr('ECONNRESET');
      }, opts),
    ).rejects.toBeInstanceOf(RegistryUnreachableError);
    expect(calls).toBe(DEFAULT_RETRY.attempts);
  });

  it('stops promptly when the signal aborts during a backoff sleep', async () => {
    const ac = new AbortController();
    const opts = resolveRetryOptions({ baseDelayMs: 10_000, maxDelayMs: 10_000, random: () => 1 });
    const started = Date.now();
    setTimeout(() => ac.abort(), 30);
    const err = await withRetry(async () => {
      throw regErr(503);
    }, opts, { signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as AbortedError).deadline).toBe(false);
    expect((err as Error).message).toMatch(/503/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('marks deadline aborts and never starts after an abort', async () => {
    const signal = AbortSignal.timeout(1);
    await new Promise((r) => setTimeout(r, 20));
    let calls = 0;
    const err = await withRetry(async () => {
      calls++;
    }, resolveRetryOptions(), { signal }).catch((e: unknown) => e);
    expect(calls).toBe(0);
    expect(err).toMatchObject({ code: 'OCI_ABORTED', deadline: true });
  });

  it('abortableSleep resolves after the delay', async () => {
    await expect(abortableSleep(1)).resolves.toBeUndefined();
  });
});
