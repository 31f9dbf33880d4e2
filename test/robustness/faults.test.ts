/**
 * Fault injection between the BUILT plugin and a real CNCF distribution plus
 * its token server: transient failures are retried until the artifact lands
 * intact, permanent answers fail on the first attempt with the registry's
 * reason, and a dead registry fails fast without a retry storm.
 *
 * Topology (all 127.0.0.1):
 *   plugin ──► regProxy ──► distribution (auth: token, realm = tokenProxy)
 *   plugin ──► tokenProxy ──► token server
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LaunchedPlugin } from '../../src/host/client';
import { defaultUsers, startDistribution, type Distribution } from '../helpers/distribution';
import { freePort, LOOPBACK } from '../helpers/ports';
import { startProxy, type ProxyAction, type ProxyRequestInfo, type RecordingProxy } from '../helpers/proxy';
import { copyToOciLayout, readLayoutBlob } from '../helpers/skopeo';
import { registryHandler, sendJson, startFakeServer } from './fake-server';
import { artifactKey, FAILING_KINDS, faultAction, type FaultKind } from './fault-kinds';
import { startTokenServer, type TokenServer } from '../helpers/token-server';
import {
  describeWhen,
  executeRequest,
  grpcError,
  haveExecutable,
  haveRegistry,
  haveSkopeo,
  makeEnvelope,
  messageProblems,
  outcome,
  pool,
  readBackClient,
  register,
  registrationInfo,
  report,
  sha256Hex,
  sleep,
  startPlugin,
  stopPlugin,
  verifyArtifact,
  type Registration,
} from './support';

const EXECUTES = Number(process.env.ROBUST_EXECUTES ?? 200);
const CONCURRENCY = 16;
const FAULT_RATE = 0.3;
/**
 * Faults a single artifact may receive here. This suite checks that every
 * kind of fault, on every kind of request, is ridden out and that retries
 * stay few; the uncapped fault mix (the failure rate a user would see at a
 * given fault rate) is fault-mix.test.ts. (The proxy's mid-response reset
 * never completes a response first, so it cannot take down the next request
 * on a kept-alive socket: see test/helpers/proxy.ts.)
 */
const FAULT_BUDGET_PER_ARTIFACT = 3;
const SKOPEO_SAMPLE = 4;

interface FaultStats {
  requests: number;
  injected: Record<string, number>;
  /** Faults that hit a request already faulted once for the same artifact (proof of retries). */
  capped: number;
}

/** A hook injecting faults at FAULT_RATE while `enabled()`, capped per artifact. */
function faultHook(stats: FaultStats, budget: Map<string, number>, enabled: () => boolean) {
  return (info: ProxyRequestInfo): ProxyAction | undefined => {
    stats.requests += 1;
    if (!enabled()) return undefined;
    const key = artifactKey(info);
    if (!key || Math.random() >= FAULT_RATE) return undefined;
    const all: FaultKind[] = [...FAILING_KINDS, 'slow'];
    const kind = all[Math.floor(Math.random() * all.length)];
    if (kind !== 'slow') {
      const used = budget.get(key) ?? 0;
      if (used >= FAULT_BUDGET_PER_ARTIFACT) {
        stats.capped += 1;
        return undefined;
      }
      budget.set(key, used + 1);
    }
    stats.injected[kind] = (stats.injected[kind] ?? 0) + 1;
    return faultAction(kind);
  };
}

const suite = describeWhen(haveExecutable && haveRegistry, 'needs `make build` and docker-registry');

