import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { RegistryUnreachableError } from '../../../src/oci/errors';
import { HttpTransport } from '../../../src/oci/http';
import { forgetLoopbackSchemes } from '../../../src/oci/loopback-scheme';
import { makeCert, startTlsServer } from './tls-fixture';

const noLog = () => {};

describe('loopback registries: TLS first, plain HTTP only when the server has no TLS', () => {
  const servers: Server[] = [];
  const agents: Agent[] = [];
  afterEach(async () => {
    forgetLoopbackSchemes();
    await Promise.all(agents.splice(0).map((a) => a.close()));
    for (const s of servers.splice(0)) s.close();
  });

  it('falls back to plain HTTP once, then goes straight to it', async () => {
    let seen = 0;
    const server = createServer((_req, res) => {
      seen++;
      res.end('{}');
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const agent = new Agent();
    agents.push(agent);
    const transport = new HttpTransport(agent, 'test', noLog);

    for (let i = 0; i < 2; i++) {
      const res = await transport.send({ method: 'GET', url: new URL(`http://127.0.0.1:${port}/v2/`) });
      await res.body.dump();
      expect(res.status).toBe(200);
      expect(res.url.protocol).toBe('http:');
    }
    expect(seen).toBe(2);
    expect(transport.requestCount).toBe(2);
  });

  it('uses TLS when the loopback registry serves it', async () => {
    const { server, port } = await startTlsServer(makeCert(), (_req, res) => res.end('{}'));
    servers.push(server as unknown as Server);
    // The fixture's certificate names another host; this test is about the scheme, not the name.
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    agents.push(agent);
    const transport = new HttpTransport(agent, 'test', noLog);

    const res = await transport.send({ method: 'GET', url: new URL(`http://127.0.0.1:${port}/v2/`) });
    await res.body.dump();
    expect(res.status).toBe(200);
    expect(res.url.protocol).toBe('https:');
    const again = await transport.send({ method: 'GET', url: new URL(`http://127.0.0.1:${port}/v2/x`) });
    await again.body.dump();
    expect(again.url.href).toBe(`https://127.0.0.1:${port}/v2/x`);
  });

  it('never downgrades on a certificate problem: that is an error', async () => {
    const { server, port } = await startTlsServer(makeCert(), (_req, res) => res.end('{}'));
    servers.push(server as unknown as Server);
    const agent = new Agent();
    agents.push(agent);
    const transport = new HttpTransport(agent, 'test', noLog);
    const attempt = transport.send({ method: 'GET', url: new URL(`http://127.0.0.1:${port}/v2/`) });
    await expect(attempt).rejects.toBeInstanceOf(RegistryUnreachableError);
    await expect(attempt).rejects.toThrow(/certificate/i);
  });
});
