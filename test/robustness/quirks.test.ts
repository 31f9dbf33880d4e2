/**
 * What real registries do, emulated with the project's fault proxy in front of
 * CNCF distribution, through the BUILT plugin: stalls (registry and token
 * service, before the headers and mid-body), connect-and-hang, immutable tags,
 * long Retry-After, chunked-only uploads, 307 to a storage origin and upload
 * Locations on another origin. Time bounds are shortened through the
 * documented environment variables so the suite stays fast.
 *
 *   plugin ──► regProxy ──► distribution (token auth, realm = tokenProxy)
 *   plugin ──► tokenProxy ──► token server
 *   plugin ──► basicProxy ──► distribution (htpasswd); storageProxy ──► same distribution
 */
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server, type Socket } from 'node:net';
import type { LaunchedPlugin } from '../../src/host/client';
import { MEDIA_TYPES, parseRepository } from '../../src/oci';
import { defaultUsers, startDistribution, type Distribution } from '../helpers/distribution';
import { LOOPBACK } from '../helpers/ports';
import { startProxy, type ProxyAction, type ProxyRequestInfo, type RecordingProxy } from '../helpers/proxy';
import { startTokenServer, type TokenServer } from '../helpers/token-server';
import {
  artifactRepository,
  describeWhen,
  executeRequest,
  haveExecutable,
  haveRegistry,
  makeEnvelope,
  messageProblems,
  outcome,
  readBackClient,
  register,
  registrationInfo,
  report,
  sha256Hex,
  startPlugin,
  stopPlugin,
  verifyArtifact,
  type Registration,
} from './support';

const RESPONSE_TIMEOUT_MS = 1000;
const BODY_IDLE_MS = 2500;
const BUDGET_MS = 8000;
/** undici's timers tick coarsely (about 1 s): bounds are asserted with that slack. */
const TIMER_SLACK_MS = 1500;
const PLUGIN_ENV = {
  CHAINLOOP_PLUGIN_OCI_CONNECT_TIMEOUT_MS: '1000',
  CHAINLOOP_PLUGIN_OCI_RESPONSE_TIMEOUT_MS: String(RESPONSE_TIMEOUT_MS),
  CHAINLOOP_PLUGIN_OCI_BODY_IDLE_TIMEOUT_MS: String(BODY_IDLE_MS),
  CHAINLOOP_PLUGIN_OCI_EXECUTE_BUDGET_MS: String(BUDGET_MS),
  CHAINLOOP_PLUGIN_OCI_REGISTER_BUDGET_MS: String(BUDGET_MS),
};

const keyOf = (info: ProxyRequestInfo): string | undefined =>
  /(chainloop-[0-9a-f]{64})/.exec(`${info.path} ${decodeURIComponent(info.query)}`)?.[1];
const isBlobPost = (i: ProxyRequestInfo) => i.method === 'POST' && i.path.endsWith('/blobs/uploads/');
const isBlobPut = (i: ProxyRequestInfo) => i.method === 'PUT' && i.path.includes('/blobs/uploads/');
const isManifestPut = (i: ProxyRequestInfo) => i.method === 'PUT' && i.path.includes('/manifests/');
const figures: Record<string, unknown> = {};
const suite = describeWhen(haveExecutable && haveRegistry, 'needs `make build` and docker-registry');

afterAll(() => report('quirks', figures));