suite('faults between the plugin and a token-auth registry', () => {
  const users = defaultUsers();
  let tokenServer: TokenServer;
  let tokenProxy: RecordingProxy;
  let reg: Distribution;
  let regProxy: RecordingProxy;
  let plugin: LaunchedPlugin;
  let registration: Registration;
  let faulting = false;
  const budget = new Map<string, number>();
  const regStats: FaultStats = { requests: 0, injected: {}, capped: 0 };
  const tokenStats: FaultStats = { requests: 0, injected: {}, capped: 0 };
  const figures: Record<string, unknown> = {};
  const started = Date.now();

  beforeAll(async () => {
    tokenServer = await startTokenServer({ users });
    tokenProxy = await startProxy({ target: tokenServer.url, hook: faultHook(tokenStats, budget, () => faulting) });
    // Anonymous mode plus an explicit token section: the realm is the proxy, so
    // token requests cross the fault injector too.
    reg = await startDistribution({
      mode: 'anonymous',
      users,
      config: {
        auth: {
          token: {
            realm: `${tokenProxy.url}/token`,
            service: tokenServer.service,
            issuer: tokenServer.issuer,
            rootcertbundle: tokenServer.certPath,
          },
        },
      },
    });
    regProxy = await startProxy({ target: reg.host, hook: faultHook(regStats, budget, () => faulting) });
    plugin = await startPlugin();
    registration = await register(plugin, `${regProxy.host}/robust/faults`, 'pusher', users.pusher.password, 60_000);
  });

  afterAll(async () => {
    await stopPlugin(plugin);
    await regProxy?.close();
    await reg?.stop();
    await tokenProxy?.close();
    await tokenServer?.close();
    report('faults', { ...figures, seconds: Math.round((Date.now() - started) / 1000) });
  });

  it(`${EXECUTES} Executes under ${FAULT_RATE * 100} % faults all succeed and read back intact`, async () => {
    faulting = true;
    // Register again under faults: the push-access probe must ride them out too.
    registration = await register(plugin, `${regProxy.host}/robust/faults`, 'pusher', users.pusher.password, 60_000);
    const run = `f${Date.now().toString(36)}`;
    const envelopes = Array.from({ length: EXECUTES }, (_, i) => makeEnvelope(i, run));
    const t0 = Date.now();
    const results = await pool(EXECUTES, CONCURRENCY, (i) =>
      outcome(plugin.fanout.execute(executeRequest(registration.response, envelopes[i]), { deadlineMs: 90_000 })),
    );
    const executeMs = Date.now() - t0;
    faulting = false;
    await regProxy.idle(10_000).catch(() => undefined);

    const failures = results.map((r, i) => ({ r, i })).filter(({ r }) => !r.ok);
    const injectedFailing = [...budget.values()].reduce((a, b) => a + b, 0);
    // Requests beyond one per fault would show up as retries: count what the proxies saw per artifact.
    const heads = regProxy.count({ method: 'HEAD' });
    Object.assign(figures, {
      executes: EXECUTES,
      failed: failures.length,
      executeSeconds: Math.round(executeMs / 100) / 10,
      registryRequests: regStats.requests,
      tokenRequests: tokenStats.requests,
      faultsInjected: injectedFailing,
      slowInjected: (regStats.injected.slow ?? 0) + (tokenStats.injected.slow ?? 0),
      byKind: mergeCounts(regStats.injected, tokenStats.injected),
      tokenFaults: Object.values(tokenStats.injected).reduce((a, b) => a + b, 0),
      cappedByBudget: regStats.capped + tokenStats.capped,
      headBeforeReupload: heads,
    });
    if (failures.length > 0) {
      const errors = plugin.stderrLines.filter((l) => /"@level":"(error|warn)"/.test(l)).slice(0, 10);
      process.stderr.write(`plugin error lines:\n${errors.join('\n')}\n`);
    }
    expect(failures.map(({ r, i }) => `#${i}: ${r.ok ? '' : `${grpc.status[r.code]} ${r.details}`}`)).toEqual([]);
    // The injector really bit: every kind fired, on both proxies.
    expect(injectedFailing).toBeGreaterThan(EXECUTES);
    for (const kind of [...FAILING_KINDS, 'slow']) expect(mergeCounts(regStats.injected, tokenStats.injected)[kind] ?? 0).toBeGreaterThan(0);
    expect(Object.keys(tokenStats.injected).length).toBeGreaterThan(0);

    // Every artifact, through the registry API straight to distribution (no proxy, no faults).
    const back = readBackClient({ username: 'pusher', password: users.pusher.password });
    try {
      const problems = (
        await pool(EXECUTES, 8, (i) => verifyArtifact(back.client, `${reg.host}/robust/faults`, envelopes[i]))
      ).filter((p): p is string => p !== undefined);
      figures.readBackIntact = EXECUTES - problems.length;
      expect(problems).toEqual([]);
    } finally {
      await back.close();
    }
  }, 180_000);

  (haveSkopeo ? it : it.skip)(`skopeo (an independent reader) agrees on a sample of ${SKOPEO_SAMPLE}`, async () => {
    const run = `s${Date.now().toString(36)}`;
    const dirs: string[] = [];
    try {
      let checked = 0;
      for (let i = 0; i < SKOPEO_SAMPLE; i++) {
        // Fresh envelopes pushed under faults, so the sample is of faulted pushes.
        const envelope = makeEnvelope(i, run, 20_000 + i * 3000);
        faulting = true;
        await plugin.fanout.execute(executeRequest(registration.response, envelope), { deadlineMs: 60_000 });
        faulting = false;
        const dir = mkdtempSync(path.join(tmpdir(), 'robust-skopeo-'));
        dirs.push(dir);
        const ref = `${reg.host}/robust/faults/chainloop-${sha256Hex(envelope)}:latest`;
        await copyToOciLayout(ref, dir, { creds: { username: 'pusher', password: users.pusher.password } });
        expect((await readLayoutBlob(dir, `sha256:${sha256Hex(envelope)}`)).equals(envelope)).toBe(true);
        checked += 1;
      }
      figures.skopeoChecked = checked;
    } finally {
      faulting = false;
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  }, 120_000);

  describe('each transient fault, once, on each kind of request: the Execute still succeeds', () => {
    const targets: Record<string, (i: ProxyRequestInfo) => boolean> = {
      'token GET': (i) => i.method === 'GET' && i.path === '/token',
      'blob POST': (i) => i.method === 'POST' && i.path.endsWith('/blobs/uploads/'),
      'blob PUT': (i) => i.method === 'PUT' && i.path.includes('/blobs/uploads/'),
      'manifest PUT': (i) => i.method === 'PUT' && i.path.includes('/manifests/'),
    };
    const rows = FAILING_KINDS.flatMap((kind) => Object.keys(targets).map((target) => ({ kind, target })));
    const outcomes: string[] = [];
    afterAll(() => {
      figures.matrixCases = rows.length;
      figures.matrixFailed = outcomes.length;
    });
    it.each(rows)('$kind on the $target', async ({ kind, target }) => {
      const envelope = makeEnvelope(0, `m-${kind}-${target}-${Date.now()}`);
      const key = `chainloop-${sha256Hex(envelope)}`;
      let injected = 0;
      const hook = (info: ProxyRequestInfo): ProxyAction | undefined => {
        if (injected > 0 || artifactKey(info) !== key || !targets[target](info)) return undefined;
        injected += 1;
        return faultAction(kind);
      };
      const proxy = target === 'token GET' ? tokenProxy : regProxy;
      proxy.setHook(hook);
      try {
        const t0 = Date.now();
        const r = await outcome(plugin.fanout.execute(executeRequest(registration.response, envelope), { deadlineMs: 15_000 }));
        const ms = Date.now() - t0;
        if (!r.ok) outcomes.push(`${kind}/${target}`);
        expect(injected).toBe(1);
        expect(r.ok ? 'OK' : `${grpc.status[r.code]}: ${r.details}`).toBe('OK');
        expect(ms).toBeLessThan(kind === '429-ra1' ? 4000 : 3000);
      } finally {
        proxy.setHook(faultHook(target === 'token GET' ? tokenStats : regStats, budget, () => faulting));
      }
    });
  });

  describe('permanent answers fail on the first attempt, with the registry reason', () => {
    interface PermanentCase {
      name: string;
      /** Which requests of the artifact get the answer. */
      match: (info: ProxyRequestInfo) => boolean;
      status: number;
      code: string;
      reason: string;
      expectCode: grpc.status;
      expectText: RegExp;
      /**
       * Operations that may reach the faulted request, each at most once. The two
       * blob uploads run side by side and the first failure cancels the other, so
       * the sibling's request may never be sent: at least one hit is required.
       */
      operations: number;
      /** Sends per operation allowed: a 401 on a cached token earns one re-authentication. */
      perOperation?: number;
      via?: 'token';
    }
    const isBlobPost = (i: ProxyRequestInfo) => i.method === 'POST' && i.path.endsWith('/blobs/uploads/');
    const isBlobPut = (i: ProxyRequestInfo) => i.method === 'PUT' && i.path.includes('/blobs/uploads/');
    const isManifestPut = (i: ProxyRequestInfo) => i.method === 'PUT' && i.path.includes('/manifests/');
    const cases: PermanentCase[] = [
      {
        name: '401 UNAUTHORIZED on the upload',
        match: isBlobPost,
        status: 401,
        code: 'UNAUTHORIZED',
        reason: 'token revoked by robustness test',
        expectCode: grpc.status.UNAUTHENTICATED,
        expectText: /the provided credentials are invalid/,
        operations: 2,
        perOperation: 2,
      },
      {
        name: '403 DENIED on the upload',
        match: isBlobPost,
        status: 403,
        code: 'DENIED',
        reason: 'quota exceeded for robustness namespace',
        expectCode: grpc.status.PERMISSION_DENIED,
        expectText: /don't have write permissions/,
        operations: 2,
      },
      {
        name: '404 NAME_UNKNOWN on the upload',
        match: isBlobPost,
        status: 404,
        code: 'NAME_UNKNOWN',
        reason: 'repository name not known to registry',
        expectCode: grpc.status.NOT_FOUND,
        expectText: /NAME_UNKNOWN/,
        operations: 2,
      },
      {
        name: '400 DIGEST_INVALID on the blob PUT',
        match: isBlobPut,
        status: 400,
        code: 'DIGEST_INVALID',
        reason: 'provided digest did not match uploaded content',
        expectCode: grpc.status.FAILED_PRECONDITION,
        expectText: /DIGEST_INVALID/,
        operations: 2,
      },
      {
        name: '400 MANIFEST_INVALID on the manifest PUT',
        match: isManifestPut,
        status: 400,
        code: 'MANIFEST_INVALID',
        reason: 'manifest invalid: robustness says no',
        expectCode: grpc.status.FAILED_PRECONDITION,
        expectText: /MANIFEST_INVALID/,
        operations: 1,
      },
      {
        name: '401 from the token service',
        match: () => true,
        status: 401,
        code: 'UNAUTHORIZED',
        reason: 'account locked',
        expectCode: grpc.status.UNAUTHENTICATED,
        expectText: /the provided credentials are invalid/,
        operations: 1,
        via: 'token',
      },
    ];
    const attempts: Record<string, number> = {};
    afterAll(() => {
      figures.permanentCases = cases.length;
      figures.permanentAttempts = attempts;
    });

    it.each(cases)('$name', async (c) => {
      const envelope = makeEnvelope(0, `p-${c.code}-${c.status}-${Date.now()}`);
      const key = `chainloop-${sha256Hex(envelope)}`;
      let hits = 0;
      const proxy = c.via === 'token' ? tokenProxy : regProxy;
      proxy.setHook((info) => {
        if (artifactKey(info) !== key || !c.match(info)) return undefined;
        hits += 1;
        return {
          kind: 'respond',
          status: c.status,
          body: JSON.stringify({ errors: [{ code: c.code, message: c.reason }] }),
        };
      });
      try {
        const t0 = Date.now();
        const err = await grpcError(
          plugin.fanout.execute(executeRequest(registration.response, envelope), { deadlineMs: 30_000 }),
        );
        const ms = Date.now() - t0;
        // Anything still in flight (the sibling blob) gets the chance to retry, if it would.
        await sleep(800);
        attempts[c.name] = hits;
        expect({ code: grpc.status[err.code], details: err.details }).toMatchObject({ code: grpc.status[c.expectCode] });
        expect(err.details).toMatch(c.expectText);
        expect(messageProblems(err.details)).toEqual([]);
        expect(hits).toBeGreaterThanOrEqual(1);
        expect(hits).toBeLessThanOrEqual(c.operations * (c.perOperation ?? 1));
        // Well under one backoff step: nothing was retried.
        expect(ms).toBeLessThan(2000);
        // The registry's own words reach the user.
        expect(err.details).toContain(c.reason);
      } finally {
        proxy.setHook(faultHook(c.via === 'token' ? tokenStats : regStats, budget, () => faulting));
      }
    });
  });
});

describeWhen(haveExecutable, 'needs `make build`')('a registry that is down', () => {
  let plugin: LaunchedPlugin;
  const figures: Record<string, unknown> = {};
  beforeAll(async () => {
    plugin = await startPlugin();
  });
  afterAll(async () => {
    await stopPlugin(plugin);
    report('registry-down', figures);
  });

  it('closed port: UNAVAILABLE quickly, well within the deadline', async () => {
    const port = await freePort();
    const info = registrationInfo(`${LOOPBACK}:${port}/robust/down`, 'pusher', 'down-Secr3t-pw');
    const t0 = Date.now();
    const err = await grpcError(plugin.fanout.execute(executeRequest(info, makeEnvelope(1)), { deadlineMs: 20_000 }));
    const ms = Date.now() - t0;
    figures.closedPortMs = ms;
    expect(grpc.status[err.code]).toBe('UNAVAILABLE');
    expect(err.details).toMatch(/^cannot reach registry 127\.0\.0\.1:\d+/);
    expect(err.details).toMatch(/refused/);
    expect(messageProblems(err.details)).toEqual([]);
    // 3 attempts at a 200 ms ceiling: far below a second, and nowhere near the deadline.
    expect(ms).toBeLessThan(3000);
  });

  it('a port that accepts and drops every connection: UNAVAILABLE, bounded connection attempts', async () => {
    let accepts = 0;
    const sockets = new Set<Socket>();
    const server: Server = createServer((s) => {
      accepts += 1;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, LOOPBACK, () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const info = registrationInfo(`${LOOPBACK}:${port}/robust/drop`, 'pusher', 'drop-Secr3t-pw');
      const t0 = Date.now();
      const err = await grpcError(plugin.fanout.execute(executeRequest(info, makeEnvelope(2)), { deadlineMs: 30_000 }));
      const ms = Date.now() - t0;
      const atAnswer = accepts;
      await sleep(1500);
      figures.dropAccepts = accepts;
      figures.dropMs = ms;
      expect(grpc.status[err.code]).toBe('UNAVAILABLE');
      expect(err.details).toMatch(/^cannot reach registry 127\.0\.0\.1:\d+/);
      expect(messageProblems(err.details)).toEqual([]);
      // Two blob upload starts, DEFAULT_RETRY.attempts (8) each, one connection per attempt.
      expect(accepts).toBeLessThanOrEqual(16);
      figures.dropAcceptsAfterAnswer = accepts - atAnswer;
      // Nothing keeps hammering after the answer (a sibling upload may finish its last attempt).
      expect(accepts - atAnswer).toBeLessThanOrEqual(1);
      // Backoff 200·(1+2+4+8) + 3·3000 ms at most (full jitter: half that on average), plus the work: no hang.
      expect(ms).toBeLessThan(14_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a registry that never answers: DEADLINE_EXCEEDED at the deadline, not later', async () => {
    const sockets = new Set<Socket>();
    let accepts = 0;
    const server: Server = createServer((s) => {
      accepts += 1;
      sockets.add(s);
      s.resume(); // read (so the client's FIN is seen), never answer
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, LOOPBACK, () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const info = registrationInfo(`${LOOPBACK}:${port}/robust/silent`, 'pusher', 'silent-Secr3t-pw');
      const t0 = Date.now();
      const err = await grpcError(plugin.fanout.execute(executeRequest(info, makeEnvelope(3)), { deadlineMs: 2500 }));
      const ms = Date.now() - t0;
      figures.silentMs = ms;
      figures.silentAccepts = accepts;
      expect(['DEADLINE_EXCEEDED']).toContain(grpc.status[err.code]);
      expect(ms).toBeLessThan(4000);
      // The plugin dropped its sockets with the call.
      const deadline = Date.now() + 3000;
      while (sockets.size > 0 && Date.now() < deadline) await sleep(50);
      figures.silentSocketsLeft = sockets.size;
      expect(sockets.size).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describeWhen(haveExecutable, 'needs `make build`')('a failed Execute leaves no work behind', () => {
  it('when one blob fails permanently, the sibling upload stops retrying once the call has answered', async () => {
    const plugin = await startPlugin();
    const envelope = makeEnvelope(4);
    const layerDigest = `sha256:${sha256Hex(envelope)}`;
    const fake = await startFakeServer(
      registryHandler((req, res) => {
        if (req.method !== 'PUT' || !req.path.includes('/blobs/uploads/')) return false;
        if (req.query.get('digest') === layerDigest) {
          sendJson(res, 400, { errors: [{ code: 'DIGEST_INVALID', message: 'layer refused for good' }] });
        } else {
          sendJson(res, 503, { errors: [{ code: 'UNAVAILABLE', message: 'config: try later' }] });
        }
        return true;
      }),
    );
    try {
      const info = registrationInfo(`${fake.host}/robust/sibling`, 'pusher', 'sibling-Secr3t-pw');
      const err = await grpcError(plugin.fanout.execute(executeRequest(info, envelope), { deadlineMs: 30_000 }));
      const atAnswer = fake.requests.length;
      await sleep(3500);
      const after = fake.requests.length - atAnswer;
      report('sibling', { answer: grpc.status[err.code], requestsAfterAnswer: after });
      expect(grpc.status[err.code]).toBe('FAILED_PRECONDITION');
      expect(err.details).toContain('DIGEST_INVALID');
      // The host has its answer; registry traffic for this call must end with it.
      expect(after).toBeLessThanOrEqual(1);
    } finally {
      await stopPlugin(plugin);
      await fake.close();
    }
  });
});

function mergeCounts(...maps: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of maps) for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v;
  return out;
}
