/**
 * Hostile peers on both sides of the plugin:
 *  - gRPC clients that are not the host (no client certificate, another
 *    certificate, plaintext) are refused, and the socket is private;
 *  - registries that try to pull credentials elsewhere: cross-origin blob
 *    redirects, foreign or downgraded upload Locations, plain-http token realms.
 *
 * The HTTPS registry is reached under a non-loopback name (registry.test)
 * through an HTTPS_PROXY CONNECT tunnel to a local TLS server, so the plugin
 * applies its real https rules (loopback registries get plain-http leniency).
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import path from 'node:path';
import { Agent } from 'undici';
import { generateCertificate } from '../../src/goplugin/tls';
import { connectPlugin, type LaunchedPlugin } from '../../src/host/client';
import { parseRepository, RegistryClient, sha256Digest } from '../../src/oci';
import { LOOPBACK } from '../helpers/ports';
import { createTestCa, type TestCa } from '../helpers/tls-ca';
import { registryHandler, sendEmpty, sendJson, startFakeServer, type FakeServer } from './fake-server';
import {
  describeWhen,
  executeRequest,
  grpcError,
  haveExecutable,
  makeEnvelope,
  messageProblems,
  outcome,
  registrationInfo,
  report,
  sleep,
  startPlugin,
  stopPlugin,
} from './support';

const figures: Record<string, unknown> = {};
afterAll(() => report('hostile', figures));

const PASSWORD = 'hostile-Secr3t-pw';

describeWhen(haveExecutable, 'needs `make build`')('gRPC peers that are not the host', () => {
  let plugin: LaunchedPlugin;
  beforeAll(async () => {
    plugin = await startPlugin();
  });
  afterAll(() => stopPlugin(plugin));

  const describeWith = async (clients: ReturnType<typeof connectPlugin>) => {
    try {
      return await outcome(clients.fanout.describe({}, { deadlineMs: 3000 }));
    } finally {
      clients.close();
    }
  };

  it('the host itself gets an answer (control)', async () => {
    expect(await describeWith(connectPlugin({
      target: plugin.target,
      serverCertDer: plugin.handshake.serverCertDer,
      clientCertificate: plugin.clientCertificate,
    }))).toEqual({ ok: true });
  });

  it('refuses TLS without a client certificate', async () => {
    const r = await describeWith(connectPlugin({ target: plugin.target, serverCertDer: plugin.handshake.serverCertDer }));
    expect(r.ok).toBe(false);
    figures.noClientCert = r.ok ? 'ACCEPTED' : grpc.status[r.code];
  });

  it('refuses a client certificate other than PLUGIN_CLIENT_CERT', async () => {
    const stranger = await generateCertificate();
    const r = await describeWith(connectPlugin({ target: plugin.target, serverCertDer: plugin.handshake.serverCertDer, clientCertificate: stranger }));
    expect(r.ok).toBe(false);
    figures.otherClientCert = r.ok ? 'ACCEPTED' : grpc.status[r.code];
  });

  it('refuses plaintext', async () => {
    const r = await describeWith(connectPlugin({ target: plugin.target }));
    expect(r.ok).toBe(false);
  });

  it('keeps the socket in a 0700 folder that other users cannot enter', async () => {
    expect(plugin.handshake.network).toBe('unix');
    const socketPath = plugin.handshake.address;
    const dir = path.dirname(socketPath);
    const dirMode = statSync(dir).mode & 0o777;
    figures.socketDirMode = dirMode.toString(8);
    expect(dirMode).toBe(0o700);
    expect(statSync(dir).uid).toBe(process.getuid?.());
    expect(statSync(socketPath).isSocket()).toBe(true);
    if (process.getuid?.() === 0) {
      // As "nobody", connecting must fail at the folder's permission check.
      const code = await new Promise<string>((resolve) => {
        const child = spawn(
          process.execPath,
          ['-e', `require('net').connect(${JSON.stringify(socketPath)}).on('connect',()=>{console.log('CONNECTED');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(0)})`],
          { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 },
        );
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('close', () => resolve(out.trim()));
        child.on('error', (e) => resolve(`spawn failed: ${e.message}`));
      });
      figures.otherUserConnect = code;
      expect(code).toBe('EACCES');
    }
  });
});

describeWhen(haveExecutable, 'needs `make build`')('registries that redirect credentials elsewhere', () => {
  it('a cross-origin blob redirect (GET) is followed without the Authorization header', async () => {
    const blob = Buffer.from('{"blob":"from storage"}');
    const digest = sha256Digest(blob);
    const storage = await startFakeServer((_req, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      res.end(blob);
    });
    const registry = await startFakeServer(
      registryHandler((req, res) => {
        if (!req.authorization) {
          sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] }, { 'www-authenticate': 'Basic realm="fake"' });
          return true;
        }
        if (req.path.endsWith(`/blobs/${digest}`)) {
          sendEmpty(res, 307, { location: `${storage.url}/bucket/${digest}?X-Amz-Signature=abc` });
          return true;
        }
        return false;
      }),
    );
    const agent = new Agent();
    try {
      const client = new RegistryClient({ dispatcher: agent, credentials: { username: 'u', password: PASSWORD } });
      const got = Buffer.from(await client.getBlob(parseRepository(`${registry.host}/robust/redirect`), digest));
      expect(got.equals(blob)).toBe(true);
      expect(registry.requests.some((r) => r.authorization?.startsWith('Basic '))).toBe(true);
      expect(storage.requests.length).toBeGreaterThan(0);
      expect(storage.requests.map((r) => r.authorization)).toEqual(storage.requests.map(() => undefined));
      figures.redirectStorageRequests = storage.requests.length;
      figures.redirectStorageWithAuth = storage.requests.filter((r) => r.authorization).length;
    } finally {
      await agent.close();
      await storage.close();
      await registry.close();
    }
  });

  it('through the plugin: a HEAD redirected to another origin (blob check before re-upload) sends nothing there', async () => {
    const storage = await startFakeServer((_req, res) => sendEmpty(res, 200));
    const failedOnce = new Set<string>();
    const registry = await startFakeServer(
      registryHandler((req, res) => {
        if (!req.authorization) {
          sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] }, { 'www-authenticate': 'Basic realm="fake"' });
          return true;
        }
        const digest = req.query.get('digest');
        if (req.method === 'PUT' && digest && !failedOnce.has(digest)) {
          failedOnce.add(digest); // first PUT "fails in transit": the plugin will HEAD before re-uploading
          sendJson(res, 503, { errors: [{ code: 'UNAVAILABLE', message: 'try again' }] });
          return true;
        }
        if (req.method === 'HEAD' && req.path.includes('/blobs/sha256:')) {
          sendEmpty(res, 307, { location: `${storage.url}/bucket${req.path}` });
          return true;
        }
        return false;
      }),
    );
    const plugin = await startPlugin();
    try {
      const info = registrationInfo(`${registry.host}/robust/redirect`, 'u', PASSWORD);
      const r = await outcome(plugin.fanout.execute(executeRequest(info, makeEnvelope(1)), { deadlineMs: 20_000 }));
      expect(r).toEqual({ ok: true });
      expect(registry.requests.filter((q) => q.method === 'HEAD').length).toBeGreaterThan(0);
      expect(storage.requests.filter((q) => q.authorization !== undefined)).toEqual([]);
      figures.headRedirectStorageRequests = storage.requests.length;
    } finally {
      await stopPlugin(plugin);
      await storage.close();
      await registry.close();
    }
  });

  it.each([
    ['a registry that demands credentials', true],
    ['an anonymous registry', false],
  ])('through the plugin: an upload Location on another host (%s) gets the blob, never the credentials', async (_name, demandsAuth) => {
    const elsewhere = await startFakeServer((req, res) => sendEmpty(res, 201, { 'docker-content-digest': req.query.get('digest') ?? '' }));
    const registry = await startFakeServer(
      registryHandler((req, res) => {
        if (demandsAuth && !req.authorization) {
          sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'www-authenticate': 'Basic realm="fake"' });
          return true;
        }
        if (req.method === 'POST' && req.path.endsWith('/blobs/uploads/')) {
          sendEmpty(res, 202, { location: `${elsewhere.url}/v2/robust/loc/blobs/uploads/storage-session` });
          return true;
        }
        return false;
      }),
    );
    const plugin = await startPlugin();
    try {
      const info = registrationInfo(`${registry.host}/robust/loc`, 'u', PASSWORD);
      const r = await outcome(plugin.fanout.execute(executeRequest(info, makeEnvelope(2)), { deadlineMs: 20_000 }));
      figures[`foreignLocation${demandsAuth ? 'WithAuth' : 'Anonymous'}`] =
        `${r.ok ? 'OK' : grpc.status[r.code]}, elsewhere got ${elsewhere.requests.length}, with Authorization ${elsewhere.requests.filter((q) => q.authorization).length}`;
      expect(r.ok ? 'OK' : r.details).toBe('OK');
      expect(elsewhere.requests.map((q) => q.method)).toEqual(['PUT', 'PUT']);
      expect(elsewhere.requests.every((q) => q.authorization === undefined && q.bodyBytes > 0)).toBe(true);
      if (demandsAuth) expect(registry.requests.some((q) => q.authorization?.startsWith('Basic '))).toBe(true);
    } finally {
      await stopPlugin(plugin);
      await elsewhere.close();
      await registry.close();
    }
  });
});

/** An HTTP CONNECT proxy that tunnels every CONNECT to one local TLS server. */
async function startTunnel(targetPort: number): Promise<{ url: string; connects: string[]; close(): Promise<void> }> {
  const connects: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createHttpServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    connects.push(req.url ?? '');
    sockets.add(client);
    const upstream = netConnect(targetPort, LOOPBACK, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', end);
    client.on('error', end);
    upstream.on('close', () => sockets.delete(upstream));
    client.on('close', () => sockets.delete(client));
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${LOOPBACK}:${port}`,
    connects,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describeWhen(haveExecutable, 'needs `make build`')('an HTTPS registry (registry.test via a CONNECT tunnel)', () => {
  let ca: TestCa;
  beforeAll(async () => {
    ca = await createTestCa({ dnsNames: ['registry.test'], ipAddresses: ['127.0.0.1'] });
  });
  afterAll(() => ca?.cleanup());

  async function withHttpsRegistry(
    override: Parameters<typeof registryHandler>[0],
    body: (ctx: { plugin: LaunchedPlugin; registry: FakeServer; tunnel: { connects: string[] } }) => Promise<void>,
  ) {
    const registry = await startFakeServer(registryHandler(override), { certPem: ca.certPem, keyPem: ca.keyPem });
    const tunnel = await startTunnel(registry.port);
    const plugin = await startPlugin({
      env: { NODE_EXTRA_CA_CERTS: ca.caPath, HTTPS_PROXY: tunnel.url, https_proxy: tunnel.url, NO_PROXY: '', no_proxy: '' },
    });
    try {
      await body({ plugin, registry, tunnel });
    } finally {
      await stopPlugin(plugin);
      await tunnel.close();
      await registry.close();
    }
  }

  it('works end to end (control)', async () => {
    await withHttpsRegistry(undefined, async ({ plugin, registry, tunnel }) => {
      const info = registrationInfo('registry.test/robust/tls', 'u', PASSWORD);
      const r = await outcome(plugin.fanout.execute(executeRequest(info, makeEnvelope(3)), { deadlineMs: 20_000 }));
      expect(r).toEqual({ ok: true });
      expect(tunnel.connects[0]).toBe('registry.test:443');
      expect(registry.requests.some((q) => q.method === 'PUT' && q.path.includes('/manifests/'))).toBe(true);
    });
  });

  it('an upload Location that downgrades https to http is refused', async () => {
    const plainHits: string[] = [];
    await withHttpsRegistry(
      (req, res) => {
        if (req.method === 'POST' && req.path.endsWith('/blobs/uploads/')) {
          sendEmpty(res, 202, { location: `http://registry.test${req.path}downgraded` });
          return true;
        }
        if (req.path.endsWith('downgraded')) plainHits.push(req.method);
        return false;
      },
      async ({ plugin, registry }) => {
        const info = registrationInfo('registry.test/robust/tls', 'u', PASSWORD);
        const err = await grpcError(plugin.fanout.execute(executeRequest(info, makeEnvelope(4)), { deadlineMs: 20_000 }));
        figures.downgradeLocation = grpc.status[err.code];
        expect(grpc.status[err.code]).toBe('FAILED_PRECONDITION');
        expect(err.details).toMatch(/downgrade/);
        expect(messageProblems(err.details)).toEqual([]);
        expect(registry.requests.filter((q) => q.method === 'PUT')).toEqual([]);
        expect(plainHits).toEqual([]);
      },
    );
  });

  it('a token realm on plain http gets no credentials', async () => {
    const realm = await startFakeServer((_req, res) => sendJson(res, 200, { token: 'fake-token-for-test' }));
    try {
      await withHttpsRegistry(
        (req, res) => {
          if (req.authorization === 'Bearer fake-token-for-test') return false;
          sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] }, {
            'www-authenticate': `Bearer realm="${realm.url}/token",service="registry.test"`,
          });
          return true;
        },
        async ({ plugin }) => {
          const info = registrationInfo('registry.test/robust/tls', 'u', PASSWORD);
          const r = await outcome(plugin.fanout.execute(executeRequest(info, makeEnvelope(5)), { deadlineMs: 20_000 }));
          figures.plainRealm = r.ok ? 'OK' : `${grpc.status[r.code]}, realm requests ${realm.requests.length}, with credentials ${realm.requests.filter((q) => q.authorization).length}`;
          expect(r.ok).toBe(false);
          if (!r.ok) {
            expect(grpc.status[r.code]).toBe('FAILED_PRECONDITION');
            expect(r.details).toMatch(/plain http/);
            expect(messageProblems(r.details)).toEqual([]);
          }
          expect(realm.requests.filter((q) => q.authorization !== undefined || q.query.has('password'))).toEqual([]);
        },
      );
    } finally {
      await realm.close();
    }
  });
});
