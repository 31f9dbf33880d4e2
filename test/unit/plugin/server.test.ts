import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as api from '../../../src/gen/api/fanout';
import { FanoutServiceService } from '../../../src/gen/api/fanout';
import { AuthenticationError, PermissionError, RegistryUnreachableError, type Repository } from '../../../src/oci';
import { ClientPool } from '../../../src/plugin/client-pool';
import type { Logger } from '../../../src/plugin/logger';
import { createFanoutServer } from '../../../src/plugin/server';

const root = path.join(__dirname, '../../..');
const envelope = readFileSync(path.join(root, 'test/fixtures/chainloop-envelope-sbom.json'));
const PASSWORD = 'Sup3r-Secret-Passw0rd';
const enc = (v: unknown) => Buffer.from(JSON.stringify(v));

/** Stands in for RegistryClient: records what would be pushed, or fails as told. */
class FakeClient {
  pushes: { repo: string; what: string; digest: string }[] = [];
  failWith?: Error;
  hold?: Promise<void>;
  async checkPushPermission(repo: Repository) {
    if (this.failWith) throw this.failWith;
    this.pushes.push({ repo: repo.toString(), what: 'check', digest: '' });
  }
  async pushBlob(repo: Repository, _data: Uint8Array, opts: { signal?: AbortSignal; digest?: string }) {
    if (this.hold) await Promise.race([this.hold, aborted(opts.signal)]);
    if (this.failWith) throw this.failWith;
    this.pushes.push({ repo: repo.toString(), what: 'blob', digest: opts.digest ?? '' });
    return opts.digest ?? '';
  }
  async pushManifest(repo: Repository, tag: string, bytes: Uint8Array) {
    this.pushes.push({ repo: `${repo.toString()}:${tag}`, what: 'manifest', digest: String(bytes.byteLength) });
    return 'sha256:manifest';
  }
  async close() {}
}

function aborted(signal?: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const { abortedFromSignal } = require('../../../src/oci') as typeof import('../../../src/oci');
    signal?.addEventListener('abort', () => reject(abortedFromSignal(signal)), { once: true });
  });
}

class FakePool extends ClientPool {
  readonly client = new FakeClient();
  override get(): any {
    return this.client;
  }
}

const logs: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
const logger: Logger = Object.fromEntries(
  (['debug', 'info', 'warn', 'error'] as const).map((level) => [
    level,
    (message: string, fields?: Record<string, unknown>) => logs.push({ level, message, fields }),
  ]),
) as unknown as Logger;

let server: grpc.Server;
let client: grpc.Client & Record<string, Function>;
const pool = new FakePool();

