/**
 * Referrers through the BUILT executable against real distribution 2.8.2
 * (no referrers API, so the fallback index is used): OCI referrer, fallback
 * index, cosign `.att`, re-delivery, concurrency, the subject-host rule, and
 * where each option puts things. Reads go through skopeo and plain GETs.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { AttachRequest, ExecuteRequest, RegisterRequest, type RegisterResponse } from '../../src/gen/api/fanout';
import { launchPlugin, type LaunchedPlugin } from '../../src/host/client';
import { distributionAvailable, startDistribution, type Distribution } from '../helpers/distribution';
import { startProxy } from '../helpers/proxy';
import { envelopeFor, getManifest, listTags, pushSmallImage, putManifest, tagOf, type PushedImage } from '../helpers/referrers';
import { runBuiltPlugin } from '../helpers/plugin-process';
import { inspectRaw } from '../helpers/skopeo';

const executable = path.join(__dirname, '../../dist/chainloop-plugin-oci-registry');
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const ready = existsSync(executable) && distributionAvailable();
const describeIf = ready ? describe : describe.skip;
if (!ready) console.warn('referrers.test.ts skipped: run `make build` and install docker-registry (make system-deps)');

describeIf('referrers through the plugin, distribution 2.8.2', () => {
  let registry: Distribution;
  let plugin: LaunchedPlugin;
  let registration: RegisterResponse;

  beforeAll(async () => {
    registry = await startDistribution({ mode: 'anonymous' });
    plugin = await launchPlugin({ executable, env: { CHAINLOOP_PLUGIN_LOG_LEVEL: 'debug' } });
    registration = await plugin.fanout.register(
      RegisterRequest.fromPartial({ payload: json({ repository: `${registry.host}/team/attestations`, username: 'u', password: 'p-secret' }) }),
    );
  }, 60_000);

  afterAll(async () => {
    await plugin?.shutdown().catch(() => plugin.kill());
    await registry?.stop();
  });

  const attach = async (options: Record<string, unknown>) => {
    const attached = await plugin.fanout.attach(AttachRequest.fromPartial({ payload: json(options), registrationInfo: registration }));
    return { configuration: attached.configuration };
  };
  const execute = async (attachmentInfo: { configuration: Uint8Array }, envelope: Buffer) =>
    plugin.fanout.execute(ExecuteRequest.fromPartial({ registrationInfo: registration, attachmentInfo, envelope }));

  describe('oci+cosign next to the image', () => {
    let image: PushedImage;
    let info: { configuration: Uint8Array };
    const first = () => envelopeFor([image], 'run-0');

    beforeAll(async () => {
      image = await pushSmallImage(registry.host, 'org/app');
      info = await attach({ referrers: 'oci+cosign' });
      expect(JSON.parse(Buffer.from(info.configuration).toString())).toEqual({ prefix: 'chainloop', referrers: 'oci+cosign' });
    });

    it('writes the referrer, the fallback index entry and the .att layer', async () => {
      const envelope = first();
      await execute(info, envelope);

      const index = await inspectRaw(`${registry.host}/org/app:${tagOf(image.digest)}`);
      expect(index.manifest).toMatchObject({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json' });
      const entries = index.manifest.manifests as any[];
      expect(entries).toHaveLength(1);
      const entry = entries[0];
      expect(entry).toMatchObject({ mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.in-toto+json' });

      const referrer = await inspectRaw(`${registry.host}/org/app@${entry.digest}`);
      expect(referrer.digest).toBe(entry.digest);
      expect(referrer.raw.length).toBe(entry.size);
      expect(referrer.manifest).toMatchObject({
        artifactType: 'application/vnd.in-toto+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', size: 2 },
        layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: `sha256:${hex(envelope)}`, size: envelope.length }],
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: image.size },
      });
      // Every manifest annotation is copied into the entry (spec), and they carry the workflow.
      expect(entry.annotations).toEqual((referrer.manifest as any).annotations);
      expect(entry.annotations).toMatchObject({
        'in-toto.io/predicate-type': 'chainloop.dev/attestation/v0.2',
        'org.opencontainers.image.created': '2024-05-06T07:08:09Z',
        'dev.chainloop.workflow.name': 'build',
        'dev.chainloop.workflow-run.id': 'run-0',
        'dev.chainloop.runner.type': 'GITHUB_ACTION',
      });
      // The envelope blob is in the image's repository byte for byte.
      const blob = await fetch(`http://${registry.host}/v2/org/app/blobs/sha256:${hex(envelope)}`);
      expect(Buffer.from(await blob.arrayBuffer()).equals(envelope)).toBe(true);

      const att = await inspectRaw(`${registry.host}/org/app:${tagOf(image.digest)}.att`);
      expect(att.manifest.layers).toEqual([
        {
          mediaType: 'application/vnd.dsse.envelope.v1+json',
          size: envelope.length,
          digest: `sha256:${hex(envelope)}`,
          annotations: { 'dev.cosignproject.cosign/signature': '', predicateType: 'chainloop.dev/attestation/v0.2' },
        },
      ]);
      const config = await fetch(`http://${registry.host}/v2/org/app/blobs/${(att.manifest.config as any).digest}`);
      expect(((await config.json()) as any).rootfs.diff_ids).toEqual([`sha256:${hex(envelope)}`]);

      // distribution sends no OCI-Subject, so the API counts as absent without a probe (both signals are required).
      expect(registry.accessLog.filter((e) => e.path.startsWith('/v2/org/app/referrers/'))).toEqual([]);
    });

    it('a re-delivery changes neither the index nor the .att', async () => {
      const before = [await getManifest(registry.host, 'org/app', tagOf(image.digest)), await getManifest(registry.host, 'org/app', `${tagOf(image.digest)}.att`)];
      await execute(info, first());
      const after = [await getManifest(registry.host, 'org/app', tagOf(image.digest)), await getManifest(registry.host, 'org/app', `${tagOf(image.digest)}.att`)];
      expect(after.map((m) => m.digest)).toEqual(before.map((m) => m.digest));
    });

    it('20 concurrent Executes of distinct envelopes keep 21 entries in each', async () => {
      const envelopes = Array.from({ length: 20 }, (_, i) => envelopeFor([image], `run-${i + 1}`));
      await Promise.all(envelopes.map((e) => execute(info, e)));
      const index = await getManifest(registry.host, 'org/app', tagOf(image.digest));
      const att = await getManifest(registry.host, 'org/app', `${tagOf(image.digest)}.att`);
      expect(index.json.manifests).toHaveLength(21);
      expect(new Set(index.json.manifests.map((m: any) => m.digest)).size).toBe(21);
      expect(att.json.layers).toHaveLength(21);
      const expected = [first(), ...envelopes].map((e) => `sha256:${hex(e)}`).sort();
      expect(att.json.layers.map((l: any) => l.digest).sort()).toEqual(expected);
    }, 120_000);

    it('host discover lists them from the image, with predicate type and workflow annotations', async () => {
      const run = await runBuiltPlugin(['host', 'discover', `${image.name}@${image.digest}`]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout);
      expect(report.referrers.source).toBe('fallback');
      expect(report.referrers.attestations).toHaveLength(21);
      expect(report.cosign.attestations).toHaveLength(21);
      const runIds = report.referrers.attestations.map((a: any) => a.annotations['dev.chainloop.workflow-run.id']).sort();
      expect(runIds).toEqual(Array.from({ length: 21 }, (_, i) => `run-${i}`).sort());
      expect(report.referrers.attestations[0]).toMatchObject({
        predicateType: 'chainloop.dev/attestation/v0.2',
        annotations: { 'dev.chainloop.workflow.name': 'build', 'dev.chainloop.organization': 'acme' },
      });
      expect(report.cosign.attestations[0].predicateType).toBe('chainloop.dev/attestation/v0.2');
      // cosign's layers carry no workflow labels: discover reads them from each envelope.
      const cosignRunIds = report.cosign.attestations.map((a: any) => a.annotations['dev.chainloop.workflow-run.id']).sort();
      expect(cosignRunIds).toEqual(runIds);
      expect(report.cosign.attestations[0].annotations).toMatchObject({ 'dev.chainloop.workflow.name': 'build' });
    });
  });

  it('a subject on another host sees no request, and Execute still succeeds', async () => {
    const elsewhere = await startProxy({ target: registry.host });
    try {
      const image = await pushSmallImage(registry.host, 'org/foreign');
      const info = await attach({ referrers: 'oci+cosign' });
      await execute(info, envelopeFor([{ name: `${elsewhere.host}/org/foreign`, digest: image.digest }], 'foreign'));
      expect(elsewhere.requests).toEqual([]);
      expect(await listTags(registry.host, 'org/foreign')).toEqual(['v1']);
      expect(plugin.stderrLines.some((l) => l.includes('subject skipped') && l.includes('foreign host'))).toBe(true);
    } finally {
      await elsewhere.close();
    }
  });

  it('leaves a pre-seeded non-index at sha256-<digest> untouched', async () => {
    const image = await pushSmallImage(registry.host, 'org/seeded');
    const squatter = await pushSmallImage(registry.host, 'org/seeded', tagOf(image.digest), 'squatter');
    const info = await attach({ referrers: 'oci' });
    await execute(info, envelopeFor([image], 'seeded'));
    const atTag = await getManifest(registry.host, 'org/seeded', tagOf(image.digest));
    expect(atTag.digest).toBe(squatter.digest);
    expect(plugin.stderrLines.some((l) => l.includes('skipped:not-an-index'))).toBe(true);
  });

  it('refuses an index near 4 MiB without rewriting it', async () => {
    const image = await pushSmallImage(registry.host, 'org/big');
    const filler = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: image.size, annotations: { pad: 'x'.repeat(4 * 1024 * 1024 - 16 * 1024 - 400) } };
    const big = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [filler] }));
    const seeded = await putManifest(`http://${registry.host}`, 'org/big', tagOf(image.digest), big, 'application/vnd.oci.image.index.v1+json');
    await execute(await attach({ referrers: 'oci' }), envelopeFor([image], 'big'));
    expect((await getManifest(registry.host, 'org/big', tagOf(image.digest))).digest).toBe(seeded);
    expect(plugin.stderrLines.some((l) => l.includes('skipped:index-too-large'))).toBe(true);
  });

  it('skips a subject the registry does not have (404) without writing tags, and Execute succeeds', async () => {
    const image = await pushSmallImage(registry.host, 'org/missing');
    const absent = `sha256:${'0'.repeat(63)}1`;
    await execute(await attach({ referrers: 'oci+cosign' }), envelopeFor([{ name: image.name, digest: absent }], 'missing'));
    expect(await listTags(registry.host, 'org/missing')).toEqual(['v1']);
    expect(plugin.stderrLines.some((l) => l.includes('skipped:subject-not-accessible-404'))).toBe(true);
  });

  it('leaves a .att that already has 1000 layers (cosign cannot read more) untouched', async () => {
    const image = await pushSmallImage(registry.host, 'org/full');
    const base = `http://${registry.host}`;
    const layer = Buffer.from('{"payloadType":"x","payload":"","signatures":[]}');
    const layerDigest = `sha256:${hex(layer)}`;
    const post = await fetch(`${base}/v2/org/full/blobs/uploads/`, { method: 'POST' });
    const loc = new URL(post.headers.get('location')!, base);
    loc.searchParams.set('digest', layerDigest);
    expect((await fetch(loc, { method: 'PUT', body: layer })).status).toBe(201);
    const config = Buffer.from('{}');
    const post2 = await fetch(`${base}/v2/org/full/blobs/uploads/`, { method: 'POST' });
    const loc2 = new URL(post2.headers.get('location')!, base);
    loc2.searchParams.set('digest', `sha256:${hex(config)}`);
    expect((await fetch(loc2, { method: 'PUT', body: config })).status).toBe(201);
    const layers = Array.from({ length: 1000 }, () => ({ mediaType: 'application/vnd.dsse.envelope.v1+json', size: layer.length, digest: layerDigest }));
    const att = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: 2, digest: `sha256:${hex(config)}` }, layers }));
    const seeded = await putManifest(base, 'org/full', `${tagOf(image.digest)}.att`, att, 'application/vnd.oci.image.manifest.v1+json');
    await execute(await attach({ referrers: 'cosign' }), envelopeFor([image], 'full'));
    expect((await getManifest(registry.host, 'org/full', `${tagOf(image.digest)}.att`)).digest).toBe(seeded);
    expect(plugin.stderrLines.some((l) => l.includes('skipped:layer-limit'))).toBe(true);
  });

  it('referrersLocation=repository and layout=single land where the README says', async () => {
    const image = await pushSmallImage(registry.host, 'org/elsewhere');
    const info = await attach({ referrers: 'oci+cosign', referrersLocation: 'repository', layout: 'single' });
    const envelope = envelopeFor([image], 'located');
    await execute(info, envelope);
    // The artifact: <repository>/<prefix>:<sha256 hex of the envelope>.
    const artifact = await inspectRaw(`${registry.host}/team/attestations/chainloop:${hex(envelope)}`);
    expect((artifact.manifest.layers as any[])[0].digest).toBe(`sha256:${hex(envelope)}`);
    // Referrers: <repository>/<prefix>:sha256-<subject> and its .att, nothing next to the image.
    const index = await getManifest(registry.host, 'team/attestations/chainloop', tagOf(image.digest));
    expect(index.json.manifests).toHaveLength(1);
    const att = await getManifest(registry.host, 'team/attestations/chainloop', `${tagOf(image.digest)}.att`);
    expect(att.json.layers[0].digest).toBe(`sha256:${hex(envelope)}`);
    expect(await listTags(registry.host, 'org/elsewhere')).toEqual(['v1']);
    const run = await runBuiltPlugin(['host', 'discover', `${image.name}@${image.digest}`, '--repository', `${registry.host}/team/attestations/chainloop`]);
    const report = JSON.parse(run.stdout);
    expect(report.referrers.attestations.map((a: any) => a.annotations['dev.chainloop.workflow-run.id'])).toEqual(['located']);
    expect(report.cosign.attestations.map((a: any) => a.digest)).toEqual([`sha256:${hex(envelope)}`]);
  });

  it('no log line carries the password, and nothing but the handshake went to stdout', () => {
    expect(plugin.stderrLines.length).toBeGreaterThan(0);
    expect(plugin.stderrLines.filter((l) => l.includes('p-secret'))).toEqual([]);
    expect(plugin.extraStdout).toEqual([]);
  });

  it('without options, nothing is written next to the image', async () => {
    const image = await pushSmallImage(registry.host, 'org/plain');
    const mark = registry.accessLogMark();
    const envelope = envelopeFor([image], 'plain');
    await execute(await attach({}), envelope);
    expect(await listTags(registry.host, 'org/plain')).toEqual(['v1']);
    const main = await getManifest(registry.host, `team/attestations/chainloop-${hex(envelope)}`, 'latest');
    expect(main.json.annotations['dev.chainloop.workflow-run.id']).toBe('plain');
    const entries = await registry.waitForAccessLog(1, { mark });
    const byPlugin = registry.accessLog.slice(mark).filter((e) => e.userAgent.startsWith('chainloop-plugin-oci-registry'));
    expect(byPlugin.length).toBeGreaterThan(0);
    expect(byPlugin.filter((e) => e.path.startsWith('/v2/org/plain/'))).toEqual([]);
    expect(entries.length).toBeGreaterThan(0);
    const found = JSON.parse((await runBuiltPlugin(['host', 'discover', `${image.name}@${image.digest}`])).stdout);
    expect(found.referrers).toEqual({ source: 'none', attestations: [] });
    expect(found.cosign.attestations).toEqual([]);
  });
});

describeIf('referrers through the plugin, token-auth distribution', () => {
  let registry: Distribution;
  let plugin: LaunchedPlugin;

  beforeAll(async () => {
    registry = await startDistribution({ mode: 'token' });
    plugin = await launchPlugin({ executable, env: { CHAINLOOP_PLUGIN_LOG_LEVEL: 'debug' } });
  }, 60_000);

  afterAll(async () => {
    await plugin?.shutdown().catch(() => plugin.kill());
    await registry?.stop();
  });

  it('mounts the envelope into the image repository with one token for both scopes, and writes both schemes', async () => {
    const password = registry.users.pusher!.password;
    const registration = await plugin.fanout.register(
      RegisterRequest.fromPartial({ payload: json({ repository: `${registry.host}/team/attestations`, username: 'pusher', password }) }),
    );
    // The image goes in through the plugin's own main push path: any artifact manifest is an image to refer to.
    const seed = envelopeFor([], 'seed');
    await plugin.fanout.execute(ExecuteRequest.fromPartial({ registrationInfo: registration, attachmentInfo: { configuration: json({ layout: 'single' }) }, envelope: seed }));
    const creds = { username: 'pusher', password };
    const seeded = await inspectRaw(`${registry.host}/team/attestations/chainloop:${hex(seed)}`, { creds });
    const image = { name: `${registry.host}/team/attestations/chainloop`, digest: seeded.digest };

    const attached = await plugin.fanout.attach(AttachRequest.fromPartial({ payload: json({ referrers: 'oci+cosign' }), registrationInfo: registration }));
    const envelope = envelopeFor([image], 'token-run');
    await plugin.fanout.execute(ExecuteRequest.fromPartial({ registrationInfo: registration, attachmentInfo: { configuration: attached.configuration }, envelope }));

    const index = await inspectRaw(`${image.name}:${tagOf(image.digest)}`, { creds });
    expect((index.manifest.manifests as unknown[]).length).toBe(1);
    const att = await inspectRaw(`${image.name}:${tagOf(image.digest)}.att`, { creds });
    expect((att.manifest.layers as Array<{ digest: string }>)[0]!.digest).toBe(`sha256:${hex(envelope)}`);
    const mounts = registry.accessLog.filter((e) => e.method === 'POST' && e.target.includes('mount=') && e.status === 201);
    expect(mounts.length).toBeGreaterThan(0);
    const scopes = registry.tokenServer!.requests.map((r) => r.scopes);
    expect(scopes.some((s) => s.length === 2 && s.some((x) => x.endsWith(':pull,push')) && s.some((x) => /chainloop-[0-9a-f]{64}:pull$|chainloop:pull$/.test(x)))).toBe(true);
  });
});
