/**
 * The fallback index and .att read-modify-write against the in-process fake
 * registry, with ETag/If-Match and lost-update behaviour injected.
 */
import { createHash } from 'node:crypto';
import { isTemporary } from '../../../src/oci';
import { MEDIA_TYPES } from '../../../src/oci/media-types';
import { closeAgents, clientFor, repoOn } from './client-helpers';
import { FakeRegistry, json } from './fake-registry';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const SUBJECT = sha('subject');
const TAG = SUBJECT.replace(':', '-');
const EMPTY = Buffer.from('{}');

function referrer(n: number) {
  const layer = Buffer.from(`envelope ${n}`);
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      artifactType: 'application/vnd.in-toto+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(EMPTY), size: 2 },
      layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: sha(layer), size: layer.length }],
      subject: { mediaType: MEDIA_TYPES.ociManifest, digest: SUBJECT, size: 7 },
      annotations: { 'dev.chainloop.workflow-run.id': `run-${n}` },
    }),
  );
  return {
    manifest: { bytes, mediaType: MEDIA_TYPES.ociManifest, digest: sha(bytes) },
    blobs: [
      { digest: sha(EMPTY), bytes: EMPTY },
      { digest: sha(layer), bytes: layer },
    ],
    subjectDigest: SUBJECT,
  };
}

const entriesAt = (reg: FakeRegistry, repo: string) => JSON.parse(reg.manifests.get(`${repo}:${TAG}`)!.bytes.toString()).manifests;

let reg: FakeRegistry;
beforeEach(async () => {
  reg = await new FakeRegistry().start();
});
afterEach(async () => {
  await reg.stop();
});
afterAll(closeAgents);

describe('fallback index', () => {
  it('creates the index with the spec entry: artifactType and the annotations copied', async () => {
    const client = clientFor();
    const r = referrer(1);
    expect(await client.pushReferrer(repoOn(reg, 'org/app'), r)).toBe('written');
    expect(entriesAt(reg, 'org/app')).toEqual([
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: r.manifest.digest,
        size: r.manifest.bytes.length,
        artifactType: 'application/vnd.in-toto+json',
        annotations: { 'dev.chainloop.workflow-run.id': 'run-1' },
      },
    ]);
    expect(reg.manifests.get(`org/app:${TAG}`)!.mediaType).toBe(MEDIA_TYPES.ociIndex);
    // A repeat is a no-op: no second PUT of the index.
    const puts = () => reg.requests.filter((q) => q.method === 'PUT' && q.path.endsWith(`/manifests/${TAG}`)).length;
    const before = puts();
    expect(await client.pushReferrer(repoOn(reg, 'org/app'), r)).toBe('already-present');
    expect(puts()).toBe(before);
  });

  it('keeps foreign entries verbatim, unknown fields included', async () => {
    const foreign = { mediaType: MEDIA_TYPES.ociManifest, digest: sha('other'), size: 1, artifactType: '', 'x-unknown': { a: [1] } };
    reg.manifests.set(`org/app:${TAG}`, { bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [foreign], extra: true })), mediaType: MEDIA_TYPES.ociIndex });
    await clientFor().pushReferrer(repoOn(reg, 'org/app'), referrer(2));
    const entries = entriesAt(reg, 'org/app');
    expect(entries[0]).toEqual(foreign);
    expect(entries).toHaveLength(2);
  });

  it('never overwrites content that is not an index', async () => {
    const image = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: {}, layers: [] }));
    reg.manifests.set(`org/app:${TAG}`, { bytes: image, mediaType: MEDIA_TYPES.ociManifest });
    expect(await clientFor().pushReferrer(repoOn(reg, 'org/app'), referrer(3))).toBe('skipped:not-an-index');
    expect(reg.manifests.get(`org/app:${TAG}`)!.bytes.equals(image)).toBe(true);
  });

  it('sends If-Match with the ETag it read, and re-reads after a 412', async () => {
    let failed = false;
    reg.intercept = (req, res) => {
      if (req.path.endsWith(`/manifests/${TAG}`) && req.method === 'GET' && reg.manifests.has(`org/app:${TAG}`)) {
        const entry = reg.manifests.get(`org/app:${TAG}`)!;
        res.writeHead(200, { 'content-type': entry.mediaType, etag: `"${sha(entry.bytes)}"` });
        res.end(entry.bytes);
        return true;
      }
      if (req.path.endsWith(`/manifests/${TAG}`) && req.method === 'PUT' && !failed && reg.manifests.has(`org/app:${TAG}`)) {
        failed = true;
        json(res, 412, { errors: [{ code: 'PRECONDITION_FAILED', message: 'etag mismatch' }] });
        return true;
      }
      return false;
    };
    const client = clientFor();
    await client.pushReferrer(repoOn(reg, 'org/app'), referrer(1));
    const firstEtag = `"${sha(reg.manifests.get(`org/app:${TAG}`)!.bytes)}"`;
    expect(await client.pushReferrer(repoOn(reg, 'org/app'), referrer(2))).toBe('written');
    const puts = reg.requests.filter((q) => q.method === 'PUT' && q.path.endsWith(`/manifests/${TAG}`));
    expect(failed).toBe(true);
    expect(puts).toHaveLength(3); // create, the refused one, the retry
    expect(puts[0]!.ifMatch).toBeUndefined(); // nothing to match when the tag did not exist
    expect(puts[1]!.ifMatch).toBe(firstEtag);
    expect(puts[2]!.ifMatch).toBe(firstEtag); // the 412 was injected; the content (and so the ETag) did not change
    expect(entriesAt(reg, 'org/app')).toHaveLength(2);
  });

  it('writes again when the verification read does not show the entry (a lost update)', async () => {
    let clobbered = 0;
    reg.intercept = (req) => {
      // Right after our PUT, another writer puts back an index without our entry (twice).
      if (req.method === 'PUT' && req.path.endsWith(`/manifests/${TAG}`) && clobbered < 2) {
        clobbered++;
        setImmediate(() => reg.manifests.set(`org/app:${TAG}`, { bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] })), mediaType: MEDIA_TYPES.ociIndex }));
      }
      return false;
    };
    expect(await clientFor().pushReferrer(repoOn(reg, 'org/app'), referrer(4))).toBe('written');
    expect(clobbered).toBe(2);
    expect(entriesAt(reg, 'org/app')).toHaveLength(1);
  });

  it('gives up with a temporary error when the entry never sticks', async () => {
    reg.intercept = (req) => {
      if (req.method === 'PUT' && req.path.endsWith(`/manifests/${TAG}`)) {
        setImmediate(() => reg.manifests.delete(`org/app:${TAG}`));
      }
      return false;
    };
    const err = await clientFor().pushReferrer(repoOn(reg, 'org/app'), referrer(5)).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('OCI_TAG_UPDATE_CONFLICT');
    expect(isTemporary(err)).toBe(true);
  });

  it('serializes concurrent writers in one process: 12 concurrent pushes keep 12 entries', async () => {
    const client = clientFor();
    await Promise.all(Array.from({ length: 12 }, (_, i) => client.pushReferrer(repoOn(reg, 'org/app'), referrer(100 + i))));
    expect(entriesAt(reg, 'org/app')).toHaveLength(12);
  });
});