beforeAll(async () => {
  server = new grpc.Server();
  server.addService(FanoutServiceService, createFanoutServer({ logger, clients: pool }).implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const Ctor = grpc.makeGenericClientConstructor(FanoutServiceService as any, 'FanoutService');
  client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as any;
});

afterAll(() => {
  client.close();
  server.forceShutdown();
});

beforeEach(() => {
  pool.client.pushes = [];
  pool.client.failWith = undefined;
  pool.client.hold = undefined;
  logs.length = 0;
});

/** ts-proto encoders need complete messages: fill defaults as a real client's would. */
const requestTypes: Record<string, { fromPartial(o: any): unknown }> = {
  describe: api.DescribeRequest,
  string: api.StringRequest,
  isSubscribedTo: api.IsSubscribedToRequest,
  validateRegistration: api.ValidateRegistrationRequest,
  validateAttachment: api.ValidateAttachmentRequest,
  register: api.RegisterRequest,
  attach: api.AttachRequest,
  execute: api.ExecuteRequest,
};

function call<T = any>(method: string, req: unknown, deadlineMs = 5000): Promise<T> {
  return new Promise((resolve, reject) =>
    client[method](requestTypes[method].fromPartial(req), { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

async function callError(method: string, req: unknown, deadlineMs?: number): Promise<grpc.ServiceError> {
  try {
    await call(method, req, deadlineMs);
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error(`${method} succeeded unexpectedly`);
}

const registration = { repository: '127.0.0.1:5000/team/attestations', username: 'pusher', password: PASSWORD };
const registrationInfo = {
  configuration: enc({ repository: registration.repository }),
  credentials: { url: '', username: 'pusher', password: PASSWORD },
};

describe('Describe / String / IsSubscribedTo', () => {
  it('describes the plugin with the schema files byte for byte', async () => {
    const res = await call('describe', {});
    expect(res.id).toBe('oci-registry');
    expect(res.description).toBe('Send attestations to a compatible OCI registry');
    expect(res.version).toBe(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version);
    expect(Buffer.from(res.registrationJsonSchema).equals(readFileSync(path.join(root, 'schemas/registration.schema.json')))).toBe(true);
    expect(Buffer.from(res.attachmentJsonSchema).equals(readFileSync(path.join(root, 'schemas/attachment.schema.json')))).toBe(true);
    expect(res.subscribedMaterials).toEqual([]);
  });

  it('names itself and subscribes to no material', async () => {
    expect((await call('string', {})).value).toMatch(/^oci-registry .*v\d+\.\d+\.\d+/);
    expect((await call('isSubscribedTo', { materialType: 'SBOM_CYCLONEDX_JSON' })).subscribed).toBe(false);
  });
});

describe('validation RPCs', () => {
  it('accepts valid input', async () => {
    expect(await call('validateRegistration', { jsonPayload: enc(registration) })).toEqual({ valid: true, error: '' });
    expect((await call('validateAttachment', { jsonPayload: enc({ prefix: 'team-x' }) })).valid).toBe(true);
  });

  it('answers INVALID_ARGUMENT naming the missing and extra properties', async () => {
    const err = await callError('validateRegistration', { jsonPayload: enc({ foo: 1 }) });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe("invalid input: missing properties: 'repository', 'username', 'password'; property 'foo' not allowed");
  });

  it('rejects a repository with a scheme, without echoing the password', async () => {
    const err = await callError('validateRegistration', { jsonPayload: enc({ ...registration, repository: 'https://ghcr.io/o/r' }) });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/scheme/i);
    expect(err.details).not.toContain(PASSWORD);
  });

  it('rejects a prefix that cannot form a repository name', async () => {
    const err = await callError('validateAttachment', { jsonPayload: enc({ prefix: 'Has Spaces' }) });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain('the prefix "Has Spaces" does not form a valid OCI repository name');
  });
});

describe('Register', () => {
  it('checks push access on <repository>/chainloop-test and stores no secret in configuration', async () => {
    const res = await call('register', { payload: enc(registration) });
    expect(pool.client.pushes).toEqual([{ repo: '127.0.0.1:5000/team/attestations/chainloop-test', what: 'check', digest: '' }]);
    expect(JSON.parse(Buffer.from(res.configuration).toString())).toEqual({ repository: registration.repository });
    expect(Buffer.from(res.configuration).toString()).not.toContain(PASSWORD);
    expect(res.credentials).toEqual({ url: '', username: 'pusher', password: PASSWORD });
  });

  it.each([
    [new AuthenticationError('127.0.0.1:5000', `token rejected for ${PASSWORD}`), grpc.status.UNAUTHENTICATED, 'the provided credentials are invalid'],
    [new PermissionError('127.0.0.1:5000', 401, 'insufficient_scope'), grpc.status.PERMISSION_DENIED, "don't have write permissions"],
    [new RegistryUnreachableError('127.0.0.1:5000', 'ECONNREFUSED', ''), grpc.status.UNAVAILABLE, 'cannot reach registry 127.0.0.1:5000'],
    [new Error(`boom ${PASSWORD}`), grpc.status.INTERNAL, 'internal error'],
  ])('maps %p to a user-safe status', async (failure, code, text) => {
    pool.client.failWith = failure;
    const err = await callError('register', { payload: enc(registration) });
    expect(err.code).toBe(code);
    expect(err.details).toContain(text);
    expect(err.details).not.toContain(PASSWORD);
    expect(JSON.stringify(logs)).not.toContain(PASSWORD);
  });
});

describe('Attach', () => {
  it('defaults the prefix to chainloop', async () => {
    const res = await call('attach', { payload: enc({}), registrationInfo });
    expect(JSON.parse(Buffer.from(res.configuration).toString())).toEqual({ prefix: 'chainloop' });
  });

  it('keeps a custom prefix', async () => {
    const res = await call('attach', { payload: enc({ prefix: 'custom-prefix' }), registrationInfo });
    expect(JSON.parse(Buffer.from(res.configuration).toString())).toEqual({ prefix: 'custom-prefix' });
  });
});

describe('Execute', () => {
  const sha = require('node:crypto').createHash('sha256').update(envelope).digest('hex');
  const request = {
    registrationInfo,
    attachmentInfo: { configuration: enc({ prefix: 'chainloop' }) },
    envelope,
  };

  it('pushes config and layer, then the manifest, at <repo>/<prefix>-<sha256>:latest', async () => {
    await call('execute', request);
    const target = `127.0.0.1:5000/team/attestations/chainloop-${sha}`;
    expect(pool.client.pushes.map((p) => [p.repo, p.what])).toEqual([
      [target, 'blob'],
      [target, 'blob'],
      [`${target}:latest`, 'manifest'],
    ]);
    expect(pool.client.pushes.map((p) => p.digest)).toContain(`sha256:${sha}`);
  });

  it.each([
    [{ ...request, envelope: Buffer.alloc(0) }, 'the request has no attestation envelope'],
    [{ ...request, registrationInfo: undefined }, 'the request has no registration configuration'],
    [{ ...request, registrationInfo: { ...registrationInfo, credentials: undefined } }, 'the request has no registry credentials'],
    [{ ...request, registrationInfo: { ...registrationInfo, configuration: enc({ other: 1 }) } }, "has no 'repository'"],
    [{ ...request, attachmentInfo: { configuration: Buffer.from('not json') } }, 'the attachment configuration is not one this plugin wrote'],
    [{ ...request, envelope: Buffer.from('not json at all') }, 'the envelope is not valid JSON'],
  ])('rejects incomplete requests with INVALID_ARGUMENT (%#)', async (req, text) => {
    const err = await callError('execute', req);
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain(text);
    expect(pool.client.pushes).toEqual([]);
  });

  it('stops the registry work when the deadline passes', async () => {
    pool.client.hold = new Promise(() => {});
    const started = Date.now();
    const err = await callError('execute', request, 300);
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(3000);
    // The handler saw the abort too: give it a moment, then check it logged the deadline.
    await new Promise((r) => setTimeout(r, 100));
    expect(logs.some((l) => l.fields?.method === 'Execute' && l.fields?.code === grpc.status.DEADLINE_EXCEEDED)).toBe(true);
  });
});

describe('echoed input stays small and printable', () => {
  it('caps a huge repository value in the status message', async () => {
    const huge = `127.0.0.1:5000/${'A'.repeat(1024 * 1024)}`;
    const err = await callError('validateRegistration', { jsonPayload: enc({ repository: huge, username: 'u', password: 'p' }) });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details.length).toBeLessThan(1000);
    expect(err.details).toContain('more characters');
    expect(JSON.stringify(logs).length).toBeLessThan(5000);
  });

  it('escapes control and bidi characters', async () => {
    const err = await callError('validateAttachment', { jsonPayload: enc({ prefix: 'evil\u202e\u0000x' }) });
    expect(err.details).toContain('evil\\u202e\\u0000x');
    expect(err.details).not.toMatch(/[\u0000\u202e]/);
  });
});
