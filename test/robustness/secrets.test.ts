/**
 * No secret leaves the plugin in a log line or a gRPC message: the password,
 * the Basic header value (base64 of user:password), base64 of the password,
 * or a registry token the plugin used. Flows run at trace level in basic and
 * token modes: success, wrong password, read-only user, unreachable registry,
 * transient faults, and a hostile registry whose error bodies echo the
 * credentials it received.
 */
import * as grpc from '@grpc/grpc-js';
import { AttachRequest, RegisterRequest } from '../../src/gen/api/fanout';
import type { LaunchedPlugin } from '../../src/host/client';
import { defaultUsers, startDistribution, type Distribution } from '../helpers/distribution';
import { freePort, LOOPBACK } from '../helpers/ports';
import { startProxy, type ProxyAction, type ProxyRequestInfo, type RecordingProxy } from '../helpers/proxy';
import {
  describeWhen,
  executeRequest,
  haveExecutable,
  haveRegistry,
  json,
  makeEnvelope,
  outcome,
  registrationInfo,
  report,
  startPlugin,
  stopPlugin,
} from './support';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const b64url = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

interface Mode {
  mode: 'basic' | 'token';
}

const totals = { flows: 0, messages: 0, logLines: 0, tokensSeen: 0, leaks: 0 };
afterAll(() => report('secrets', totals));

