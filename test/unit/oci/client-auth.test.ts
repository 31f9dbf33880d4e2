import { AuthenticationError, PermissionError, RegistryError } from '../../../src/oci/errors';
import { MEDIA_TYPES } from '../../../src/oci/media-types';
import { FakeRegistry, json } from './fake-registry';
import { clientFor, closeAgents, repoOn } from './client-helpers';

const PASSWORD = 'S3cr3t-Passw0rd';
let reg: FakeRegistry;
afterEach(async () => {
  await reg.stop();
});
afterAll(closeAgents);

/** Everything an error exposes: message, stack, own properties, cause chain. */
function exposed(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: string; stack?: string; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    parts.push(String(e.message), String(e.stack), JSON.stringify({ ...e }));
  }
  return parts.join('\n');
}

function assertNoSecrets(err: unknown, extra: string[] = []): void {
  const text = exposed(err);
  const basic = Buffer.from(`user:${PASSWORD}`).toString('base64');
  for (const s of [PASSWORD, basic, 'SECRETSTATE', 'tok-', ...extra]) expect(text).not.toContain(s);
}

describe('authentication failures', () => {
  it('basic: wrong password -> AuthenticationError without the password', async () => {
    reg = await new FakeRegistry({ auth: 'basic', password: 'right' }).start();
    const client = clientFor({ credentials: { username: 'user', password: PASSWORD } });
    const err = await client.checkPushPermission(repoOn(reg, 'a')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err).toMatchObject({ code: 'OCI_UNAUTHORIZED', host: reg.host });
    expect((err as Error).message).toMatch(/rejected the provided credentials/);
    assertNoSecrets(err);
    expect(client.requestCount).toBe(2);
  });

  it('bearer: token endpoint 401 -> AuthenticationError', async () => {
    reg = await new FakeRegistry({ auth: 'bearer', password: 'right' }).start();
    const client = clientFor({ credentials: { username: 'user', password: PASSWORD } });
    const err = await client.pushBlob(repoOn(reg, 'a'), Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toMatch(/token endpoint rejected/);
    assertNoSecrets(err);
  });

  it('anonymous client on a registry that requires auth', async () => {
    reg = await new FakeRegistry({ auth: 'basic' }).start();
    const err = await clientFor().checkPushPermission(repoOn(reg, 'a')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toMatch(/none were provided/);
  });

  it('bearer: token without push -> 401 insufficient_scope -> PermissionError', async () => {
    reg = await new FakeRegistry({ auth: 'bearer', password: PASSWORD, pushAllowed: (r) => r !== 'locked' }).start();
    const client = clientFor({ credentials: { username: 'user', password: PASSWORD } });
    await client.checkPushPermission(repoOn(reg, 'open'));
    const err = await client.checkPushPermission(repoOn(reg, 'locked')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionError);
    expect(err).toMatchObject({ code: 'OCI_DENIED', status: 401 });
    expect((err as Error).message).toMatch(/repository:locked:pull,push/);
    assertNoSecrets(err);
  });

  it('403 -> PermissionError carrying the registry error', async () => {
    reg = await new FakeRegistry({ auth: 'basic', password: PASSWORD }).start();
    reg.intercept = (req, res) => {
      if (req.authorization === undefined) return false;
      json(res, 403, { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] });
      return true;
    };
    const client = clientFor({ credentials: { username: 'user', password: PASSWORD } });
    const err = await client.pushManifest(repoOn(reg, 'a'), 'latest', Buffer.from('{}'), MEDIA_TYPES.ociManifest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionError);
    expect(err).toMatchObject({ status: 403, errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] });
    assertNoSecrets(err);
  });

  it('re-fetches a token the registry stopped accepting (stale cache)', async () => {
    reg = await new FakeRegistry({ auth: 'bearer', password: PASSWORD }).start();
    const client = clientFor({ credentials: { username: 'user', password: PASSWORD } });
    const repo = repoOn(reg, 'a');
    await client.pushBlob(repo, Buffer.from('1'));
    reg.tokens.clear(); // registry forgot every token
    await client.pushBlob(repo, Buffer.from('2'));
    expect(reg.tokenRequests).toHaveLength(2);
  });
});