suite('stalls, immutable tags and Retry-After (token-auth distribution)', () => {
  const users = defaultUsers();
  let tokenServer: TokenServer;
  let tokenProxy: RecordingProxy;
  let reg: Distribution;
  let regProxy: RecordingProxy;
  let plugin: LaunchedPlugin;
  let registration: Registration;

  beforeAll(async () => {
    tokenServer = await startTokenServer({ users });
    tokenProxy = await startProxy({ target: tokenServer.url });
    reg = await startDistribution({
      mode: 'anonymous',
      users,
      config: { auth: { token: { realm: `${tokenProxy.url}/token`, service: tokenServer.service, issuer: tokenServer.issuer, rootcertbundle: tokenServer.certPath } } },
    });
    regProxy = await startProxy({ target: reg.host });
    plugin = await startPlugin({ env: PLUGIN_ENV });
    registration = await register(plugin, `${regProxy.host}/robust/quirks`, 'pusher', users.pusher.password);
  });
  afterAll(async () => {
    await stopPlugin(plugin);
    await regProxy?.close();
    await reg?.stop();
    await tokenProxy?.close();
    await tokenServer?.close();
  });
  afterEach(() => {
    regProxy.setHook(undefined);
    tokenProxy.setHook(undefined);
  });

  /** Executes a fresh envelope with `hook` on one proxy, once per matching request up to `times`. */
  async function executeWith(proxy: RecordingProxy, match: (i: ProxyRequestInfo) => boolean, action: ProxyAction, times = 1) {
    const envelope = makeEnvelope(0, `q-${Date.now()}-${Math.random()}`);
    const key = `chainloop-${sha256Hex(envelope)}`;
    let hits = 0;
    proxy.setHook((info) => {
      if (hits >= times || !match(info) || (keyOf(info) !== key && !info.query.includes(key.slice(10)))) return undefined;
      hits += 1;
      return action;
    });
    const t0 = Date.now();
    const r = await outcome(plugin.fanout.execute(executeRequest(registration.response, envelope), { deadlineMs: 30_000 }));
    return { r, ms: Date.now() - t0, hits, envelope };
  }
  const ok = (r: { ok: true } | { ok: false; code: number; details: string }) => (r.ok ? 'OK' : `${grpc.status[r.code]}: ${r.details}`);

  it.each([
    ['the registry, before the headers (blob POST)', 'reg', isBlobPost, { kind: 'stall', when: 'headers' }],
    ['the registry, before the headers (manifest PUT)', 'reg', isManifestPut, { kind: 'stall', when: 'headers' }],
    ['the token service, before the headers', 'token', () => true, { kind: 'stall', when: 'headers' }],
    ['the token service, mid-body', 'token', () => true, { kind: 'stall', when: 'body', afterBytes: 7 }],
  ] as const)('a stall on %s: one request times out, is retried, and the Execute succeeds in time', async (name, which, match, action) => {
    const { r, ms, hits } = await executeWith(which === 'reg' ? regProxy : tokenProxy, match, action as ProxyAction);
    figures[`stall ${name}`] = `${ok(r).slice(0, 40)} in ${ms} ms`;
    expect(hits).toBe(1);
    expect(ok(r)).toBe('OK');
    const bound = action.when === 'headers' ? RESPONSE_TIMEOUT_MS : BODY_IDLE_MS;
    expect(ms).toBeGreaterThanOrEqual(bound - 100);
    expect(ms).toBeLessThan(bound + TIMER_SLACK_MS + 1500);
  });

  it.each([
    ['the blob PUT', isBlobPut, 2],
    ['the manifest PUT', isManifestPut, 1],
  ] as const)('a 201 whose body stalls (%s): the status is enough, no wait for the body-idle timeout', async (name, match, times) => {
    const { r, ms, hits } = await executeWith(regProxy, match, { kind: 'stall', when: 'body' }, times);
    figures[`stalled 201 body on ${name}`] = `${ok(r).slice(0, 40)} in ${ms} ms`;
    expect(hits).toBe(times);
    expect(ok(r)).toBe('OK');
    expect(ms).toBeLessThan(BODY_IDLE_MS);
  });

  it('a registry where every request stalls: the budget ends the Execute, naming the stage and the registry', async () => {
    const { r, ms } = await executeWith(regProxy, () => true, { kind: 'stall', when: 'headers' }, 1000);
    figures.everythingStalls = `${r.ok ? 'OK' : grpc.status[r.code]} in ${ms} ms`;
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(['DEADLINE_EXCEEDED', 'UNAVAILABLE']).toContain(grpc.status[r.code]);
    expect(r.details).toMatch(new RegExp(`during the blob upload at ${regProxy.host.replace(/\./g, '\\.')}`));
    expect(r.details).toMatch(/budget|no response within/);
    expect(messageProblems(r.details)).toEqual([]);
    expect(ms).toBeLessThan(BUDGET_MS + TIMER_SLACK_MS);
  });

  it('re-delivery onto an immutable tag (412 as Harbor answers) succeeds; another digest on it is FAILED_PRECONDITION', async () => {
    const tagged = new Set<string>();
    regProxy.setHook((info) => {
      const key = keyOf(info);
      if (!key || !isManifestPut(info)) return undefined;
      if (!tagged.has(key)) {
        tagged.add(key);
        return undefined;
      }
      return { kind: 'respond', status: 412, body: JSON.stringify({ errors: [{ code: 'PRECONDITION', message: `Failed to process request due to '${key}:latest' configured as immutable.` }] }) };
    });
    const envelope = makeEnvelope(1, `imm-${Date.now()}`);
    const first = await outcome(plugin.fanout.execute(executeRequest(registration.response, envelope), { deadlineMs: 30_000 }));
    const again = await outcome(plugin.fanout.execute(executeRequest(registration.response, envelope), { deadlineMs: 30_000 }));
    expect([ok(first), ok(again)]).toEqual(['OK', 'OK']);

    // Someone else's manifest on the tag of another envelope, straight into distribution.
    const other = makeEnvelope(2, `imm-${Date.now()}`);
    const repo = parseRepository(artifactRepository(`${reg.host}/robust/quirks`, other));
    const back = readBackClient({ username: 'pusher', password: users.pusher.password });
    let foreign: string;
    try {
      const config = Buffer.from('{}');
      const c = await back.client.pushBlob(repo, config);
      const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: c, size: 2 }, layers: [] }));
      foreign = await back.client.pushManifest(repo, 'latest', m, MEDIA_TYPES.ociManifest);
    } finally {
      await back.close();
    }
    tagged.add(`chainloop-${sha256Hex(other)}`);
    const clash = await outcome(plugin.fanout.execute(executeRequest(registration.response, other), { deadlineMs: 30_000 }));
    figures.immutable = { redelivery: ok(again), otherDigest: clash.ok ? 'OK' : grpc.status[clash.code] };
    expect(clash.ok).toBe(false);
    if (clash.ok) return;
    expect(grpc.status[clash.code]).toBe('FAILED_PRECONDITION');
    expect(clash.details).toMatch(/is immutable and holds sha256:[0-9a-f]{64}, not sha256:[0-9a-f]{64}/);
    expect(clash.details).toContain(foreign);
    expect(messageProblems(clash.details)).toEqual([]);
  });

  it('a Retry-After of an hour: UNAVAILABLE at once, with the reason and the wait, no retry', async () => {
    const { r, ms, hits } = await executeWith(
      regProxy,
      isManifestPut,
      { kind: 'respond', status: 429, retryAfter: 3600, body: JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'push rate limit reached' }] }) },
      10,
    );
    figures.longRetryAfter = `${r.ok ? 'OK' : grpc.status[r.code]} in ${ms} ms after ${hits} manifest PUT(s)`;
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(grpc.status[r.code]).toBe('UNAVAILABLE');
    expect(r.details).toMatch(/TOOMANYREQUESTS: push rate limit reached/);
    expect(r.details).toMatch(/retry after 3600 s/);
    expect(hits).toBe(1);
    expect(ms).toBeLessThan(1500);
  });
});

