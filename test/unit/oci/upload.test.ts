import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sha256Digest } from '../../../src/oci/digest';
import { RegistryError } from '../../../src/oci/errors';
import { FakeRegistry } from './fake-registry';
import { clientFor, closeAgents, repoOn } from './client-helpers';

const creds = { username: 'user', password: 'pass' };
let reg: FakeRegistry;
afterEach(async () => {
  await reg?.stop();
});
afterAll(closeAgents);

const shape = (r: FakeRegistry) =>
  r.registryRequests().map((q) => `${q.method} ${q.path.replace(/uploads\/[0-9a-f-]{36}/, 'uploads/<id>').replace(/sha256:[0-9a-f]{64}/, '<d>')}`);

/** A storage origin (another port): records what reaches it and stores PUT bodies into `reg`. */
async function startStorage(onPut: (url: URL, body: Buffer) => void): Promise<{ server: Server; port: number; seen: { method: string; headers: IncomingHttpHeaders; bytes: number }[] }> {
  const seen: { method: string; headers: IncomingHttpHeaders; bytes: number }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', headers: req.headers, bytes: body.length });
      onPut(new URL(req.url ?? '/', 'http://storage'), body);
      res.writeHead(201);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

async function stopStorage(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

describe('chunked uploads', () => {
  it('falls back to PATCH + PUT when the monolithic PUT is refused, and remembers it for the registry', async () => {
    reg = await new FakeRegistry({ chunkedOnly: true }).start();
    const client = clientFor();
    const repo = repoOn(reg, 'c');
    const data = Buffer.from('chunked blob');
    expect(await client.pushBlob(repo, data)).toBe(sha256Digest(data));
    expect(reg.blobs.get(`c@${sha256Digest(data)}`)?.toString()).toBe('chunked blob');
    expect(shape(reg)).toEqual([
      'POST /v2/c/blobs/uploads/',
      'PUT /v2/c/blobs/uploads/<id>',
      'POST /v2/c/blobs/uploads/',
      'PATCH /v2/c/blobs/uploads/<id>',
      'PUT /v2/c/blobs/uploads/<id>',
    ]);
    reg.requests.length = 0;
    await client.pushBlob(repo, Buffer.from('second'));
    expect(shape(reg)).toEqual(['POST /v2/c/blobs/uploads/', 'PATCH /v2/c/blobs/uploads/<id>', 'PUT /v2/c/blobs/uploads/<id>']);
  });

  it('sends chunks of at least OCI-Chunk-Min-Length with Content-Range, the last one shorter', async () => {
    reg = await new FakeRegistry({ chunkedOnly: true, chunkMinLength: 10 }).start();
    const client = clientFor({ credentials: creds });
    // Force small chunks so the minimum matters.
    (client as unknown as { session: { opts: { chunkSize: number } } }).session.opts.chunkSize = 4;
    const data = Buffer.from('0123456789abcdefghijXYZ');
    await client.pushBlob(repoOn(reg, 'c'), data);
    const patches = reg.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((p) => [p.contentRange, p.body.length])).toEqual([
      ['0-9', 10],
      ['10-19', 10],
      ['20-22', 3],
    ]);
    expect(reg.blobs.get(`c@${sha256Digest(data)}`)?.equals(data)).toBe(true);
  });

  it('resumes from the Range the session reports after a PATCH lost in transit', async () => {
    reg = await new FakeRegistry({ chunkedOnly: true, chunkMinLength: 5 }).start();
    const client = clientFor();
    (client as unknown as { session: { opts: { chunkSize: number } } }).session.opts.chunkSize = 5;
    const data = Buffer.from('aaaaabbbbbccccc');
    let lost = 1;
    reg.intercept = (req, res) => {
      if (req.method === 'PATCH' && req.contentRange === '5-9' && lost-- > 0) {
        // The registry stores the chunk, then the answer is lost.
        const id = /uploads\/([^/?]+)/.exec(req.path)![1]!;
        reg.received.set(id, Buffer.concat([reg.received.get(id)!, req.body]));
        res.socket?.destroy();
        return true;
      }
      return false;
    };
    await client.pushBlob(repoOn(reg, 'c'), data);
    expect(reg.blobs.get(`c@${sha256Digest(data)}`)?.equals(data)).toBe(true);
    // Status GET, then the next chunk: 5-9 is not sent twice.
    expect(reg.requests.filter((r) => ['PATCH', 'GET'].includes(r.method)).map((r) => `${r.method} ${r.contentRange ?? ''}`)).toEqual([
      'PATCH 0-4',
      'PATCH 5-9',
      'GET ',
      'PATCH 10-14',
    ]);
  });

  it('starts over with a new session only when the registry lost the old one', async () => {
    reg = await new FakeRegistry().start();
    const client = clientFor();
    let forget = 1;
    reg.intercept = (req) => {
      if (req.method === 'PUT' && forget-- > 0) reg.uploads.clear();
      return false;
    };
    const data = Buffer.from('again');
    await client.pushBlob(repoOn(reg, 'c'), data);
    expect(shape(reg)).toEqual([
      'POST /v2/c/blobs/uploads/',
      'PUT /v2/c/blobs/uploads/<id>',
      'HEAD /v2/c/blobs/<d>',
      'POST /v2/c/blobs/uploads/',
      'PUT /v2/c/blobs/uploads/<id>',
    ]);
  });

  it('a failed existence check costs nothing: the upload goes on', async () => {
    reg = await new FakeRegistry().start();
    const client = clientFor();
    let resets = 1;
    let headFails = 1;
    reg.intercept = (req, res) => {
      if (req.method === 'PUT' && resets-- > 0) {
        res.socket?.destroy();
        return true;
      }
      if (req.method === 'HEAD' && headFails-- > 0) {
        res.writeHead(500);
        res.end();
        return true;
      }
      return false;
    };
    await client.pushBlob(repoOn(reg, 'c'), Buffer.from('x'));
    expect(shape(reg)).toEqual(['POST /v2/c/blobs/uploads/', 'PUT /v2/c/blobs/uploads/<id>', 'HEAD /v2/c/blobs/<d>', 'PUT /v2/c/blobs/uploads/<id>']);
  });
});

describe('uploads on another origin', () => {
  let storage: Awaited<ReturnType<typeof startStorage>>;
  afterEach(async () => {
    if (storage) await stopStorage(storage.server);
  });

  it('follows a 307 on the blob PUT to a storage origin, re-sending the body without Authorization', async () => {
    reg = await new FakeRegistry({ auth: 'basic' }).start();
    const client = clientFor({ credentials: creds });
    const repo = repoOn(reg, 's');
    const data = Buffer.from('redirected blob');
    storage = await startStorage((url, body) => reg.blobs.set(`s@${url.searchParams.get('digest')}`, body));
    reg.intercept = (req, res) => {
      if (req.method !== 'PUT' || req.authorization !== reg.basic()) return false;
      const digest = new URL(req.url).searchParams.get('digest');
      res.writeHead(307, { location: `http://localhost:${storage.port}/bucket/upload?digest=${digest}&X-Amz-Signature=sig` });
      res.end();
      return true;
    };
    expect(await client.pushBlob(repo, data)).toBe(sha256Digest(data));
    expect(storage.seen).toHaveLength(1);
    expect(storage.seen[0]).toMatchObject({ method: 'PUT', bytes: data.length });
    expect(storage.seen[0]!.headers.authorization).toBeUndefined();
    expect(reg.blobs.get(`s@${sha256Digest(data)}`)?.equals(data)).toBe(true);
  });

  it('stops after 5 redirect hops with a clear error', async () => {
    reg = await new FakeRegistry().start();
    const client = clientFor();
    reg.intercept = (req, res) => {
      if (req.method !== 'PUT') return false;
      res.writeHead(308, { location: req.path + '?again=1' });
      res.end();
      return true;
    };
    const err = await client.pushBlob(repoOn(reg, 's'), Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as Error).message).toMatch(/TOO_MANY_REDIRECTS/);
    expect(reg.requests.filter((r) => r.method === 'PUT')).toHaveLength(6);
  });

  it.each([
    ['with credentials', { auth: 'basic' } as { auth?: 'basic' }],
    ['anonymous', {} as { auth?: 'basic' }],
  ])('accepts an upload Location on another origin (%s) and sends it no Authorization', async (_name, opts) => {
    reg = await new FakeRegistry(opts).start();
    const client = clientFor(opts.auth ? { credentials: creds } : {});
    storage = await startStorage((url, body) => reg.blobs.set(`o@${url.searchParams.get('digest')}`, body));
    reg.intercept = (req, res) => {
      if (req.method !== 'POST' || (opts.auth && req.authorization !== reg.basic())) return false;
      res.writeHead(202, { location: `http://user:pw@localhost:${storage.port}/bucket/session?sig=s3cr3t` });
      res.end();
      return true;
    };
    const data = Buffer.from('elsewhere');
    await client.pushBlob(repoOn(reg, 'o'), data);
    expect(storage.seen.map((s) => s.method)).toEqual(['PUT']);
    expect(storage.seen[0]!.headers.authorization).toBeUndefined();
    expect(reg.blobs.get(`o@${sha256Digest(data)}`)?.equals(data)).toBe(true);
  });
});
