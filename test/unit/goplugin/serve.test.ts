import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { FanoutServiceService, type FanoutServiceServer } from '../../../src/gen/api/fanout';
import { FILE_DESCRIPTOR_SET_BASE64 } from '../../../src/gen/descriptor-set';
import { HealthCheckResponse_ServingStatus as ServingStatus } from '../../../src/gen/grpc/health/v1/health';
import {
  ServerReflectionService as ReflectionV1,
  type ServerReflectionResponse,
} from '../../../src/gen/grpc/reflection/v1/reflection';
import { ServerReflectionService as ReflectionV1Alpha } from '../../../src/gen/grpc/reflection/v1alpha/reflection';
import { GRPCStdioService } from '../../../src/gen/plugin/go_plugin';
import { HealthService } from '../../../src/gen/grpc/health/v1/health';
import { createLogger } from '../../../src/goplugin/log';
import { SocketPathTooLongError, startPluginServer, type PluginServer } from '../../../src/goplugin/serve';
import { generateCertificate, type GeneratedCertificate } from '../../../src/goplugin/tls';
import { connectPlugin, type PluginClients } from '../../../src/host/client';

const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<never>) =>
  callback({ code: grpc.status.UNIMPLEMENTED, details: 'fake' });

function fakeFanout(slowMs: number): FanoutServiceServer {
  return {
    describe: (_call, callback) =>
      callback(null, {
        id: 'fake',
        version: '1',
        description: 'd',
        registrationJsonSchema: new Uint8Array(),
        attachmentJsonSchema: new Uint8Array(),
        subscribedMaterials: [],
      }),
    validateRegistration: (call, callback) => {
      // "slow" payloads hang until the grace period cancels them
      if (Buffer.from(call.request.jsonPayload).toString() === 'slow') {
        setTimeout(() => callback(null, { valid: true, error: '' }), slowMs).unref();
        return;
      }
      callback(null, { valid: true, error: String(call.request.jsonPayload.length) });
    },
    validateAttachment: unimplemented,
    string: unimplemented,
    isSubscribedTo: unimplemented,
    register: unimplemented,
    attach: unimplemented,
    execute: unimplemented,
  };
}

function reflectionList(client: grpc.Client): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const stream = (client as unknown as { serverReflectionInfo(): grpc.ClientDuplexStream<unknown, ServerReflectionResponse> }).serverReflectionInfo();
    stream.on('data', (response: ServerReflectionResponse) => {
      if (response.messageResponse?.$case === 'listServicesResponse') {
        resolve(response.messageResponse.listServicesResponse.service.map((s) => s.name));
      } else reject(new Error(JSON.stringify(response)));
      stream.end();
    });
    stream.on('error', reject);
    stream.write({ host: '', messageRequest: { $case: 'listServices', listServices: '*' } });
  });
}