suite('connect-and-hang', () => {
  let plugin: LaunchedPlugin;
  let server: Server;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    plugin = await startPlugin({ env: PLUGIN_ENV });
    server = createServer((s) => {
      // Accepts and never reads nor answers.
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, LOOPBACK, () => r()));
  });
  afterAll(async () => {
    await stopPlugin(plugin);
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it.each(['Execute', 'Register'])('%s answers within the budget, naming the stage and the registry', async (call) => {
    const host = `${LOOPBACK}:${(server.address() as { port: number }).port}`;
    const t0 = Date.now();
    const p =
      call === 'Execute'
        ? plugin.fanout.execute(executeRequest(registrationInfo(`${host}/robust/hang`, 'u', 'hang-Secr3t'), makeEnvelope(3)), { deadlineMs: 60_000 })
        : register(plugin, `${host}/robust/hang`, 'u', 'hang-Secr3t', 60_000);
    const r = await outcome(p);
    const ms = Date.now() - t0;
    figures[`connectAndHang${call}`] = `${r.ok ? 'OK' : grpc.status[r.code]} in ${ms} ms`;
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(['DEADLINE_EXCEEDED', 'UNAVAILABLE']).toContain(grpc.status[r.code]);
    expect(r.details).toContain(host);
    expect(r.details).toMatch(call === 'Execute' ? /during the blob upload/ : /during the push permission check/);
    expect(messageProblems(r.details)).toEqual([]);
    expect(ms).toBeLessThan(BUDGET_MS + TIMER_SLACK_MS);
  });
});

