import { sha256Digest } from '../../../src/oci/digest';
import { RegistryError, TagImmutableError } from '../../../src/oci/errors';
import { MEDIA_TYPES } from '../../../src/oci/media-types';
import { FakeRegistry, json } from './fake-registry';
import { clientFor, closeAgents, repoOn } from './client-helpers';

let reg: FakeRegistry;
beforeEach(async () => {
  reg = await new FakeRegistry().start();
  // Harbor's answer to a PUT onto an existing immutable tag.
  reg.intercept = (req, res) => {
    if (req.method !== 'PUT' || !req.path.endsWith('/manifests/latest') || !reg.manifests.has('m:latest')) return false;
    json(res, 412, { errors: [{ code: 'PRECONDITION', message: 'Failed to process request due to \'m:latest\' configured as immutable.' }] });
    return true;
  };
});
afterEach(async () => {
  await reg.stop();
});
afterAll(closeAgents);

const manifest = (n: number) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, n }));

describe('pushManifest onto an immutable tag', () => {
  it('a re-delivery of the same manifest is a success', async () => {
    const client = clientFor();
    const repo = repoOn(reg, 'm');
    const first = await client.pushManifest(repo, 'latest', manifest(1), MEDIA_TYPES.ociManifest);
    expect(await client.pushManifest(repo, 'latest', manifest(1), MEDIA_TYPES.ociManifest)).toBe(first);
    expect(reg.requests.map((r) => r.method)).toEqual(['PUT', 'PUT', 'GET']);
  });

  it('another manifest on the tag is a clear TagImmutableError naming both digests', async () => {
    const client = clientFor();
    const repo = repoOn(reg, 'm');
    await client.pushManifest(repo, 'latest', manifest(1), MEDIA_TYPES.ociManifest);
    const err = await client.pushManifest(repo, 'latest', manifest(2), MEDIA_TYPES.ociManifest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TagImmutableError);
    expect((err as Error).message).toContain(`holds ${sha256Digest(manifest(1))}, not ${sha256Digest(manifest(2))}`);
    expect((err as Error).message).toContain('configured as immutable');
  });

  it('a 412 on a tag that does not exist stays the registry error', async () => {
    reg.intercept = (req, res) => {
      if (req.method !== 'PUT') return false;
      json(res, 412, { errors: [{ code: 'PRECONDITION', message: 'policy says no' }] });
      return true;
    };
    const err = await clientFor().pushManifest(repoOn(reg, 'm'), 'latest', manifest(1), MEDIA_TYPES.ociManifest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(412);
  });
});
