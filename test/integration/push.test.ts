/**
 * Register → Attach → Execute through the gRPC interface of the BUILT
 * executable, launched as Chainloop's host launches it (cookie, AutoMTLS),
 * against real CNCF distribution registries; artifacts read back with skopeo.
 */
import * as grpc from '@grpc/grpc-js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AttachRequest, ExecuteRequest, RegisterRequest, type RegisterResponse } from '../../src/gen/api/fanout';
import { launchPlugin, type LaunchedPlugin } from '../../src/host/client';
import { distributionAvailable, startDistribution, type Distribution, type DistributionMode } from '../helpers/distribution';
import { freePort } from '../helpers/ports';
import { startProxy } from '../helpers/proxy';
import { copyToOciLayout, inspectRaw, readLayoutBlob, type SkopeoOptions } from '../helpers/skopeo';

const root = path.join(__dirname, '../..');
const executable = path.join(root, 'dist/chainloop-plugin-oci-registry');
const fixtures = path.join(root, 'test/fixtures');
const sbomEnvelope = readFileSync(path.join(fixtures, 'chainloop-envelope-sbom.json'));
const imageEnvelope = readFileSync(path.join(fixtures, 'chainloop-envelope-image-subject.json'));
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const ready = existsSync(executable) && distributionAvailable();
const describeIf = ready ? describe : describe.skip;
if (!ready) {
  // Loud, so a skipped suite is never mistaken for a pass.
  console.warn('push.test.ts skipped: run `make build` and install docker-registry (make system-deps)');
}

async function grpcError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded unexpectedly');
}

interface ModeCase {
  mode: DistributionMode;
  tlsAuth?: 'basic';
}

const modes: ModeCase[] = [{ mode: 'anonymous' }, { mode: 'basic' }, { mode: 'token' }, { mode: 'tls', tlsAuth: 'basic' }];