describe('OAuth2 token endpoints', () => {
  it('falls back to a POST password grant when the realm answers 405 to GET', async () => {
    reg = await new FakeRegistry({ auth: 'bearer', password: PASSWORD }).start();
    const forms: URLSearchParams[] = [];
    reg.intercept = (req, res) => {
      if (req.path !== '/token') return false;
      if (req.method === 'GET') {
        json(res, 405, {});
        return true;
      }
      const form = new URLSearchParams(req.body.toString());
      forms.push(form);
      const token = `tok-oauth-${forms.length}`;
      reg.tokens.set(token, new Set(['repository:a:pull', 'repository:a:push']));
      json(res, 200, { access_token: token, expires_in: 300 });
      return true;
    };
    const client = clientFor({ credentials: { username: 'user', password: PASSWORD } });
    await client.pushBlob(repoOn(reg, 'a'), Buffer.from('x'));
    expect(forms).toHaveLength(1);
    expect(Object.fromEntries(forms[0]!)).toEqual({
      grant_type: 'password',
      username: 'user',
      password: PASSWORD,
      service: 'fake',
      scope: 'repository:a:pull,push',
      client_id: 'chainloop-plugin-oci-registry',
    });
  });

  it('exchanges an identity token (username "<token>") with a refresh_token grant', async () => {
    reg = await new FakeRegistry({ auth: 'bearer' }).start();
    const forms: URLSearchParams[] = [];
    reg.intercept = (req, res) => {
      if (req.path !== '/token') return false;
      expect(req.method).toBe('POST');
      forms.push(new URLSearchParams(req.body.toString()));
      reg.tokens.set('tok-id', new Set(['repository:a:pull', 'repository:a:push']));
      json(res, 200, { access_token: 'tok-id' });
      return true;
    };
    const client = clientFor({ credentials: { username: '<token>', password: 'identity-token-value' } });
    await client.pushBlob(repoOn(reg, 'a'), Buffer.from('x'));
    expect(forms.map((f) => [f.get('grant_type'), f.get('refresh_token'), f.get('scope')])).toEqual([
      ['refresh_token', 'identity-token-value', 'repository:a:pull,push'],
    ]);
  });
});

describe('redaction in registry errors', () => {
  it('upload-state and tokens never appear in errors', async () => {
    reg = await new FakeRegistry({ auth: 'bearer', password: PASSWORD }).start();
    const issued: string[] = [];
    reg.intercept = (req, res) => {
      if (req.authorization?.startsWith('Bearer ')) issued.push(req.authorization.slice(7));
      if (req.method !== 'PUT') return false;
      // A hostile/buggy registry echoing the credentials back.
      json(res, 400, { errors: [{ code: 'DIGEST_INVALID', message: `bad ${req.authorization}`, detail: { url: req.url } }] });
      return true;
    };
    const client = clientFor({ credentials: { username: 'user', password: PASSWORD } });
    const err = (await client.pushBlob(repoOn(reg, 'a'), Buffer.from('x')).catch((e: unknown) => e)) as RegistryError;
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.url).toMatch(new RegExp(`^http://${reg.host}/v2/a/blobs/uploads/[\\w-]+\\?digest=sha256%3A\\w+&…$`));
    expect(err.message).toContain('DIGEST_INVALID: bad Bearer <redacted>');
    expect(issued.length).toBeGreaterThan(0);
    assertNoSecrets(err, issued);
  });

  it('logger receives no secrets', async () => {
    reg = await new FakeRegistry({ auth: 'bearer', password: PASSWORD }).start();
    const lines: string[] = [];
    const client = clientFor({
      credentials: { username: 'user', password: PASSWORD },
      logger: (level, msg, fields) => lines.push(`${level} ${msg} ${JSON.stringify(fields)}`),
      traceRequests: true,
    });
    await client.pushBlob(repoOn(reg, 'a'), Buffer.from('x'));
    expect(lines.length).toBeGreaterThan(3);
    const all = lines.join('\n');
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain('tok-');
    expect(all).not.toContain('SECRETSTATE');
  });
});
