import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { FanoutServiceService } from '../../../src/gen/api/fanout';
import { FILE_DESCRIPTOR_SET_BASE64 } from '../../../src/gen/descriptor-set';
import { MAGIC_COOKIE_VALUE } from '../../../src/goplugin/constants';
import { createLogger } from '../../../src/goplugin/log';
import { startPluginServer } from '../../../src/goplugin/serve';
import {
  connectPlugin,
  hostChannelOptions,
  launchPlugin,
  PluginLaunchError,
  pluginEnvironment,
  promiseClient,
} from '../../../src/host/client';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'host-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

describe('pluginEnvironment', () => {
  it('sets the cookie, protocol versions, port range and client certificate', () => {
    const env = pluginEnvironment({ base: { HOME: '/root', PLUGIN_CLIENT_CERT: 'stale' }, clientCertPem: 'PEM' });
    expect(env).toMatchObject({
      HOME: '/root',
      CHAINLOOP_PLUGIN: MAGIC_COOKIE_VALUE,
      PLUGIN_PROTOCOL_VERSIONS: '0',
      PLUGIN_MIN_PORT: '10000',
      PLUGIN_MAX_PORT: '25000',
      PLUGIN_CLIENT_CERT: 'PEM',
    });
  });

  it('drops an inherited client certificate without AutoMTLS, and applies overrides and removals', () => {
    const env = pluginEnvironment({
      base: { PLUGIN_CLIENT_CERT: 'stale', KEEP: '1' },
      overrides: { CHAINLOOP_PLUGIN: undefined, EXTRA: 'x' },
    });
    expect(env.PLUGIN_CLIENT_CERT).toBeUndefined();
    expect(env.CHAINLOOP_PLUGIN).toBeUndefined();
    expect(env.EXTRA).toBe('x');
    expect(env.KEEP).toBe('1');
  });
});

describe('hostChannelOptions', () => {
  it('lifts message limits and pins the TLS name to localhost', () => {
    expect(hostChannelOptions(true)).toEqual({
      'grpc.enable_channelz': 0,
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.default_authority': 'localhost',
    });
    expect(hostChannelOptions(false)).toEqual({
      'grpc.enable_channelz': 0,
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
    });
  });
});

describe('promiseClient', () => {
  it('maps unary methods to promises and surfaces grpc errors with their code', async () => {
    const server = await startPluginServer({
      logger: createLogger({ level: 'error', write: () => undefined }),
      services: [
        {
          definition: FanoutServiceService,
          implementation: {
            describe: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
              cb(null, { id: 'x', version: '', description: '', registrationJsonSchema: new Uint8Array(), attachmentJsonSchema: new Uint8Array(), subscribedMaterials: ['A'] }),
            string: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.INTERNAL, details: 'x'.repeat(100_000) }),
          },
        },
      ],
      listen: { network: 'tcp', host: '127.0.0.1', port: 0 },
      descriptorSetBase64: FILE_DESCRIPTOR_SET_BASE64,
    });
    const clients = connectPlugin({ target: server.address });
    try {
      expect((await clients.fanout.describe({})).subscribedMaterials).toEqual(['A']);
      // a huge status message is cut by the server so it still arrives
      const error = await clients.fanout.string({}, { deadlineMs: 5000 }).catch((e: grpc.ServiceError) => e);
      expect((error as grpc.ServiceError).code).toBe(grpc.status.INTERNAL);
      expect((error as grpc.ServiceError).details.length).toBeLessThanOrEqual(4096);
      await expect(clients.fanout.validateAttachment({ jsonPayload: new Uint8Array() })).rejects.toMatchObject({
        code: grpc.status.UNIMPLEMENTED,
      });
      const raw = promiseClient(FanoutServiceService, clients.fanout.raw);
      expect((await raw.describe({})).id).toBe('x');
    } finally {
      clients.close();
      await server.stop('test');
    }
  });
});

describe('launchPlugin failures', () => {
  it('reports an early exit with the plugin stderr', async () => {
    const exe = script('early-exit', 'echo "no cookie for me" >&2; exit 3');
    const error = await launchPlugin({ executable: exe, autoMTLS: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginLaunchError);
    expect((error as PluginLaunchError).message).toMatch(/exited \(code 3/);
    expect((error as PluginLaunchError).stderrLines).toEqual(['no cookie for me']);
  });

  it('rejects a malformed handshake and kills the process', async () => {
    const exe = script('garbage', 'echo "hello there"; exec sleep 30');
    await expect(launchPlugin({ executable: exe, autoMTLS: false })).rejects.toThrow(/at least 4/);
  });

  it('rejects a certificate the host did not ask for', async () => {
    const exe = script('cert', 'echo "1|0|unix|/nope|grpc|AQID"; exec sleep 30');
    await expect(launchPlugin({ executable: exe, autoMTLS: false })).rejects.toThrow(/none was asked for/);
  });

  it('rejects the wrong app protocol', async () => {
    const exe = script('proto', 'echo "1|5|unix|/nope|grpc"; exec sleep 30');
    await expect(launchPlugin({ executable: exe, autoMTLS: false })).rejects.toThrow(/app protocol 5/);
  });

  it('times out without a handshake', async () => {
    const exe = script('silent', 'exec sleep 30');
    await expect(launchPlugin({ executable: exe, autoMTLS: false, startTimeoutMs: 300 })).rejects.toThrow(/no handshake line within 300 ms/);
  });

  it('passes the go-plugin environment to the plugin', async () => {
    const exe = script('env', 'echo "$CHAINLOOP_PLUGIN|$PLUGIN_PROTOCOL_VERSIONS|${PLUGIN_CLIENT_CERT:+has-cert}" >&2; exit 1');
    const error = (await launchPlugin({ executable: exe }).catch((e: unknown) => e)) as PluginLaunchError;
    expect(error.stderrLines).toEqual([`${MAGIC_COOKIE_VALUE}|0|has-cert`]);
  });
});