describe('startPluginServer over a unix socket with mutual TLS', () => {
  let parent: string;
  let server: PluginServer;
  let clients: PluginClients;
  let serverCert: GeneratedCertificate;
  let clientCert: GeneratedCertificate;
  const logLines: string[] = [];
  let closed = 0;

  beforeAll(async () => {
    parent = mkdtempSync(path.join(os.tmpdir(), 'gps-'));
    [serverCert, clientCert] = await Promise.all([generateCertificate(), generateCertificate()]);
    server = await startPluginServer({
      logger: createLogger({ level: 'debug', write: (line) => logLines.push(line) }),
      services: [{ definition: FanoutServiceService, implementation: fakeFanout(10_000) }],
      onClose: async () => {
        closed += 1;
      },
      listen: { network: 'unix', parentDir: parent },
      tls: { clientCaPem: clientCert.certPem, certPem: serverCert.certPem, keyPem: serverCert.keyPem },
      descriptorSetBase64: FILE_DESCRIPTOR_SET_BASE64,
      shutdownGraceMs: 500,
    });
    clients = connectPlugin({
      target: `unix://${server.address}`,
      serverCertDer: serverCert.certDer,
      clientCertificate: clientCert,
    });
  });

  afterAll(() => {
    clients?.close();
    rmSync(parent, { recursive: true, force: true });
  });

  it('listens in a private 0700 folder', () => {
    expect(server.network).toBe('unix');
    expect(path.dirname(server.address)).toBe(server.socketDir);
    expect(path.dirname(server.socketDir!)).toBe(parent);
    expect(statSync(server.socketDir!).mode & 0o777).toBe(0o700);
    expect(statSync(server.address).isSocket()).toBe(true);
  });

  it('reports plugin and the whole server SERVING, unknown services NOT_FOUND', async () => {
    expect(await clients.health.check({ service: 'plugin' })).toEqual({ status: ServingStatus.SERVING });
    expect(await clients.health.check({ service: '' })).toEqual({ status: ServingStatus.SERVING });
    await expect(clients.health.check({ service: 'nope' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('Watch answers SERVICE_UNKNOWN for an unknown service and stays open', async () => {
    const watch = (clients.client(HealthService) as unknown as { watch(r: unknown): grpc.ClientReadableStream<{ status: number }> }).watch({ service: 'nope' });
    const first = await new Promise<number>((resolve, reject) => {
      watch.once('data', (d) => resolve(d.status));
      watch.once('error', reject);
    });
    expect(first).toBe(ServingStatus.SERVICE_UNKNOWN);
    let ended = false;
    watch.on('status', () => (ended = true));
    watch.on('error', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ended).toBe(false);
    watch.cancel();
  });

  it('serves the application service with unlimited message sizes', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
    expect(await clients.fanout.validateRegistration({ jsonPayload: big })).toEqual({ valid: true, error: String(big.length) });
    expect((await clients.fanout.describe({})).id).toBe('fake');
  });

  it('answers reflection v1 and v1alpha with every service', async () => {
    const expected = [
      'api.FanoutService',
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
      'plugin.GRPCBroker',
      'plugin.GRPCController',
      'plugin.GRPCStdio',
    ];
    expect(await reflectionList(clients.client(ReflectionV1))).toEqual(expected);
    expect(await reflectionList(clients.client(ReflectionV1Alpha))).toEqual(expected);
    expect([...server.serviceNames].sort()).toEqual(expected);
  });

  it('refuses a client with another certificate', async () => {
    const stranger = await generateCertificate();
    const other = connectPlugin({ target: `unix://${server.address}`, serverCertDer: serverCert.certDer, clientCertificate: stranger });
    await expect(other.health.check({ service: 'plugin' }, { deadlineMs: 3000 })).rejects.toMatchObject({
      code: expect.any(Number),
    });
    other.close();
  });

  it('on Shutdown: replies, ends idle streams, cancels slow calls after the grace period, removes the folder', async () => {
    const watch = (clients.client(HealthService) as unknown as { watch(r: unknown): grpc.ClientReadableStream<{ status: number }> }).watch({ service: 'plugin' });
    const statuses: number[] = [];
    watch.on('data', (d) => statuses.push(d.status));
    const watchEnded = new Promise<void>((resolve) => watch.on('status', () => resolve()));
    watch.on('error', () => undefined);

    const stdio = (clients.client(GRPCStdioService) as unknown as { streamStdio(r: unknown): grpc.ClientReadableStream<unknown> }).streamStdio({});
    stdio.on('data', () => undefined);
    stdio.on('error', () => undefined);
    const stdioEnded = new Promise<grpc.StatusObject>((resolve) => stdio.on('status', resolve));

    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(statuses).toEqual([ServingStatus.SERVING]);

    const slow = clients.fanout.validateRegistration({ jsonPayload: Buffer.from('slow') }).then(
      () => 'answered',
      (error: grpc.ServiceError) => error.code,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await expect(clients.controller.shutdown({})).resolves.toEqual({});
    await server.stopped;
    const took = Date.now() - started;
    expect(took).toBeLessThan(1500);
    expect(await slow).not.toBe('answered');
    expect((await stdioEnded).code).toBe(grpc.status.OK);
    await watchEnded;
    expect(closed).toBe(1);
    expect(existsSync(server.socketDir!)).toBe(false);
    await server.stop('again'); // idempotent
    expect(closed).toBe(1);
    for (const line of logLines) expect(() => JSON.parse(line)).not.toThrow();
  });
});

describe('startPluginServer errors and plaintext TCP', () => {
  const logger = createLogger({ level: 'error', write: () => undefined });

  it('gives a clear error for a socket path that is too long, and leaves no folder behind', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'gps-'));
    const deep = path.join(parent, 'x'.repeat(90));
    require('node:fs').mkdirSync(deep);
    await expect(
      startPluginServer({
        logger,
        services: [],
        listen: { network: 'unix', parentDir: deep },
        descriptorSetBase64: FILE_DESCRIPTOR_SET_BASE64,
      }),
    ).rejects.toThrow(SocketPathTooLongError);
    expect(require('node:fs').readdirSync(deep)).toEqual([]);
    rmSync(parent, { recursive: true, force: true });
  });

  it('serves plaintext on loopback TCP (debug mode)', async () => {
    const server = await startPluginServer({
      logger,
      services: [{ definition: FanoutServiceService, implementation: fakeFanout(10) }],
      listen: { network: 'tcp', host: '127.0.0.1', port: 0 },
      descriptorSetBase64: FILE_DESCRIPTOR_SET_BASE64,
    });
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.socketDir).toBeUndefined();
    const clients = connectPlugin({ target: server.address });
    expect((await clients.fanout.describe({})).id).toBe('fake');
    expect(await reflectionList(clients.client(ReflectionV1))).toContain('api.FanoutService');
    clients.close();
    await server.stop('test');
  });
});