suite('uploads the way registries allow (htpasswd distribution)', () => {
  const users = defaultUsers();
  let reg: Distribution;
  let front: RecordingProxy;
  let storage: RecordingProxy;
  let plugin: LaunchedPlugin;
  let registration: Registration;
  const basic = () => `Basic ${Buffer.from(`pusher:${users.pusher.password}`).toString('base64')}`;

  beforeAll(async () => {
    reg = await startDistribution({ mode: 'basic', users });
    front = await startProxy({ target: reg.host });
    // A storage origin that authenticates on its own (as signed URLs do): it is sent no credentials of ours.
    storage = await startProxy({ target: reg.host, injectAuthorization: basic() });
    plugin = await startPlugin({ env: PLUGIN_ENV });
    registration = await register(plugin, `${front.host}/robust/uploads`, 'pusher', users.pusher.password);
  });
  afterAll(async () => {
    await stopPlugin(plugin);
    await front?.close();
    await storage?.close();
    await reg?.stop();
  });
  afterEach(() => front.setHook(undefined));

  async function executeAndVerify(envelope: Buffer) {
    const r = await outcome(plugin.fanout.execute(executeRequest(registration.response, envelope), { deadlineMs: 30_000 }));
    const back = readBackClient({ username: 'pusher', password: users.pusher.password });
    try {
      return { r: r.ok ? 'OK' : `${grpc.status[r.code]}: ${r.details}`, problem: r.ok ? await verifyArtifact(back.client, `${reg.host}/robust/uploads`, envelope) : undefined };
    } finally {
      await back.close();
    }
  }

  it('a 307 on the blob PUT to a storage origin: followed with the body, no Authorization reaches it', async () => {
    storage.reset();
    front.setHook((info) => {
      if (!isBlobPut(info) || info.headers['content-length'] === '0' || !info.headers.authorization) return undefined;
      return { kind: 'respond', status: 307, headers: { location: `${storage.url}${info.rawUrl}` }, body: '' };
    });
    const got = await executeAndVerify(makeEnvelope(4, `r-${Date.now()}`));
    const puts = storage.requests.filter((q) => q.method === 'PUT');
    figures.redirect307 = `${got.r.slice(0, 20)}, storage PUTs ${puts.length}, with Authorization ${storage.requests.filter((q) => q.hadAuthorization).length}`;
    expect(got).toEqual({ r: 'OK', problem: undefined });
    expect(puts.length).toBe(2);
    expect(puts.every((q) => q.requestBytes > 0 && q.status === 201)).toBe(true);
    expect(storage.requests.some((q) => q.hadAuthorization)).toBe(false);
  });

  it('an upload Location on another origin: the upload goes there without credentials', async () => {
    storage.reset();
    front.setHook((info) =>
      isBlobPost(info)
        ? { kind: 'forward', editResponseHeaders: (h) => void (h.location = `${storage.url}${new URL(String(h.location), front.url).pathname}${new URL(String(h.location), front.url).search}`) }
        : undefined,
    );
    const got = await executeAndVerify(makeEnvelope(5, `l-${Date.now()}`));
    figures.foreignLocation = `${got.r.slice(0, 20)}, storage requests ${storage.requests.length}, with Authorization ${storage.requests.filter((q) => q.hadAuthorization).length}`;
    expect(got).toEqual({ r: 'OK', problem: undefined });
    expect(storage.requests.filter((q) => q.method === 'PUT').length).toBe(2);
    expect(storage.requests.some((q) => q.hadAuthorization)).toBe(false);
  });

  it('credentials a registry echoes in its error, at every offset around the cuts, never show, not even their first 4 characters', async () => {
    const password = users.pusher.password;
    const forms = [password, Buffer.from(`pusher:${password}`).toString('base64'), encodeURIComponent(password)];
    // Around the cuts: the error code (100 characters), the summary (500) and the message (1000).
    const around = (cut: number, before: number) => Array.from({ length: before + 6 }, (_, i) => ({ field: cut === 100 ? 'code' : 'message', at: cut - before + i }));
    const offsets = [...around(100, 60), ...around(500, 50), ...around(1000, 45)];
    let offset = offsets[0]!;
    front.setHook((info) => {
      if (!isBlobPost(info) || !info.headers.authorization) return undefined;
      const auth = String(info.headers.authorization);
      const decoded = Buffer.from(auth.slice(6), 'base64').toString();
      const echo = `${'.'.repeat(offset.at)}${auth} (${decoded}) ${password}`;
      const entry = offset.field === 'code' ? { code: echo, message: 'denied' } : { code: 'DENIED', message: echo, detail: { echoed: echo } };
      return { kind: 'respond', status: 403, body: JSON.stringify({ errors: [entry] }) };
    });
    const leaks: string[] = [];
    const codes = new Set<string>();
    for (const o of offsets) {
      offset = o;
      const at = o.at;
      const r = await outcome(plugin.fanout.execute(executeRequest(registration.response, makeEnvelope(at, `e-${Date.now()}`)), { deadlineMs: 10_000 }));
      if (r.ok) throw new Error('the echo hook did not fire');
      codes.add(grpc.status[r.code]!);
      for (const f of forms) if (r.details.includes(f.slice(0, 4))) leaks.push(`offset ${at}: ${f.slice(0, 4)}…`);
    }
    const logLeaks = plugin.stderrLines.filter((l) => forms.some((f) => l.includes(f.slice(0, 8))));
    figures.echoedCredentials = `${offsets.length} offsets, leaks ${leaks.length}, log leaks ${logLeaks.length}, codes ${[...codes].join(',')}`;
    expect(leaks).toEqual([]);
    expect(logLeaks).toEqual([]);
    expect([...codes]).toEqual(['PERMISSION_DENIED']);
  });

  it('a registry that refuses monolithic PUTs: PATCH chunks (OCI-Chunk-Min-Length honoured) and a closing PUT, remembered', async () => {
    // A fresh plugin process: the fallback is remembered per registry for the process's life.
    const own = await startPlugin({ env: PLUGIN_ENV });
    try {
      let refused = 0;
      front.reset();
      front.setHook((info) => {
        if (isBlobPost(info)) return { kind: 'forward', responseHeaders: { 'oci-chunk-min-length': '1024' } };
        if (isBlobPut(info) && info.headers['content-length'] !== '0') {
          refused += 1;
          return { kind: 'respond', status: 405, body: JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message: 'monolithic uploads are disabled' }] }) };
        }
        return undefined;
      });
      const outcomes: string[] = [];
      const problems: (string | undefined)[] = [];
      const back = readBackClient({ username: 'pusher', password: users.pusher.password });
      try {
        for (let i = 0; i < 3; i++) {
          const envelope = makeEnvelope(6 + i, `c-${Date.now()}`);
          const r = await outcome(own.fanout.execute(executeRequest(registration.response, envelope), { deadlineMs: 30_000 }));
          outcomes.push(r.ok ? 'OK' : `${grpc.status[r.code]}: ${r.details}`);
          problems.push(await verifyArtifact(back.client, `${reg.host}/robust/uploads`, envelope));
        }
      } finally {
        await back.close();
      }
      const patches = front.count({ method: 'PATCH' });
      figures.chunkedOnly = `${outcomes.join(',')}, refused monolithic PUTs ${refused}, PATCHes ${patches}`;
      expect(outcomes).toEqual(['OK', 'OK', 'OK']);
      expect(problems).toEqual([undefined, undefined, undefined]);
      // The first Execute's two blobs each learn it at most once; later Executes go chunked at once.
      expect(refused).toBeGreaterThanOrEqual(1);
      expect(refused).toBeLessThanOrEqual(2);
      expect(patches).toBe(6);
    } finally {
      await stopPlugin(own);
    }
  });
});
