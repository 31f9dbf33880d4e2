import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { RegistryClient } from '../../../src/oci/client';
import { sha256Digest } from '../../../src/oci/digest';
import { AbortedError, DigestMismatchError, RegistryError, RegistryUnreachableError } from '../../../src/oci/errors';
import { MEDIA_TYPES } from '../../../src/oci/media-types';
import { FAST_RETRY } from '../../../src/oci/options';
import { parseRepository } from '../../../src/oci/reference';
import { FakeRegistry, json } from './fake-registry';
import { clientFor, closeAgents, newAgent, repoOn } from './client-helpers';

let reg: FakeRegistry;
beforeEach(async () => {
  reg = await new FakeRegistry({ auth: 'none' }).start();
});
afterEach(async () => {
  await reg.stop();
});
afterAll(closeAgents);

const manifest = Buffer.from('{"schemaVersion":2}');
const methods = () => reg.requests.map((r) => `${r.method} ${r.path.replace(/uploads\/.+$/, 'uploads/<id>').replace(/sha256:\w+/, '<d>')}`);

describe('transient failures', () => {
  it('retries a connection lost in the middle of a response body', async () => {
    const client = clientFor();
    const repo = repoOn(reg, 'r');
    const digest = await client.pushManifest(repo, 'latest', manifest, MEDIA_TYPES.ociManifest);
    let cuts = 1;
    reg.intercept = (req, res) => {
      if (req.method === 'GET' && req.path.includes('/manifests/') && cuts-- > 0) {
        res.writeHead(200, { 'content-type': MEDIA_TYPES.ociManifest, 'content-length': String(manifest.byteLength) });
        res.write(manifest.subarray(0, 5));
        // Headers and a few bytes, then the connection dies.
        setImmediate(() => res.socket?.destroy());
        return true;
      }
      return false;
    };
    const got = await client.getManifest(repo, 'latest');
    expect(got.digest).toBe(digest);
    expect(cuts).toBe(-1);
  });

  it('retries a 503 on manifest PUT, then succeeds', async () => {
    let failures = 1;
    reg.intercept = (req, res) => {
      if (req.method === 'PUT' && req.path.includes('/manifests/') && failures-- > 0) {
        json(res, 503, { errors: [{ code: 'UNAVAILABLE', message: 'try later' }] });
        return true;
      }
      return false;
    };
    const client = clientFor();
    const repo = repoOn(reg, 'r');
    expect(await client.pushManifest(repo, 'latest', manifest, MEDIA_TYPES.ociManifest)).toBe(sha256Digest(manifest));
    expect(client.requestCount).toBe(2);
    expect(reg.manifests.get('r:latest')?.mediaType).toBe(MEDIA_TYPES.ociManifest);
  });

  it('honours Retry-After on 429', async () => {
    const sleeps: number[] = [];
    let failures = 1;
    reg.intercept = (req, res) => {
      if (req.method === 'PUT' && failures-- > 0) {
        res.writeHead(429, { 'retry-after': '2' });
        res.end();
        return true;
      }
      return false;
    };
    const client = new RegistryClient({
      dispatcher: newAgent(),
      retry: { ...FAST_RETRY, maxRetryAfterMs: 10_000, sleep: async (ms) => void sleeps.push(ms) },
    });
    await client.pushManifest(repoOn(reg, 'r'), 'v1', manifest, MEDIA_TYPES.ociManifest);
    expect(sleeps).toEqual([2000]);
  });

  it('on ECONNRESET mid-PUT, HEADs the blob, then retries only the PUT, on the same session', async () => {
    let resets = 1;
    reg.intercept = (req, res) => {
      if (req.method === 'PUT' && resets-- > 0) {
        res.socket?.destroy();
        return true;
      }
      return false;
    };
    const client = clientFor();
    const repo = repoOn(reg, 'r');
    const data = Buffer.from('blob');
    expect(await client.pushBlob(repo, data)).toBe(sha256Digest(data));
    expect(methods()).toEqual([
      'POST /v2/r/blobs/uploads/',
      'PUT /v2/r/blobs/uploads/<id>',
      'HEAD /v2/r/blobs/<d>',
      'PUT /v2/r/blobs/uploads/<id>',
    ]);
    expect(reg.blobs.get(`r@${sha256Digest(data)}`)?.toString()).toBe('blob');
  });

  it('does not re-upload when the failed PUT was committed', async () => {
    let resets = 1;
    reg.intercept = (req, res) => {
      if (req.method === 'PUT' && resets-- > 0) {
        // Store it, then lose the response: the client cannot know it worked.
        reg.blobs.set(`r@${new URL(req.url).searchParams.get('digest')}`, req.body);
        res.socket?.destroy();
        return true;
      }
      return false;
    };
    const client = clientFor();
    await client.pushBlob(repoOn(reg, 'r'), Buffer.from('blob'));
    expect(methods()).toEqual(['POST /v2/r/blobs/uploads/', 'PUT /v2/r/blobs/uploads/<id>', 'HEAD /v2/r/blobs/<d>']);
  });

  it('retries a refused connection only briefly', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const client = clientFor();
    const err = await client.checkPushPermission(parseRepository(`127.0.0.1:${port}/r`)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnreachableError);
    expect(err).toMatchObject({ code: 'OCI_UNREACHABLE', reason: 'ECONNREFUSED', host: `127.0.0.1:${port}` });
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect(client.requestCount).toBe(3);
  });
});