describeWhen(haveExecutable && haveRegistry, 'needs `make build` and docker-registry').each<Mode>([
  { mode: 'basic' },
  { mode: 'token' },
])('secrets stay secret ($mode registry)', ({ mode }) => {
  const users = defaultUsers();
  // Distinctive passwords: the helper's random tag plus characters that survive any encoding test.
  users.pusher.password = `${users.pusher.password}-Pw`;
  let reg: Distribution;
  let proxy: RecordingProxy;
  let plugin: LaunchedPlugin;
  const tokens = new Set<string>();
  const messages: string[] = [];
  let echo: ((info: ProxyRequestInfo) => ProxyAction | undefined) | undefined;

  beforeAll(async () => {
    reg = await startDistribution({ mode, users });
    proxy = await startProxy({
      target: reg.host,
      hook: (info) => {
        const auth = info.headers.authorization;
        if (typeof auth === 'string' && /^Bearer\s/i.test(auth)) tokens.add(auth.replace(/^Bearer\s+/i, ''));
        return echo?.(info);
      },
    });
    plugin = await startPlugin({ env: { CHAINLOOP_PLUGIN_LOG_LEVEL: 'trace' } });
  });
  afterAll(async () => {
    await stopPlugin(plugin);
    await proxy?.close();
    await reg?.stop();
  });

  const repository = () => `${proxy.host}/robust/secrets`;
  const record = async (p: Promise<unknown>) => {
    totals.flows += 1;
    const r = await outcome(p);
    if (!r.ok) messages.push(r.details);
    return r;
  };
  const registerAs = (username: string, password: string, repo = repository()) =>
    plugin.fanout.register(RegisterRequest.fromPartial({ payload: json({ repository: repo, username, password }) }), {
      deadlineMs: 30_000,
    });

  it('runs every flow', async () => {
    const { password } = users.pusher;
    // Success: register, attach, execute; the stored configuration holds no password.
    const registered = await registerAs('pusher', password);
    totals.flows += 1;
    const configuration = Buffer.from(registered.configuration).toString('utf8');
    expect(JSON.parse(configuration)).toEqual({ repository: repository() });
    for (const form of [password, b64(password), b64(`pusher:${password}`)]) expect(configuration).not.toContain(form);
    const attached = await plugin.fanout.attach(AttachRequest.fromPartial({ payload: json({}), registrationInfo: registered }));
    expect(Buffer.from(attached.configuration).toString()).not.toContain(password);
    for (let i = 0; i < 3; i++) {
      const r = await record(plugin.fanout.execute(executeRequest(registered, makeEnvelope(i)), { deadlineMs: 30_000 }));
      expect(r).toEqual({ ok: true });
    }

    // Wrong password, at Register and at Execute.
    const wrong = `${password}-wrong`;
    expect((await record(registerAs('pusher', wrong))).ok).toBe(false);
    const wrongInfo = registrationInfo(repository(), 'pusher', wrong);
    expect((await record(plugin.fanout.execute(executeRequest(wrongInfo, makeEnvelope(10)), { deadlineMs: 30_000 }))).ok).toBe(false);

    // Read-only user (token mode refuses the push; htpasswd has no read-only notion).
    const readerResult = await record(registerAs('reader', users.reader.password));
    if (mode === 'token') expect(readerResult).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });

    // Unreachable registry with the real password.
    const closed = `${LOOPBACK}:${await freePort()}/robust/secrets`;
    expect((await record(registerAs('pusher', password, closed))).ok).toBe(false);
    const closedInfo = registrationInfo(closed, 'pusher', password);
    expect((await record(plugin.fanout.execute(executeRequest(closedInfo, makeEnvelope(11)), { deadlineMs: 30_000 }))).ok).toBe(false);

    // Transient faults then success.
    proxy.failNext(2, { status: 503, retryAfter: 0 });
    proxy.resetNext(1);
    expect(await record(plugin.fanout.execute(executeRequest(registered, makeEnvelope(12)), { deadlineMs: 30_000 }))).toEqual({ ok: true });
    if (mode === 'token') {
      reg.tokenServer!.failNext(1, { status: 500, body: `token server down (no secret here)` });
      expect(await record(plugin.fanout.execute(executeRequest(registered, makeEnvelope(13)), { deadlineMs: 30_000 }))).toEqual({ ok: true });
    }

    // A hostile registry echoes what it received (Authorization value, password, base64 forms) in every error field.
    for (const status of [400, 401, 403, 404, 500]) {
      echo = (info) => {
        if (info.method !== 'POST') return undefined;
        const auth = String(info.headers.authorization ?? '');
        const leak = `${auth} | ${password} | ${b64(password)} | ${b64(`pusher:${password}`)} | ${auth.split(' ')[1] ?? ''}`;
        return {
          kind: 'respond',
          status,
          headers: { 'www-authenticate': `Basic realm="${leak.replace(/"/g, '')}"`, 'x-echo': leak.replace(/[^\x20-\x7e]/g, '') },
          body: JSON.stringify({ errors: [{ code: 'DENIED', message: `you sent ${leak}`, detail: { echoed: leak } }] }),
        };
      };
      expect((await record(plugin.fanout.execute(executeRequest(registered, makeEnvelope(100 + status)), { deadlineMs: 30_000 }))).ok).toBe(false);
      echo = undefined;
    }
    // Also at Register (the probe path) with the same echo.
    echo = (info) =>
      info.method === 'POST'
        ? { kind: 'respond', status: 403, body: JSON.stringify({ errors: [{ code: 'DENIED', message: `got ${String(info.headers.authorization)} ${password}` }] }) }
        : undefined;
    expect((await record(registerAs('pusher', password))).ok).toBe(false);
    echo = undefined;
  }, 120_000);

  it('no message and no log line holds a secret', () => {
    const { password } = users.pusher;
    const secrets: Array<[string, string]> = [
      ['password', password],
      ['wrong password', `${password}-wrong`],
      ['reader password', users.reader.password],
      ['base64(user:password)', b64(`pusher:${password}`)],
      ['base64(password)', b64(password)],
      ['base64url(password)', b64url(password)],
      ['base64(reader:password)', b64(`reader:${users.reader.password}`)],
    ];
    for (const t of tokens) {
      secrets.push(['token', t]);
      const sig = t.split('.')[2];
      if (sig && sig.length >= 16) secrets.push(['token signature', sig]);
    }
    if (mode === 'token') expect(tokens.size).toBeGreaterThan(0);
    const haystacks: Array<[string, string]> = [
      ...messages.map((m, i): [string, string] => [`gRPC message #${i}`, m]),
      ...plugin.stderrLines.map((l, i): [string, string] => [`stderr line #${i}`, l]),
      ...plugin.extraStdout.map((l, i): [string, string] => [`stdout #${i}`, l]),
    ];
    // JSON log lines may escape characters: search the decoded text too.
    const leaks: string[] = [];
    for (const [where, text] of haystacks) {
      const variants = [text];
      try {
        variants.push(JSON.stringify(JSON.parse(text)));
      } catch {
        // not JSON
      }
      for (const [what, secret] of secrets) {
        if (variants.some((v) => v.includes(secret))) leaks.push(`${what} in ${where}`);
      }
    }
    if (leaks.length > 0) {
      const lines = new Set(leaks.map((l) => /stderr line #(\d+)/.exec(l)?.[1]).filter(Boolean).map(Number));
      const shown = [...lines].slice(0, 3).map((n) => plugin.stderrLines[n].slice(0, 400));
      process.stderr.write(`leaking lines (${mode}):\n${shown.join('\n')}\n`);
    }
    totals.messages += messages.length;
    totals.logLines += plugin.stderrLines.length;
    totals.tokensSeen += tokens.size;
    totals.leaks += leaks.length;
    // The flows did produce output to search.
    expect(messages.length).toBeGreaterThanOrEqual(8);
    expect(plugin.stderrLines.length).toBeGreaterThan(5);
    expect(leaks).toEqual([]);
  });
});
