/**
 * A PEER: @sigstore/oci's RegistryClient (what sigstore-js uses to attach
 * attestations to images) pushing the same three objects the plugin pushes,
 * the way its own attachArtifactToImage does: sign in (probe POST, token GET),
 * then each blob (HEAD, POST, PUT ?digest=) one after the other, then the
 * manifest PUT. Like the plugin and unlike the floor, it hashes the envelope
 * itself. Its repositories are named by a counter, so the bench never hashes
 * the envelope on its behalf.
 */
// Not re-exported by the package index; the module is what attachArtifactToImage uses.
import { RegistryClient } from '@sigstore/oci/dist/registry';
import { MANIFEST_MEDIA_TYPE } from './artifact';
import type { BenchRegistry } from './registry';

let pushes = 0;
/** Its declared type wants proxy settings too; loopback needs none. */
const PEER_FETCH_OPTIONS = { retry: { retries: 0 }, timeout: 600_000 } as unknown as ConstructorParameters<typeof RegistryClient>[2];

export class SigstorePeer {
  constructor(private readonly registry: BenchRegistry) {}

  async push(envelope: Buffer): Promise<void> {
    const r = this.registry;
    const repository = `bench/sigstore-${process.pid}-${++pushes}`;
    // No retries: a benchmark push that needed one measured something else.
    const client = new RegistryClient(r.reg.host, repository, PEER_FETCH_OPTIONS);
    // Anonymous registries answer the probe with 202 and no challenge, which signIn rejects.
    if (r.mode !== 'anonymous') await client.signIn({ username: r.username, password: r.password });
    const layer = await client.uploadBlob(envelope);
    const config = Buffer.from(
      JSON.stringify({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
    );
    const configDescriptor = await client.uploadBlob(config);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDescriptor.digest, size: config.length },
      layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: layer.digest, size: envelope.byteLength }],
    });
    await client.uploadManifest(manifest, { reference: 'latest', mediaType: MANIFEST_MEDIA_TYPE });
  }
}
