import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { FILE_DESCRIPTOR_SET_BASE64 } from '../../../src/gen/descriptor-set';
import {
  CONNECTION_RECEIVE_WINDOW,
  MAX_FRAME_SIZE,
  STREAM_RECEIVE_WINDOW,
  widenServerReceiveWindows,
} from '../../../src/goplugin/http2-window';
import { createLogger } from '../../../src/goplugin/log';
import { startPluginServer, type PluginServer, type TlsSpec } from '../../../src/goplugin/serve';
import { generateCertificate } from '../../../src/goplugin/tls';

/** What a client is told on connecting: the peer's SETTINGS and the connection window it may fill. */
async function advertised(connect: () => http2.ClientHttp2Session): Promise<{ settings: http2.Settings; connectionWindow: number }> {
  const session = connect();
  session.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no SETTINGS within 5 s')), 5000);
      session.once('remoteSettings', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    // The WINDOW_UPDATE for the connection follows the SETTINGS frame; a ping round trip is past it.
    await new Promise<void>((resolve, reject) => session.ping((error) => (error ? reject(error) : resolve())));
    return { settings: session.remoteSettings, connectionWindow: session.state.remoteWindowSize ?? -1 };
  } finally {
    session.destroy();
  }
}

function start(listen: Parameters<typeof startPluginServer>[0]['listen'], tlsSpec?: TlsSpec): Promise<PluginServer> {
  return startPluginServer({
    logger: createLogger({ level: 'error', write: () => undefined }),
    services: [],
    listen,
    ...(tlsSpec ? { tls: tlsSpec } : {}),
    descriptorSetBase64: FILE_DESCRIPTOR_SET_BASE64,
    shutdownGraceMs: 200,
  });
}

describe('the plugin server advertises wide HTTP/2 receive windows', () => {
  it('over plaintext TCP', async () => {
    const server = await start({ network: 'tcp', host: '127.0.0.1', port: 0 });
    try {
      const got = await advertised(() => http2.connect(`http://${server.address}`));
      expect(got.settings.initialWindowSize).toBe(STREAM_RECEIVE_WINDOW);
      expect(got.settings.maxFrameSize).toBe(MAX_FRAME_SIZE);
      expect(got.connectionWindow).toBe(CONNECTION_RECEIVE_WINDOW);
    } finally {
      await server.stop('test over');
    }
  });

  it('over a unix socket with mutual TLS (how a go-plugin host connects)', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'h2w-'));
    const [serverCert, clientCert] = await Promise.all([generateCertificate(), generateCertificate()]);
    const server = await start(
      { network: 'unix', parentDir: parent },
      { clientCaPem: clientCert.certPem, certPem: serverCert.certPem, keyPem: serverCert.keyPem },
    );
    try {
      const got = await advertised(() =>
        http2.connect('https://localhost', {
          createConnection: () =>
            tls.connect({
              path: server.address,
              servername: 'localhost',
              ALPNProtocols: ['h2'],
              ca: serverCert.certPem,
              cert: clientCert.certPem,
              key: clientCert.keyPem,
            }),
        }),
      );
      expect(got.settings.initialWindowSize).toBe(STREAM_RECEIVE_WINDOW);
      expect(got.connectionWindow).toBe(CONNECTION_RECEIVE_WINDOW);
    } finally {
      await server.stop('test over');
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('reports false, and changes nothing, for a server with no bound port', () => {
    const server = new grpc.Server();
    expect(widenServerReceiveWindows(server)).toBe(false);
    server.forceShutdown();
  });
});
