/**
 * Proves the integration fixtures against a real registry before other
 * suites rely on them: each distribution mode, the token server, skopeo
 * read-back, the recording proxy and access-log counting.
 *
 * Everything listens on 127.0.0.1; every process is stopped in afterAll.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { startDistribution, distributionAvailable, type Distribution } from '../helpers/distribution';
import { freePort } from '../helpers/ports';
import { startProxy, type RecordingProxy } from '../helpers/proxy';
import { copyToOciLayout, inspectRaw, readLayoutBlob, SkopeoError } from '../helpers/skopeo';
import { parseScope } from '../helpers/token-server';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const timings: Record<string, number> = {};

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Artifact {
  layer: Buffer;
  config: Buffer;
  manifest: Buffer;
  digest: string;
}

/** An artifact shaped like what the plugin pushes: empty config, one DSSE layer. */
function makeArtifact(): Artifact {
  const layer = Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: randomBytes(32).toString('base64'), signatures: [] }));
  const config = Buffer.from('{}');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.dev.chainloop.attestation.v1+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: sha256(layer), size: layer.length }],
    }),
  );
  return { layer, config, manifest, digest: sha256(manifest) };
}

interface Client {
  base: string;
  dispatcher: Dispatcher;
  headers?: Record<string, string>;
}

async function call(
  c: Client,
  method: Dispatcher.HttpMethod,
  pathOrUrl: string,
  extra: { headers?: Record<string, string>; body?: Buffer | Readable } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const res = await request(new URL(pathOrUrl, c.base), {
    method,
    dispatcher: c.dispatcher,
    headers: { ...c.headers, ...extra.headers },
    body: extra.body,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** POST + PUT ?digest= (monolithic via a session: distribution drops POST ?digest= bodies). */
async function pushBlob(c: Client, repo: string, data: Buffer | Readable, digest: string, size: number): Promise<void> {
  const post = await call(c, 'POST', `/v2/${repo}/blobs/uploads/`);
  expect(post.status).toBe(202);
  const loc = new URL(String(post.headers.location), c.base);
  loc.searchParams.set('digest', digest);
  const put = await call(c, 'PUT', loc.toString(), {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: data,
  });
  expect(put.status).toBe(201);
}

/** 2 + 2 + 1 = 5 registry requests. */
async function pushArtifact(c: Client, repo: string, tag: string, a: Artifact): Promise<void> {
  await pushBlob(c, repo, a.config, sha256(a.config), a.config.length);
  await pushBlob(c, repo, a.layer, sha256(a.layer), a.layer.length);
  const put = await call(c, 'PUT', `/v2/${repo}/manifests/${tag}`, {
    headers: { 'content-type': OCI_MANIFEST },
    body: a.manifest,
  });
  expect(put.status).toBe(201);
  expect(put.headers['docker-content-digest']).toBe(a.digest);
}

function parseChallenge(header: string | string[] | undefined): { scheme: string; params: Record<string, string> } {
  const h = String(header ?? '');
  const scheme = h.split(' ', 1)[0];
  const params: Record<string, string> = {};
  for (const m of h.slice(scheme.length).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2];
  return { scheme, params };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const available = distributionAvailable();
const describeReg = available ? describe : describe.skip;

let tmp: string;
const stops: Array<() => Promise<void>> = [];
const dispatcher = new Agent({ keepAliveTimeout: 1000 });

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fixtures-test-'));
});

afterAll(async () => {
  // Reverse order: proxies before the registries behind them.
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await dispatcher.close();
  await rm(tmp, { recursive: true, force: true });
  process.stderr.write(`fixture startup ms: ${JSON.stringify(timings)}\n`);
});

async function start(name: string, opts: Parameters<typeof startDistribution>[0]): Promise<Distribution> {
  const reg = await startDistribution(opts);
  stops.push(() => reg.stop());
  timings[name] = reg.startupMs;
  return reg;
}

describe('ports', () => {
  it('returns a loopback port that can be bound', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const srv = createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });
});

describeReg('distribution: anonymous', () => {
  let reg: Distribution;
  let c: Client;
  beforeAll(async () => {
    reg = await start('anonymous', { mode: 'anonymous' });
    c = { base: reg.url, dispatcher };
  });

  it('answers /v2/ with 200 and stores on tmpfs by default', async () => {
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await call(c, 'GET', '/v2/')).status).toBe(200);
    if (process.platform === 'linux') expect(reg.storageDir.startsWith('/dev/shm/')).toBe(true);
  });

  it('reads a pushed artifact back with skopeo (inspect --raw and an OCI layout copy)', async () => {
    const a = makeArtifact();
    await pushArtifact(c, 'fixtures/anon', 'v1', a);

    const inspected = await inspectRaw(`${reg.host}/fixtures/anon:v1`);
    expect(inspected.raw.equals(a.manifest)).toBe(true);
    expect(inspected.digest).toBe(a.digest);
    expect(inspected.manifest.artifactType).toBe('application/vnd.dev.chainloop.attestation.v1+json');

    const dir = join(tmp, 'layout-anon');
    const layout = await copyToOciLayout(`${reg.host}/fixtures/anon:v1`, dir);
    expect(layout.manifestDigest).toBe(a.digest);
    expect((await readLayoutBlob(dir, a.digest)).equals(a.manifest)).toBe(true);
    expect((await readLayoutBlob(dir, sha256(a.layer))).equals(a.layer)).toBe(true);
  });

  it('counts exactly the requests sent in the access log', async () => {
    const mark = reg.accessLogMark();
    await pushArtifact(c, 'fixtures/count', 'v1', makeArtifact());
    await call(c, 'HEAD', '/v2/fixtures/count/manifests/v1', { headers: { accept: OCI_MANIFEST } });
    const entries = await reg.waitForAccessLog(6, { mark });
    await sleep(100); // nothing else may trickle in
    expect(reg.accessLogCount(mark)).toBe(6);
    expect(entries.map((e) => `${e.method} ${e.status}`)).toEqual([
      'POST 202', 'PUT 201', 'POST 202', 'PUT 201', 'PUT 201', 'HEAD 200',
    ]);
    // Startup probes are excluded from the default count.
    expect(reg.accessLogCount()).toBeGreaterThanOrEqual(6);
  });
});

