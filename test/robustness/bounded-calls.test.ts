/**
 * Every call ends on its own: the BUILT plugin against CNCF distribution
 * (token auth, realm through a second proxy) behind the project's fault
 * proxy. Stalls before the headers and mid-body, on the registry and on the
 * token service; a registry where everything stalls; connect-and-hang;
 * re-delivery onto immutable tags; a Retry-After longer than a call waits.
 *
 *   plugin ──► regProxy ──► distribution (token auth, realm = tokenProxy)
 *   plugin ──► tokenProxy ──► token server
 */
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server, type Socket } from 'node:net';
import type { LaunchedPlugin } from '../../src/host/client';
import { MEDIA_TYPES, parseRepository } from '../../src/oci';
import { defaultUsers, startDistribution, type Distribution } from '../helpers/distribution';
import { LOOPBACK } from '../helpers/ports';
import { startProxy, type ProxyAction, type ProxyRequestInfo, type RecordingProxy } from '../helpers/proxy';
import { startTokenServer, type TokenServer } from '../helpers/token-server';
import { BODY_IDLE_MS, BUDGET_MS, isBlobPost, isBlobPut, isManifestPut, keyOf, RESPONSE_TIMEOUT_MS, SHORT_BOUNDS_ENV, TIMER_SLACK_MS } from './short-bounds';
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
  type Registration,
} from './support';

const figures: Record<string, unknown> = {};
const suite = describeWhen(haveExecutable && haveRegistry, 'needs `make build` and docker-registry');

afterAll(() => report('bounded-calls', figures));

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
    plugin = await startPlugin({ env: SHORT_BOUNDS_ENV });
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
    ['the registry, mid-headers (blob PUT)', 'reg', isBlobPut, { kind: 'stall', when: 'mid-headers' }],
    ['the token service, before the headers', 'token', () => true, { kind: 'stall', when: 'headers' }],
    ['the token service, mid-headers', 'token', () => true, { kind: 'stall', when: 'mid-headers' }],
    ['the token service, mid-body', 'token', () => true, { kind: 'stall', when: 'body', afterBytes: 7 }],
  ] as const)('a stall on %s: one request times out, is retried, and the Execute succeeds in time', async (name, which, match, action) => {
    const { r, ms, hits } = await executeWith(which === 'reg' ? regProxy : tokenProxy, match, action as ProxyAction);
    figures[`stall ${name}`] = `${ok(r).slice(0, 40)} in ${ms} ms`;
    expect(hits).toBe(1);
    expect(ok(r)).toBe('OK');
    const bound = action.when === 'body' ? BODY_IDLE_MS : RESPONSE_TIMEOUT_MS;
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
    plugin = await startPlugin({ env: SHORT_BOUNDS_ENV });
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