describeIf.each(modes)('push through the plugin, $mode registry', ({ mode, tlsAuth }) => {
  let registry: Distribution;
  let plugin: LaunchedPlugin;
  let registration: RegisterResponse;
  let skopeo: SkopeoOptions;
  const workdirs: string[] = [];

  beforeAll(async () => {
    registry = await startDistribution({ mode, tlsAuth });
    const pusher = registry.users.pusher;
    skopeo = {
      tls: registry.certDir ?? false,
      creds: registry.auth === 'none' ? undefined : { username: 'pusher', password: pusher.password },
    };
    plugin = await launchPlugin({
      executable,
      env: { NODE_EXTRA_CA_CERTS: registry.caPath, CHAINLOOP_PLUGIN_LOG_LEVEL: 'debug' },
    });
  });

  afterAll(async () => {
    await plugin?.shutdown().catch(() => plugin.kill());
    await registry?.stop();
    for (const d of workdirs) rmSync(d, { recursive: true, force: true });
  });

  const register = (username: string, password: string, repository = `${registry.host}/team/attestations`) =>
    plugin.fanout.register(RegisterRequest.fromPartial({ payload: json({ repository, username, password }) }));

  it('registers after proving push access, keeping the password out of the configuration', async () => {
    registration = await register('pusher', registry.users.pusher.password);
    const configuration = Buffer.from(registration.configuration).toString();
    expect(JSON.parse(configuration)).toEqual({ repository: `${registry.host}/team/attestations` });
    expect(configuration).not.toContain(registry.users.pusher.password);
    expect(registration.credentials).toMatchObject({ username: 'pusher', password: registry.users.pusher.password });
  });

  it('attaches with the default prefix', async () => {
    const attached = await plugin.fanout.attach(AttachRequest.fromPartial({ payload: json({}), registrationInfo: registration }));
    expect(JSON.parse(Buffer.from(attached.configuration).toString())).toEqual({ prefix: 'chainloop' });
  });

  it('pushes the envelope as an OCI artifact that skopeo reads back byte for byte', async () => {
    const attachmentInfo = { configuration: json({ prefix: 'chainloop' }) };
    await plugin.fanout.execute(ExecuteRequest.fromPartial({ registrationInfo: registration, attachmentInfo, envelope: sbomEnvelope }));

    const ref = `${registry.host}/team/attestations/chainloop-${sha256(sbomEnvelope)}:latest`;
    const { manifest, digest } = await inspectRaw(ref, skopeo);
    expect(manifest).toMatchObject({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json' },
      layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: `sha256:${sha256(sbomEnvelope)}`, size: sbomEnvelope.length }],
      annotations: { 'org.opencontainers.image.authors': 'chainloop.dev', 'org.opencontainers.image.title': 'attestation.json' },
    });

    const dir = mkdtempSync(path.join(tmpdir(), 'push-layout-'));
    workdirs.push(dir);
    const layout = await copyToOciLayout(ref, dir, skopeo);
    expect(layout.manifestDigest).toBe(digest);
    const layer = await readLayoutBlob(dir, `sha256:${sha256(sbomEnvelope)}`);
    expect(layer.equals(sbomEnvelope)).toBe(true);
    const configDigest = (manifest.config as { digest: string }).digest;
    const config = JSON.parse((await readLayoutBlob(dir, configDigest)).toString());
    expect(config.rootfs).toEqual({ type: 'layers', diff_ids: [`sha256:${sha256(sbomEnvelope)}`] });

    // The host retries Execute: a repeat answers OK and leaves the same manifest.
    await plugin.fanout.execute(ExecuteRequest.fromPartial({ registrationInfo: registration, attachmentInfo, envelope: sbomEnvelope }));
    expect((await inspectRaw(ref, skopeo)).digest).toBe(digest);
  });

  it('pushes a 3 MiB envelope (hashed while it arrives) under its sha256, byte for byte', async () => {
    const big = json({ payloadType: 'application/vnd.in-toto+json', payload: randomBytes(2304 * 1024).toString('base64'), signatures: [{ keyid: '', sig: 'ab' }] });
    expect(big.length).toBeGreaterThan(3 * 1024 * 1024);
    const attachmentInfo = { configuration: json({ prefix: 'chainloop' }) };
    await plugin.fanout.execute(ExecuteRequest.fromPartial({ registrationInfo: registration, attachmentInfo, envelope: big }));
    const ref = `${registry.host}/team/attestations/chainloop-${sha256(big)}:latest`;
    const { manifest } = await inspectRaw(ref, skopeo);
    expect((manifest.layers as { digest: string }[])[0].digest).toBe(`sha256:${sha256(big)}`);
    const dir = mkdtempSync(path.join(tmpdir(), 'push-layout-'));
    workdirs.push(dir);
    await copyToOciLayout(ref, dir, skopeo);
    expect((await readLayoutBlob(dir, `sha256:${sha256(big)}`)).equals(big)).toBe(true);
  });

  it('reuses receive buffers safely: same-size envelopes back to back and side by side land under their own sha256, byte for byte', async () => {
    // One size, so the plugin's pooled buffers are reused with the same layout each time.
    const make = () => json({ payloadType: 'application/vnd.in-toto+json', payload: randomBytes(1536 * 1024).toString('base64'), signatures: [{ keyid: '', sig: 'ab' }] });
    const attachmentInfo = { configuration: json({ prefix: 'reuse' }) };
    const send = (envelope: Buffer) => plugin.fanout.execute(ExecuteRequest.fromPartial({ registrationInfo: registration, attachmentInfo, envelope }));
    const sent: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      const envelope = make();
      // A rejected request of the same size in between hands its buffer back too.
      const bad = Buffer.from(envelope);
      bad[0] = 0x5b;
      await expect(send(bad)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      await send(envelope);
      sent.push(envelope);
    }
    const together = [make(), make(), make()];
    await Promise.all(together.map(send));
    sent.push(...together);
    for (const envelope of sent) {
      const ref = `${registry.host}/team/attestations/reuse-${sha256(envelope)}:latest`;
      const { manifest } = await inspectRaw(ref, skopeo);
      expect((manifest.layers as { digest: string; size: number }[])[0]).toMatchObject({ digest: `sha256:${sha256(envelope)}`, size: envelope.length });
    }
    const last = sent[sent.length - 1]!;
    const dir = mkdtempSync(path.join(tmpdir(), 'push-layout-'));
    workdirs.push(dir);
    await copyToOciLayout(`${registry.host}/team/attestations/reuse-${sha256(last)}:latest`, dir, skopeo);
    expect((await readLayoutBlob(dir, `sha256:${sha256(last)}`)).equals(last)).toBe(true);
  });

  it('honours a custom prefix', async () => {
    const attachmentInfo = { configuration: json({ prefix: 'custom-prefix' }) };
    await plugin.fanout.execute(ExecuteRequest.fromPartial({ registrationInfo: registration, attachmentInfo, envelope: imageEnvelope }));
    const ref = `${registry.host}/team/attestations/custom-prefix-${sha256(imageEnvelope)}:latest`;
    const { manifest } = await inspectRaw(ref, skopeo);
    expect((manifest.layers as { digest: string }[])[0].digest).toBe(`sha256:${sha256(imageEnvelope)}`);
  });

  if (mode !== 'anonymous') {
    it('refuses a wrong password with a clear message and no secret in it', async () => {
      const wrong = `wrong-${registry.users.pusher.password}`;
      const err = await grpcError(register('pusher', wrong));
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(err.details).toContain('the provided credentials are invalid');
      expect(err.details).not.toContain(wrong);
    });
  }

  if (mode === 'token') {
    it('refuses read-only credentials with the write-permission message', async () => {
      const err = await grpcError(register('reader', registry.users.reader.password));
      expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err.details).toContain("don't have write permissions");
      expect(err.details).not.toContain(registry.users.reader.password);
    });
  }

  it('writes only hclog JSON lines on stderr and nothing after the handshake on stdout', () => {
    expect(plugin.extraStdout).toEqual([]);
    expect(plugin.stderrLines.length).toBeGreaterThan(0);
    for (const line of plugin.stderrLines) {
      const entry = JSON.parse(line);
      expect(typeof entry['@message']).toBe('string');
      expect(entry['@timestamp']).toMatch(/\.\d{6}Z$/);
      expect(line).not.toContain(registry.users.pusher.password);
    }
  });
});