describeReg('distribution: basic', () => {
  let reg: Distribution;
  beforeAll(async () => {
    reg = await start('basic', { mode: 'basic' });
  });

  it('challenges with Basic and accepts the htpasswd users', async () => {
    const anon = await call({ base: reg.url, dispatcher }, 'GET', '/v2/');
    expect(anon.status).toBe(401);
    expect(parseChallenge(anon.headers['www-authenticate']).scheme).toBe('Basic');
    for (const [user, { password }] of Object.entries(reg.users)) {
      const ok = await call({ base: reg.url, dispatcher, headers: { authorization: basic(user, password) } }, 'GET', '/v2/');
      expect(ok.status).toBe(200);
    }
    const bad = await call({ base: reg.url, dispatcher, headers: { authorization: basic('pusher', 'wrong') } }, 'GET', '/v2/');
    expect(bad.status).toBe(401);
  });

  it('pushes with credentials and reads back through skopeo --creds', async () => {
    const { password } = reg.users.pusher;
    const c = { base: reg.url, dispatcher, headers: { authorization: basic('pusher', password) } };
    const a = makeArtifact();
    await pushArtifact(c, 'fixtures/basic', 'v1', a);
    const got = await inspectRaw(`${reg.host}/fixtures/basic:v1`, { creds: { username: 'reader', password: reg.users.reader.password } });
    expect(got.digest).toBe(a.digest);
  });

  it('never shows the password in skopeo errors', async () => {
    const secret = `${reg.users.pusher.password}-but-wrong`;
    const err = await inspectRaw(`${reg.host}/fixtures/basic:v1`, { creds: { username: 'pusher', password: secret } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SkopeoError);
    const msg = String((err as Error).message);
    expect(msg).toContain('--creds ***');
    expect(msg).not.toContain(secret);
    expect(msg).not.toContain(reg.users.pusher.password);
  });
});

describeReg('distribution: token', () => {
  let reg: Distribution;
  beforeAll(async () => {
    reg = await start('token', { mode: 'token' });
  });

  async function tokenFor(user: string | undefined, scopes: string[]): Promise<{ status: number; body: Record<string, unknown> }> {
    const ts = reg.tokenServer!;
    const u = new URL(ts.realm);
    u.searchParams.set('service', ts.service);
    for (const s of scopes) u.searchParams.append('scope', s);
    const headers: Record<string, string> = user ? { authorization: basic(user, reg.users[user].password) } : {};
    const res = await request(u, { dispatcher, headers });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  }

  it('challenges with Bearer pointing at the token server', async () => {
    const res = await call({ base: reg.url, dispatcher }, 'GET', '/v2/');
    expect(res.status).toBe(401);
    const ch = parseChallenge(res.headers['www-authenticate']);
    expect(ch.scheme).toBe('Bearer');
    expect(ch.params.realm).toBe(reg.tokenServer!.realm);
    expect(ch.params.service).toBe(reg.tokenServer!.service);
    expect(new URL(ch.params.realm).hostname).toBe('127.0.0.1');
  });

  it('issues tokens distribution accepts; pusher pushes, skopeo reads as reader', async () => {
    const t = await tokenFor('pusher', ['repository:fixtures/token:pull,push']);
    expect(t.status).toBe(200);
    expect(t.body.token).toBe(t.body.access_token);
    expect(typeof t.body.expires_in).toBe('number');
    expect(typeof t.body.issued_at).toBe('string');
    const c = { base: reg.url, dispatcher, headers: { authorization: `Bearer ${String(t.body.token)}` } };
    expect((await call(c, 'GET', '/v2/')).status).toBe(200);
    const a = makeArtifact();
    await pushArtifact(c, 'fixtures/token', 'v1', a);
    const got = await inspectRaw(`${reg.host}/fixtures/token:v1`, { creds: { username: 'reader', password: reg.users.reader.password } });
    expect(got.raw.equals(a.manifest)).toBe(true);
  });

  it('grants only the intersection: a reader token cannot push (insufficient_scope)', async () => {
    const t = await tokenFor('reader', ['repository:fixtures/token:pull,push']);
    expect(t.status).toBe(200);
    const claims = JSON.parse(Buffer.from(String(t.body.token).split('.')[1], 'base64url').toString()) as {
      access: unknown;
      aud: unknown;
    };
    expect(claims.access).toEqual([{ type: 'repository', name: 'fixtures/token', actions: ['pull'] }]);
    expect(typeof claims.aud).toBe('string');
    const c = { base: reg.url, dispatcher, headers: { authorization: `Bearer ${String(t.body.token)}` } };
    const post = await call(c, 'POST', '/v2/fixtures/token/blobs/uploads/');
    expect(post.status).toBe(401);
    expect(String(post.headers['www-authenticate'])).toContain('error="insufficient_scope"');
    // Pull works with the same token.
    const head = await call(c, 'HEAD', '/v2/fixtures/token/manifests/v1', { headers: { accept: OCI_MANIFEST } });
    expect(head.status).toBe(200);
  });

  it('rejects a wrong password with 401 JSON and gives anonymous no access', async () => {
    const ts = reg.tokenServer!;
    const u = new URL(ts.realm);
    u.searchParams.set('scope', 'repository:fixtures/token:pull');
    const bad = await request(u, { dispatcher, headers: { authorization: basic('pusher', 'nope') } });
    expect(bad.statusCode).toBe(401);
    expect(((await bad.body.json()) as { errors: unknown[] }).errors.length).toBe(1);

    const anon = await tokenFor(undefined, ['repository:fixtures/token:pull']);
    expect(anon.status).toBe(200);
    const c = { base: reg.url, dispatcher, headers: { authorization: `Bearer ${String(anon.body.token)}` } };
    expect((await call(c, 'GET', '/v2/fixtures/token/tags/list')).status).toBe(401);
  });

  it('supports the OAuth2 password and refresh_token grants', async () => {
    const ts = reg.tokenServer!;
    const form = (f: Record<string, string>) => ({
      method: 'POST' as const,
      dispatcher,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(f).toString(),
    });
    const pw = await request(ts.realm, form({
      grant_type: 'password', username: 'pusher', password: reg.users.pusher.password,
      service: ts.service, scope: 'repository:fixtures/oauth:pull,push repository:fixtures/other:pull',
      client_id: 'fixtures-test', access_type: 'offline',
    }));
    expect(pw.statusCode).toBe(200);
    const pwBody = (await pw.body.json()) as Record<string, string>;
    expect(pwBody.refresh_token).toBeTruthy();
    const c = { base: reg.url, dispatcher, headers: { authorization: `Bearer ${pwBody.access_token}` } };
    expect((await call(c, 'POST', '/v2/fixtures/oauth/blobs/uploads/')).status).toBe(202);

    const rt = await request(ts.realm, form({
      grant_type: 'refresh_token', refresh_token: pwBody.refresh_token, service: ts.service,
      scope: 'repository:fixtures/oauth:pull', client_id: 'fixtures-test',
    }));
    expect(rt.statusCode).toBe(200);
    expect(((await rt.body.json()) as Record<string, string>).access_token).toBeTruthy();

    const wrong = await request(ts.realm, form({ grant_type: 'password', username: 'reader', password: 'x', service: ts.service }));
    expect(wrong.statusCode).toBe(401);
    await wrong.body.dump();
  });

  it('records requests without credential values and can inject failures', async () => {
    const ts = reg.tokenServer!;
    ts.failNext(1, { status: 503, retryAfter: 2 });
    const failed = await request(ts.realm, { dispatcher });
    expect(failed.statusCode).toBe(503);
    expect(failed.headers['retry-after']).toBe('2');
    await failed.body.dump();
    expect((await tokenFor('pusher', [])).status).toBe(200);

    const dump = JSON.stringify(ts.requests);
    for (const { password } of Object.values(reg.users)) expect(dump).not.toContain(password);
    expect(ts.requests.some((r) => r.hadAuthorization && r.username === 'pusher')).toBe(true);
    expect(ts.requests.some((r) => r.grant === 'refresh_token')).toBe(true);
    expect(ts.requests.filter((r) => r.injected)).toHaveLength(1);
    expect(parseScope('repository:127.0.0.1:5000/a/b:pull,push')).toEqual({
      type: 'repository', name: '127.0.0.1:5000/a/b', actions: ['pull', 'push'],
    });
  });
});

describeReg('distribution: token server in its own process (the benchmark\'s)', () => {
  let reg: Distribution;
  beforeAll(async () => {
    reg = await start('token-own-process', { mode: 'token', tokenServer: { ownProcess: true } });
  });

  it('issues tokens distribution accepts, grants per user, and records each answer here without secrets', async () => {
    const ts = reg.tokenServer!;
    const tokenFor = async (user: string): Promise<string> => {
      const u = new URL(ts.realm);
      u.searchParams.set('service', ts.service);
      u.searchParams.set('scope', 'repository:fixtures/own-process:pull,push');
      const res = await request(u, { dispatcher, headers: { authorization: basic(user, reg.users[user].password) } });
      expect(res.statusCode).toBe(200);
      return String(((await res.body.json()) as { token: unknown }).token);
    };
    const pusher = { base: reg.url, dispatcher, headers: { authorization: `Bearer ${await tokenFor('pusher')}` } };
    const a = makeArtifact();
    await pushArtifact(pusher, 'fixtures/own-process', 'v1', a);
    const reader = { base: reg.url, dispatcher, headers: { authorization: `Bearer ${await tokenFor('reader')}` } };
    expect((await call(reader, 'POST', '/v2/fixtures/own-process/blobs/uploads/')).status).toBe(401);

    // Records cross over IPC after each answer: wait for both.
    const deadline = Date.now() + 5000;
    while (ts.requests.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(ts.requests.map((r) => [r.username, r.status, r.granted[0]?.actions])).toEqual([
      ['pusher', 200, ['pull', 'push']],
      ['reader', 200, ['pull']],
    ]);
    const dump = JSON.stringify(ts.requests);
    for (const { password } of Object.values(reg.users)) expect(dump).not.toContain(password);
    // Fault injection would race the IPC channel: refused, not silently late.
    expect(() => ts.failNext(1)).toThrow(/in-process token server/);
  });

  it('stops its process on close', async () => {
    const ts = reg.tokenServer!;
    await ts.close();
    // A fresh agent: a kept-alive socket from the earlier test must not answer for the closed server.
    const fresh = new Agent();
    stops.push(() => fresh.close());
    await expect(request(ts.realm, { dispatcher: fresh })).rejects.toThrow();
  });
});

describeReg('distribution: tls', () => {
  let reg: Distribution;
  let tlsDispatcher: Agent;
  beforeAll(async () => {
    reg = await start('tls', { mode: 'tls' });
    tlsDispatcher = new Agent({ connect: { ca: reg.caPem } });
    stops.push(() => tlsDispatcher.close());
  });

  it('serves https verified by the test CA, for 127.0.0.1 and localhost', async () => {
    expect(reg.url.startsWith('https://127.0.0.1:')).toBe(true);
    expect(reg.caPath).toBeTruthy();
    expect((await call({ base: reg.url, dispatcher: tlsDispatcher }, 'GET', '/v2/')).status).toBe(200);
    const viaName = reg.url.replace('127.0.0.1', 'localhost');
    expect((await call({ base: viaName, dispatcher: tlsDispatcher }, 'GET', '/v2/')).status).toBe(200);
    // Without the CA the certificate must be rejected.
    await expect(call({ base: reg.url, dispatcher }, 'GET', '/v2/')).rejects.toThrow();
  });

  it('pushes over https and skopeo verifies with --cert-dir', async () => {
    const c = { base: reg.url, dispatcher: tlsDispatcher };
    const a = makeArtifact();
    await pushArtifact(c, 'fixtures/tls', 'v1', a);
    const got = await inspectRaw(`${reg.host}/fixtures/tls:v1`, { tls: reg.certDir });
    expect(got.digest).toBe(a.digest);
    const dir = join(tmp, 'layout-tls');
    await copyToOciLayout(`${reg.host}/fixtures/tls:v1`, dir, { tls: reg.certDir });
    expect((await readLayoutBlob(dir, sha256(a.layer))).equals(a.layer)).toBe(true);
  });

  it('combines tls with basic auth when asked', async () => {
    const tb = await start('tls+basic', { mode: 'tls', tlsAuth: 'basic' });
    const d = new Agent({ connect: { ca: tb.caPem } });
    stops.push(() => d.close());
    expect((await call({ base: tb.url, dispatcher: d }, 'GET', '/v2/')).status).toBe(401);
    const h = { authorization: basic('pusher', tb.users.pusher.password) };
    expect((await call({ base: tb.url, dispatcher: d, headers: h }, 'GET', '/v2/')).status).toBe(200);
  });
});

describeReg('recording proxy', () => {
  let reg: Distribution;
  let proxy: RecordingProxy;
  let c: Client;
  beforeAll(async () => {
    reg = await start('anonymous (proxy target)', { mode: 'anonymous' });
    proxy = await startProxy({ target: reg.host });
    stops.push(() => proxy.close());
    c = { base: proxy.url, dispatcher };
  });
  beforeEach(() => proxy.reset());

  it('forwards everything, including upload Locations, and counts like the access log', async () => {
    const mark = reg.accessLogMark();
    const a = makeArtifact();
    await pushArtifact(c, 'fixtures/proxy', 'v1', a);
    await proxy.idle();
    expect(proxy.count()).toBe(5);
    expect(proxy.count({ method: 'POST' })).toBe(2);
    expect(proxy.count({ method: 'PUT', path: /\/blobs\/uploads\// })).toBe(2);
    expect(proxy.count({ method: 'PUT', path: '/v2/fixtures/proxy/manifests/v1' })).toBe(1);
    await reg.waitForAccessLog(5, { mark });
    expect(reg.accessLogCount(mark)).toBe(proxy.count());
    // Upload state never lands in the records.
    expect(proxy.requests.every((r) => !r.query.includes('_state=') || r.query.includes('_state=…'))).toBe(true);
    expect(proxy.requests.find((r) => r.method === 'PUT' && r.path.includes('/blobs/'))?.query).toMatch(/digest=sha256:/);
    // skopeo through the proxy sees the same bytes.
    expect((await inspectRaw(`${proxy.host}/fixtures/proxy:v1`)).digest).toBe(a.digest);
  });

  it('injects a 503 with Retry-After without reaching the registry', async () => {
    const mark = reg.accessLogMark();
    proxy.failNext(1, { status: 503, retryAfter: 1, match: { method: 'GET' } });
    const first = await call(c, 'GET', '/v2/');
    expect(first.status).toBe(503);
    expect(first.headers['retry-after']).toBe('1');
    expect((await call(c, 'GET', '/v2/')).status).toBe(200);
    await reg.waitForAccessLog(1, { mark });
    await sleep(100);
    expect(reg.accessLogCount(mark)).toBe(1);
    expect(proxy.requests.map((r) => `${r.action}:${r.status}`)).toEqual(['respond:503', 'forward:200']);
  });

  it('resets connections before and in the middle of a response', async () => {
    const a = makeArtifact();
    await pushArtifact(c, 'fixtures/reset', 'v1', a);
    proxy.resetNext(1);
    await expect(call(c, 'GET', '/v2/')).rejects.toThrow();
    proxy.resetNext(1, { when: 'mid-response', afterBytes: 10 });
    await expect(call(c, 'GET', `/v2/fixtures/reset/blobs/${sha256(a.layer)}`)).rejects.toThrow();
    const rec = proxy.requests.find((r) => r.action === 'reset-mid-response');
    expect(rec?.status).toBe(200);
    expect(rec?.responseBytes).toBe(10);
    expect((await call(c, 'GET', '/v2/')).status).toBe(200);
  });

  it('delays requests via a hook', async () => {
    proxy.setHook((info) => (info.path === '/v2/' ? { kind: 'forward', delayMs: 200 } : undefined));
    const t0 = Date.now();
    expect((await call(c, 'GET', '/v2/')).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    proxy.setHook(undefined);
  });

  it('streams a 64 MiB blob through without buffering it', async () => {
    const size = 64 * 1024 * 1024;
    const chunk = randomBytes(1024 * 1024);
    const hash = createHash('sha256');
    for (let i = 0; i < 64; i++) hash.update(chunk);
    const digest = `sha256:${hash.digest('hex')}`;
    const body = Readable.from((function* () {
      for (let i = 0; i < 64; i++) yield chunk;
    })());
    const before = process.memoryUsage().arrayBuffers;
    await pushBlob(c, 'fixtures/big', body, digest, size);
    await proxy.idle();
    const put = proxy.requests.find((r) => r.method === 'PUT');
    expect(put?.requestBytes).toBe(size);
    // Generous bound: a buffering proxy would hold the whole 64 MiB at once.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(48 * 1024 * 1024);
    const head = await call(c, 'HEAD', `/v2/fixtures/big/blobs/${digest}`);
    expect(head.headers['content-length']).toBe(String(size));
  });
});

describeReg('distribution: lifecycle', () => {
  it('stop() ends the process and removes its directories', async () => {
    const reg = await startDistribution({ mode: 'anonymous', storage: 'disk' });
    const { pid, storageDir, configPath } = reg;
    expect(storageDir.startsWith('/dev/shm')).toBe(false);
    await reg.stop();
    await reg.stop(); // idempotent
    expect(() => process.kill(pid, 0)).toThrow();
    const { existsSync } = await import('node:fs');
    expect(existsSync(storageDir)).toBe(false);
    expect(existsSync(configPath)).toBe(false);
  });

  it('fails startup with the registry output in the error', async () => {
    await expect(
      startDistribution({ mode: 'anonymous', config: { storage: { filesystem: { rootdirectory: 17 } }, log: { level: 'bogus' } } }),
    ).rejects.toThrow(/distribution exited during startup[\s\S]*\S/);
  });
});
