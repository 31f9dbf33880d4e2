/**
 * Uploads the way registries allow, through the BUILT plugin against CNCF
 * distribution (htpasswd) behind the project's proxy: a 307 on the blob PUT
 * to a storage origin, an upload Location on another origin, a registry that
 * refuses monolithic PUTs, and credentials echoed in error bodies. The
 * storage origin is a second proxy that authenticates on its own, as signed
 * URLs do: it must never receive credentials of ours.
 *
 *   plugin ──► front ──► distribution;  plugin ──► storage ──► same distribution
 */
import * as grpc from '@grpc/grpc-js';
import type { LaunchedPlugin } from '../../src/host/client';
import { defaultUsers, startDistribution, type Distribution } from '../helpers/distribution';
import { startProxy, type RecordingProxy } from '../helpers/proxy';
import { BUDGET_MS, isBlobPost, isBlobPut, SHORT_BOUNDS_ENV } from './short-bounds';
import {
  describeWhen,
  executeRequest,
  haveExecutable,
  haveRegistry,
  makeEnvelope,
  outcome,
  readBackClient,
  register,
  report,
  startPlugin,
  stopPlugin,
  verifyArtifact,
  type Registration,
} from './support';

const figures: Record<string, unknown> = {};
const suite = describeWhen(haveExecutable && haveRegistry, 'needs `make build` and docker-registry');

afterAll(() => report('uploads', figures));

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
    plugin = await startPlugin({ env: SHORT_BOUNDS_ENV });
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
    const own = await startPlugin({ env: SHORT_BOUNDS_ENV });
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

  // Each upload takes some 10 s through the slow link: longer than the response timeout of 5 s (which
  // undici's own timer would count the upload in) and than the base budget of 8 s (plus 1 s per MiB).
  it.each([
    ['one PUT (8 MiB)', 6 * 1024 * 1024, 0.8],
    ['a PATCH streamed as the bytes arrive (20 MiB)', 15 * 1024 * 1024, 2],
  ] as const)('a link slower than the response timeout and the base budget allow, %s: the Execute succeeds without a retry', async (name, padBytes, mibPerSecond) => {
    const responseTimeoutMs = 5000;
    const own = await startPlugin({ env: { ...SHORT_BOUNDS_ENV, CHAINLOOP_PLUGIN_OCI_RESPONSE_TIMEOUT_MS: String(responseTimeoutMs) } });
    try {
      const envelope = makeEnvelope(0, `slow-${Date.now()}`, padBytes);
      const rate = mibPerSecond * 1024 * 1024;
      front.reset();
      front.setHook((info) => (isBlobPut(info) || info.method === 'PATCH' ? { kind: 'forward', requestBytesPerSecond: rate } : undefined));
      const t0 = Date.now();
      const r = await outcome(own.fanout.execute(executeRequest(registration.response, envelope), { deadlineMs: 60_000 }));
      const ms = Date.now() - t0;
      const back = readBackClient({ username: 'pusher', password: users.pusher.password });
      const problem = await verifyArtifact(back.client, `${reg.host}/robust/uploads`, envelope).finally(() => back.close());
      const status = r.ok ? 'OK' : `${grpc.status[r.code]}: ${r.details}`;
      const retries = own.stderrLines.filter((l) => l.includes('retrying') || l.includes('starting over') || l.includes('from memory')).length;
      const patches = front.count({ method: 'PATCH' });
      figures[`slow link, ${name}`] = `${(envelope.length / 1048576).toFixed(1)} MiB at ${mibPerSecond} MiB/s: ${status.slice(0, 80)} in ${ms} ms, ${patches} PATCH, ${retries} retries`;
      expect(status).toBe('OK');
      expect(problem).toBeUndefined();
      expect(retries).toBe(0);
      expect(patches).toBe(padBytes > 8 * 1024 * 1024 ? 1 : 0);
      expect(ms).toBeGreaterThan(BUDGET_MS);
    } finally {
      await stopPlugin(own);
    }
  }, 90_000);
});