describeIf('deadlines, cancellation and a registry that is down', () => {
  let registry: Distribution;
  let plugin: LaunchedPlugin;

  beforeAll(async () => {
    registry = await startDistribution({ mode: 'anonymous' });
    plugin = await launchPlugin({ executable });
  });

  afterAll(async () => {
    await plugin?.shutdown().catch(() => plugin.kill());
    await registry?.stop();
  });

  const requestFor = (host: string, envelope: Buffer) =>
    ExecuteRequest.fromPartial({
      registrationInfo: { configuration: json({ repository: `${host}/slow` }), credentials: { username: 'u', password: 'p' } },
      envelope,
    });

  it('stops the push at the gRPC deadline, and no manifest lands', async () => {
    const proxy = await startProxy({ target: registry.host, hook: () => ({ kind: 'forward', delayMs: 3000 }) });
    try {
      const envelope = json({ payloadType: 't', payload: 'ZGVhZGxpbmU=', signatures: [] });
      const started = Date.now();
      const err = await grpcError(plugin.fanout.execute(requestFor(proxy.host, envelope), { deadlineMs: 500 }));
      expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(Date.now() - started).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 3500));
      expect(proxy.count({ method: 'PUT', path: /\/manifests\// })).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('stops the push when the host cancels the call', async () => {
    const proxy = await startProxy({ target: registry.host, hook: () => ({ kind: 'forward', delayMs: 3000 }) });
    try {
      const envelope = json({ payloadType: 't', payload: 'Y2FuY2Vs', signatures: [] });
      const raw = plugin.fanout.raw as unknown as Record<string, Function>;
      const call = raw.execute.call(plugin.fanout.raw, requestFor(proxy.host, envelope), () => {});
      await new Promise((r) => setTimeout(r, 300));
      call.cancel();
      await new Promise((r) => setTimeout(r, 3500));
      expect(proxy.count({ method: 'PUT', path: /\/manifests\// })).toBe(0);
      expect(plugin.stderrLines.some((l) => /cancel/i.test(l))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('answers UNAVAILABLE quickly when the registry is down', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await grpcError(
      plugin.fanout.register(
        RegisterRequest.fromPartial({ payload: json({ repository: `127.0.0.1:${port}/down`, username: 'u', password: 'p' }) }),
        { deadlineMs: 20_000 },
      ),
    );
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toContain(`127.0.0.1:${port}`);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
