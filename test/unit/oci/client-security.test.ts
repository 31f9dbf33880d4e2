import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegistryClient } from '../../../src/oci/client';
import { InsecureRequestError } from '../../../src/oci/errors';
import { FAST_RETRY } from '../../../src/oci/options';
import { parseRepository } from '../../../src/oci/reference';
import { FakeRegistry } from './fake-registry';
import { agents, clientFor, closeAgents, repoOn } from './client-helpers';
import { TLS_HOST, makeCert, startTlsServer, tlsAgent as makeTlsAgent } from './tls-fixture';

function tlsAgent(ca: Buffer) {
  const a = makeTlsAgent(ca);
  agents.push(a);
  return a;
}

const creds = { username: 'user', password: 'pass' };
let reg: FakeRegistry;

beforeEach(async () => {
  reg = await new FakeRegistry({ auth: 'basic' }).start();
});
afterEach(async () => {
  await reg.stop();
});
afterAll(closeAgents);

describe('upload Location handling', () => {
  it('follows a relative Location and an absolute same-origin one', async () => {
    const client = clientFor({ credentials: creds });
    const repo = repoOn(reg, 'a/b');
    await client.pushBlob(repo, Buffer.from('x'));
    reg.intercept = (req, res) => {
      if (req.method !== 'POST') return false;
      reg.uploads.set('abs', 'a/b');
      res.writeHead(202, { location: `http://${reg.host}/v2/a/b/blobs/uploads/abs` });
      res.end();
      return true;
    };
    await client.pushBlob(repo, Buffer.from('y'));
    expect(reg.requests.at(-1)!.path).toBe('/v2/a/b/blobs/uploads/abs');
  });
});

describe('redirects', () => {
  let storage: Server;
  let seen: IncomingHttpHeaders[];
  beforeEach(async () => {
    seen = [];
    storage = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200);
      res.end('stored bytes');
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
  });
  afterEach(async () => {
    storage.closeAllConnections();
    await new Promise((r) => storage.close(r));
  });

  it('drops Authorization on a cross-origin blob redirect and verifies the digest', async () => {
    const client = clientFor({ credentials: creds });
    const repo = repoOn(reg, 'a/b');
    const digest = await client.pushBlob(repo, Buffer.from('stored bytes'));
    const port = (storage.address() as AddressInfo).port;
    reg.intercept = (req, res) => {
      if (req.method !== 'GET') return false;
      // Only answer once credentials arrived, like a real registry would.
      if (req.authorization !== reg.basic()) return false;
      res.writeHead(307, { location: `http://localhost:${port}/bucket/blob?X-Amz-Signature=sig` });
      res.end();
      return true;
    };
    const got = await client.getBlob(repo, digest);
    expect(Buffer.from(got).toString()).toBe('stored bytes');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.authorization).toBeUndefined();
    expect(reg.requests.at(-1)!.authorization).toBe(reg.basic());
  });

  it('keeps Authorization on a same-origin redirect and stops after 5 hops', async () => {
    const client = clientFor({ credentials: creds });
    const repo = repoOn(reg, 'a/b');
    const digest = await client.pushBlob(repo, Buffer.from('z'));
    let hops = 0;
    reg.intercept = (req, res) => {
      if (req.method !== 'GET') return false;
      hops++;
      res.writeHead(302, { location: `/v2/a/b/blobs/${digest}?hop=${hops}` });
      res.end();
      return true;
    };
    await expect(client.getBlob(repo, digest)).rejects.toThrow(/TOO_MANY_REDIRECTS/);
    const gets = reg.requests.filter((r) => r.method === 'GET');
    expect(gets).toHaveLength(6);
    expect(gets.every((r) => r.authorization === reg.basic())).toBe(true);
  });
});

describe('https registry (registry.test over TLS)', () => {
  const pair = makeCert();

  it('refuses an https→http downgrade of the upload Location', async () => {
    const { server, port } = await startTlsServer(pair, (req, res) => {
      req.resume();
      res.writeHead(202, { location: `http://${TLS_HOST}:${port}/v2/a/blobs/uploads/u` });
      res.end();
    });
    try {
      const client = new RegistryClient({ dispatcher: tlsAgent(pair.cert), retry: FAST_RETRY });
      const repo = parseRepository(`${TLS_HOST}:${port}/a`);
      expect(repo.scheme).toBe('https');
      await expect(client.pushBlob(repo, Buffer.from('x'))).rejects.toThrow(/downgrades https to http/);
      expect(client.requestCount).toBe(1);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('never sends credentials to an http realm of an https registry', async () => {
    const tokenHits: (string | undefined)[] = [];
    reg.intercept = (req) => {
      tokenHits.push(req.authorization);
      return false;
    };
    const realm = `http://${reg.host}/token`;
    const { server, port } = await startTlsServer(pair, (req, res) => {
      req.resume();
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="s"` });
      res.end();
    });
    try {
      const client = new RegistryClient({ dispatcher: tlsAgent(pair.cert), retry: FAST_RETRY, credentials: creds });
      const err = await client.checkPushPermission(parseRepository(`${TLS_HOST}:${port}/a`)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InsecureRequestError);
      expect((err as Error).message).toMatch(/plain http/);
      expect(tokenHits).toEqual([]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('reports an untrusted certificate as unreachable with a TLS reason', async () => {
    const { server, port } = await startTlsServer(pair, (_req, res) => res.end());
    try {
      const other = makeCert();
      const client = new RegistryClient({ dispatcher: tlsAgent(other.cert), retry: FAST_RETRY });
      const err = await client.checkPushPermission(parseRepository(`${TLS_HOST}:${port}/a`)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'OCI_UNREACHABLE' });
      expect((err as Error).message).toMatch(/TLS certificate verification failed/);
      expect(client.requestCount).toBe(1); // not retried
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
