/**
 * Large envelopes stream to the registry while they arrive (layer-prestage.ts,
 * oci/streamed-upload.ts): the built executable, a real distribution behind a
 * recording proxy, and skopeo reading back what landed.
 */
import * as grpc from '@grpc/grpc-js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ExecuteRequest } from '../../src/gen/api/fanout';
import { launchPlugin, type LaunchedPlugin } from '../../src/host/client';
import { distributionAvailable, startDistribution, type Distribution } from '../helpers/distribution';
import { startProxy, type RecordingProxy } from '../helpers/proxy';
import { copyToOciLayout, inspectRaw, readLayoutBlob, type SkopeoOptions } from '../helpers/skopeo';

const root = path.join(__dirname, '../..');
const executable = path.join(root, 'dist/chainloop-plugin-oci-registry');
const describeIf = existsSync(executable) && distributionAvailable() ? describe : describe.skip;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** Above the 16 MiB from which the layer streams. */
const bigEnvelope = () => json({ payloadType: 'application/vnd.in-toto+json', payload: randomBytes(15 * 1024 * 1024).toString('base64'), signatures: [{ keyid: '', sig: 'ab' }] });

describeIf.each(['anonymous', 'token'] as const)('a large envelope streamed to a %s registry', (mode) => {
  let registry: Distribution;
  let proxy: RecordingProxy;
  let plugin: LaunchedPlugin;
  let skopeo: SkopeoOptions;
  const workdirs: string[] = [];

  beforeAll(async () => {
    registry = await startDistribution({ mode });
    proxy = await startProxy({ target: registry.host });
    skopeo = { tls: false, creds: registry.auth === 'none' ? undefined : { username: 'pusher', password: registry.users.pusher.password } };
    plugin = await launchPlugin({ executable, env: { CHAINLOOP_PLUGIN_LOG_LEVEL: 'debug' } });
  });

  afterAll(async () => {
    await plugin?.shutdown().catch(() => plugin.kill());
    await proxy?.close();
    await registry?.stop();
    for (const d of workdirs) rmSync(d, { recursive: true, force: true });
  });

  const execute = (envelope: Buffer, attachment: Record<string, unknown> = {}) =>
    plugin.fanout.execute(
      ExecuteRequest.fromPartial({
        registrationInfo: {
          configuration: json({ repository: `${proxy.host}/team/att` }),
          credentials: { username: 'pusher', password: registry.users.pusher.password },
        },
        attachmentInfo: { configuration: json(attachment) },
        envelope,
      }),
      { deadlineMs: 60_000 },
    );

  async function readBack(ref: string, envelope: Buffer): Promise<void> {
    const { manifest } = await inspectRaw(ref.replace(proxy.host, registry.host), skopeo);
    expect((manifest.layers as { digest: string; size: number }[])[0]).toMatchObject({ digest: `sha256:${sha256(envelope)}`, size: envelope.length });
    const dir = mkdtempSync(path.join(tmpdir(), 'streamed-'));
    workdirs.push(dir);
    await copyToOciLayout(ref.replace(proxy.host, registry.host), dir, skopeo);
    expect((await readLayoutBlob(dir, `sha256:${sha256(envelope)}`)).equals(envelope)).toBe(true);
  }

  it('streams into the staging repository, mounts it into the attestation\'s, byte for byte', async () => {
    proxy.reset();
    const envelope = bigEnvelope();
    await execute(envelope);
    await proxy.idle();
    const patches = proxy.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(1);
    expect(patches[0]!.path).toMatch(/^\/v2\/team\/att\/chainloop-test\/blobs\/uploads\//);
    expect(patches[0]!.requestBytes).toBe(envelope.length);
    const mounts = proxy.requests.filter((r) => r.method === 'POST' && r.query.includes('mount='));
    expect(mounts.map((r) => r.status)).toEqual([201]);
    // The layer's bytes crossed once: no other request carried them.
    expect(proxy.requests.filter((r) => r.requestBytes >= envelope.length)).toHaveLength(1);
    await readBack(`${proxy.host}/team/att/chainloop-${sha256(envelope)}:latest`, envelope);
  });

  it('asks the attestation\'s repository while the PATCH still drains: after the commit only the mount and the manifest', async () => {
    proxy.reset();
    // The registry takes the PATCH slower than the envelope arrives, as a registry across a network does.
    proxy.setHook((info) => (info.method === 'PATCH' ? { kind: 'forward', requestBytesPerSecond: 40 * 1024 * 1024 } : undefined));
    try {
      const envelope = bigEnvelope();
      await execute(envelope);
      await proxy.idle();
      const target = `/v2/team/att/chainloop-${sha256(envelope)}/`;
      const lines = proxy.requests.filter((r) => r.status !== 401).map((r) => `${r.method} ${r.path.startsWith(target) ? 'target' : 'staging'} ${r.query.includes('mount=') ? 'mount' : ''}`.trim());
      const commit = proxy.requests.filter((r) => r.status !== 401).findIndex((r) => r.method === 'PUT' && r.path.includes('/chainloop-test/blobs/uploads/'));
      expect(lines.indexOf('HEAD target')).toBeGreaterThanOrEqual(0);
      expect(lines.indexOf('HEAD target')).toBeLessThan(commit);
      expect(lines.slice(commit + 1)).toEqual(['POST target mount', 'PUT target']);
      await readBack(`${proxy.host}/team/att/chainloop-${sha256(envelope)}:latest`, envelope);
    } finally {
      proxy.setHook(undefined);
    }
  });

  it('streams straight into the repository of the single layout (no mount)', async () => {
    proxy.reset();
    const envelope = bigEnvelope();
    await execute(envelope, { layout: 'single', prefix: 'all' });
    await proxy.idle();
    const patches = proxy.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.path.replace(/uploads\/.*/, 'uploads/'))).toEqual(['/v2/team/att/all/blobs/uploads/']);
    expect(proxy.count({ method: 'POST', path: /mount/ }) + proxy.requests.filter((r) => r.query.includes('mount=')).length).toBe(0);
    await readBack(`${proxy.host}/team/att/all:${sha256(envelope)}`, envelope);
  });

  it('uploads from memory when the streamed upload fails, and still stores the envelope', async () => {
    proxy.reset();
    proxy.failNext(1, { status: 500, match: { method: 'PATCH' } });
    const envelope = bigEnvelope();
    await execute(envelope);
    await proxy.idle();
    expect(proxy.requests.filter((r) => r.method === 'PATCH').map((r) => r.status)).toEqual([500]);
    expect(plugin.stderrLines.some((l) => l.includes('streaming the blob to the registry failed'))).toBe(true);
    await readBack(`${proxy.host}/team/att/chainloop-${sha256(envelope)}:latest`, envelope);
  });

  it('cancels the streamed upload of an envelope it then rejects, and stores nothing', async () => {
    proxy.reset();
    const envelope = bigEnvelope();
    envelope[0] = 0x5b; // '[': not an object
    await expect(execute(envelope)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await new Promise((r) => setTimeout(r, 300));
    await proxy.idle();
    const deletes = proxy.requests.filter((r) => r.method === 'DELETE' && /^\/v2\/team\/att\/chainloop-test\/blobs\/uploads\//.test(r.path));
    // Closing the session is best effort (distribution wants a delete right for it, or has dropped
    // the half-sent session already): what matters is that it was never committed.
    expect(deletes.length).toBeGreaterThanOrEqual(1);
    expect(proxy.count({ method: 'PUT' })).toBe(0);
    // The plugin is still serving.
    const next = bigEnvelope();
    await execute(next);
    await readBack(`${proxy.host}/team/att/chainloop-${sha256(next)}:latest`, next);
  });
});