describe('permanent failures', () => {
  it('fails a 400 at once with the registry error code and message', async () => {
    reg.intercept = (req, res) => {
      if (req.method !== 'PUT') return false;
      json(res, 400, { errors: [{ code: 'MANIFEST_INVALID', message: 'manifest invalid', detail: { reason: 'x' } }] });
      return true;
    };
    const client = clientFor();
    const err = (await client.pushManifest(repoOn(reg, 'x'), 'latest', manifest, MEDIA_TYPES.ociManifest).catch((e: unknown) => e)) as RegistryError;
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.message).toBe(`PUT http://${reg.host}/v2/x/manifests/latest: 400 Bad Request: MANIFEST_INVALID: manifest invalid`);
    expect(err.errors).toEqual([{ code: 'MANIFEST_INVALID', message: 'manifest invalid', detail: { reason: 'x' } }]);
    expect(err.isTemporary()).toBe(false);
    expect(client.requestCount).toBe(1);
  });

  it('raises DigestMismatchError on a wrong Docker-Content-Digest', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    reg.intercept = (req, res) => {
      if (req.method !== 'PUT') return false;
      res.writeHead(201, { 'docker-content-digest': wrong });
      res.end();
      return true;
    };
    const client = clientFor();
    const err = await client.pushManifest(repoOn(reg, 'x'), 'latest', manifest, MEDIA_TYPES.ociManifest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect(err).toMatchObject({ code: 'OCI_DIGEST_MISMATCH', expected: sha256Digest(manifest), actual: wrong });
    expect(client.requestCount).toBe(1);
  });

  it('rejects a blob whose bytes do not match the digest', async () => {
    const client = clientFor();
    const repo = repoOn(reg, 'x');
    const digest = await client.pushBlob(repo, Buffer.from('good'));
    reg.blobs.set(`x@${digest}`, Buffer.from('evil'));
    await expect(client.getBlob(repo, digest)).rejects.toBeInstanceOf(DigestMismatchError);
  });
});

describe('abort', () => {
  it('stops an in-flight request promptly and closes its socket', async () => {
    let closed = false;
    reg.intercept = (req, res) => {
      if (req.method !== 'PUT') return false;
      res.socket?.on('close', () => (closed = true));
      return true; // never answer
    };
    const client = clientFor();
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 50);
    const err = await client.pushBlob(repoOn(reg, 'x'), Buffer.from('x'), { signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect(err).toMatchObject({ code: 'OCI_ABORTED', deadline: false });
    expect(Date.now() - started).toBeLessThan(1_000);
    for (let i = 0; i < 50 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(true);
  });

  it('reports a deadline from AbortSignal.timeout', async () => {
    reg.intercept = (req) => req.method === 'PUT';
    const client = clientFor();
    const err = await client.pushBlob(repoOn(reg, 'x'), Buffer.from('x'), { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OCI_ABORTED', deadline: true });
  });
});

describe('each request is retried on its own', () => {
  it('a token-service fault is retried as the token fetch, not as an attempt of the request it serves', async () => {
    await reg.stop();
    reg = await new FakeRegistry({ auth: 'bearer' }).start();
    let tokenFaults = 1;
    let postFaults = 1;
    reg.intercept = (req, res) => {
      const fault = (req.path === '/token' && tokenFaults-- > 0) || (req.method === 'POST' && req.authorization && postFaults-- > 0);
      if (!fault) return false;
      json(res, 503, { errors: [{ code: 'UNAVAILABLE', message: 'busy' }] });
      return true;
    };
    // Two attempts per request: one fault on the token and one on the POST must both be absorbed.
    const client = clientFor({ credentials: { username: 'user', password: 'pass' }, retry: { ...FAST_RETRY, attempts: 2 } });
    await client.pushBlob(repoOn(reg, 't'), Buffer.from('tok'));
    expect(methods()).toEqual([
      'POST /v2/t/blobs/uploads/',
      'GET /token',
      'GET /token',
      'POST /v2/t/blobs/uploads/',
      'POST /v2/t/blobs/uploads/',
      'PUT /v2/t/blobs/uploads/<id>',
    ]);
  });
});
