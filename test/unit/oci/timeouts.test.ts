import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegistryUnreachableError } from '../../../src/oci/errors';
import { DEFAULT_CALL_BUDGETS, DEFAULT_TIMEOUTS, executeBudgetMs, FAST_RETRY, msAtSlowestLink, TIME_LIMIT_ENV, timeLimitsFromEnv } from '../../../src/oci/options';
import { parseRepository } from '../../../src/oci/reference';
import { clientFor, closeAgents } from './client-helpers';

let server: Server;
let port: number;
let handler: (method: string, url: string, res: ServerResponse) => void;
const held: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req.method ?? '', req.url ?? '', res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterEach(() => held.splice(0).forEach((r) => r.destroy()));
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await closeAgents();
});

const repo = () => parseRepository(`127.0.0.1:${port}/t`);
const client = (t: Partial<typeof DEFAULT_TIMEOUTS>) => clientFor({ timeouts: t, retry: { ...FAST_RETRY, attempts: 2 } });

describe('every request is bounded', () => {
  it('a registry that never sends the response headers: a typed, retryable timeout naming the request', async () => {
    let seen = 0;
    handler = (_m, _u, res) => {
      seen++;
      held.push(res);
    };
    const t0 = Date.now();
    const err = await client({ headersMs: 200 }).pushBlob(repo(), Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnreachableError);
    expect((err as RegistryUnreachableError).reason).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect((err as Error).message).toMatch(/no response within 0\.2 s during POST http:\/\/127\.0\.0\.1:\d+\/v2\/t\/blobs\/uploads\//);
    expect(seen).toBe(2); // retried once (attempts: 2)
    // undici's timers tick coarsely (about 1 s), so 2 × 200 ms ends within a few seconds.
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('a request with a body is given the time the body takes at 1 MiB/s on top, and the message says how long it waited', async () => {
    handler = (method, _u, res) => {
      if (method === 'POST') {
        res.writeHead(202, { location: '/v2/t/blobs/uploads/u1' });
        return void res.end();
      }
      held.push(res); // the PUT: never answered
    };
    const t0 = Date.now();
    // 1.5 MiB: 1.5 s on top of the 0.2 s response timeout.
    const err = await clientFor({ timeouts: { headersMs: 200 }, retry: { ...FAST_RETRY, attempts: 1 } })
      .pushBlob(repo(), Buffer.alloc(1.5 * 1024 * 1024))
      .catch((e: unknown) => e);
    expect((err as RegistryUnreachableError).reason).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect((err as Error).message).toMatch(/no response within 1\.7 s during PUT/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1700);
  });

  it('a body that stalls mid-way: a body-idle timeout', async () => {
    handler = (_m, _u, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '100' });
      res.write('0123456789');
      held.push(res);
    };
    const err = await client({ bodyIdleMs: 200 }).getBlob(repo(), `sha256:${'a'.repeat(64)}`).catch((e: unknown) => e);
    expect((err as RegistryUnreachableError).reason).toBe('UND_ERR_BODY_TIMEOUT');
    expect((err as Error).message).toMatch(/the response stalled for 0\.2 s/);
  });

  it('the unneeded body of a success is not waited for beyond the drain time', async () => {
    handler = (method, url, res) => {
      if (method === 'POST') {
        res.writeHead(202, { location: '/v2/t/blobs/uploads/u1' });
        return void res.end();
      }
      // A 201 whose body never finishes: the status is all we need.
      res.writeHead(201, { 'content-length': '1000' });
      res.write('{"partial":');
      held.push(res);
    };
    const t0 = Date.now();
    await client({ bodyIdleMs: 30_000, drainMs: 100 }).pushBlob(repo(), Buffer.from('x'));
    expect(Date.now() - t0).toBeLessThan(1500);
  });
});

describe('timeLimitsFromEnv', () => {
  it('defaults: a stalled read of 15 s, budgets well under a minute', () => {
    const l = timeLimitsFromEnv({});
    expect(l.timeouts).toEqual(DEFAULT_TIMEOUTS);
    expect(l.budgets).toEqual(DEFAULT_CALL_BUDGETS);
    expect(l.budgets.executeMs).toBeLessThan(60_000);
    expect(l.invalid).toEqual([]);
  });
  it('reads every variable and ignores (and reports) bad values', () => {
    const l = timeLimitsFromEnv({
      [TIME_LIMIT_ENV.connectMs]: '1500',
      [TIME_LIMIT_ENV.headersMs]: ' 700 ',
      [TIME_LIMIT_ENV.bodyIdleMs]: '0',
      [TIME_LIMIT_ENV.executeMs]: '5s',
      [TIME_LIMIT_ENV.registerMs]: '9000',
    });
    expect(l.timeouts).toMatchObject({ connectMs: 1500, headersMs: 700, bodyIdleMs: DEFAULT_TIMEOUTS.bodyIdleMs });
    expect(l.budgets).toEqual({ executeMs: DEFAULT_CALL_BUDGETS.executeMs, registerMs: 9000 });
    expect(l.invalid).toEqual([TIME_LIMIT_ENV.bodyIdleMs, TIME_LIMIT_ENV.executeMs]);
  });
});

describe('the slowest link waited for (1 MiB/s)', () => {
  it("adds a body's time to its response timeout, and an envelope's to Execute's budget", () => {
    expect(msAtSlowestLink(0)).toBe(0);
    expect(msAtSlowestLink(4096)).toBe(4);
    expect(msAtSlowestLink(8 * 1024 * 1024)).toBe(8000);
    expect(executeBudgetMs(DEFAULT_CALL_BUDGETS, 0)).toBe(45_000);
    expect(executeBudgetMs(DEFAULT_CALL_BUDGETS, 64 * 1024 * 1024)).toBe(45_000 + 64_000);
    expect(executeBudgetMs({ executeMs: 8000, registerMs: 1 }, 2047 * 1024 * 1024)).toBe(8000 + 2_047_000);
  });
});