describe('cosign .att', () => {
  const add = (n: number, maxLayers = 1000) => ({
    layerDigest: sha(`env ${n}`),
    maxLayers,
    build: (existing: unknown[]) => {
      const layers = [...existing, { mediaType: 'application/vnd.dsse.envelope.v1+json', digest: sha(`env ${n}`), size: 5 }];
      const config = Buffer.from(JSON.stringify({ rootfs: { diff_ids: layers.map((l) => (l as { digest: string }).digest) } }));
      const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { digest: sha(config) }, layers }));
      return { manifest: { bytes, mediaType: MEDIA_TYPES.ociManifest }, config: { bytes: config, digest: sha(config) } };
    },
  });

  it('appends once, uploads the new config first, and stops at the layer cap', async () => {
    const client = clientFor();
    const repo = repoOn(reg, 'org/app');
    expect(await client.appendAttLayer(repo, SUBJECT, add(1))).toBe('written');
    expect(await client.appendAttLayer(repo, SUBJECT, add(1))).toBe('already-present');
    expect(await client.appendAttLayer(repo, SUBJECT, add(2))).toBe('written');
    const att = JSON.parse(reg.manifests.get(`org/app:${TAG}.att`)!.bytes.toString());
    expect(att.layers.map((l: { digest: string }) => l.digest)).toEqual([sha('env 1'), sha('env 2')]);
    expect(reg.blobs.has(`org/app@${att.config.digest}`)).toBe(true);
    expect(await client.appendAttLayer(repo, SUBJECT, add(3, 2))).toBe('skipped:layer-limit');
  });

  it('leaves an index at the .att tag alone', async () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] }));
    reg.manifests.set(`org/app:${TAG}.att`, { bytes: index, mediaType: MEDIA_TYPES.ociIndex });
    expect(await clientFor().appendAttLayer(repoOn(reg, 'org/app'), SUBJECT, add(1))).toBe('skipped:not-an-image-manifest');
  });
});

describe('headSubject', () => {
  it('reports 404 as unreadable, not as an error', async () => {
    expect(await clientFor().headSubject(repoOn(reg, 'org/app'), SUBJECT)).toEqual({ unreadable: 404 });
  });

  it('takes media type and size from the registry', async () => {
    const bytes = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
    reg.manifests.set(`org/app:${sha(bytes)}`, { bytes, mediaType: MEDIA_TYPES.ociManifest });
    expect(await clientFor().headSubject(repoOn(reg, 'org/app'), sha(bytes))).toEqual({ found: { mediaType: MEDIA_TYPES.ociManifest, digest: sha(bytes), size: bytes.length } });
  });
});
