/** Shared setup for RegistryClient tests against FakeRegistry. */
import { Agent } from 'undici';
import { RegistryClient } from '../../../src/oci/client';
import { MEDIA_TYPES } from '../../../src/oci/media-types';
import { FAST_RETRY, type ClientOptions } from '../../../src/oci/options';
import type { Repository } from '../../../src/oci/reference';
import { parseRepository } from '../../../src/oci/reference';
import type { FakeRegistry } from './fake-registry';

export const agents: Agent[] = [];

export function newAgent(): Agent {
  const a = new Agent({ keepAliveTimeout: 1_000 });
  agents.push(a);
  return a;
}

export async function closeAgents(): Promise<void> {
  await Promise.all(agents.splice(0).map((a) => a.destroy()));
}

export function clientFor(options: ClientOptions = {}): RegistryClient {
  return new RegistryClient({ dispatcher: newAgent(), retry: FAST_RETRY, ...options });
}

export function repoOn(reg: FakeRegistry, path: string): Repository {
  return parseRepository(`${reg.host}/${path}`);
}

/** What the plugin does: two concurrent blob pushes, then the manifest. */
export async function pushArtifact(client: RegistryClient, repo: Repository, tag = 'latest'): Promise<string> {
  const config = Buffer.from('{"k":"config"}');
  const layer = Buffer.from(`{"payload":"${repo.path}"}`);
  const [c, l] = await Promise.all([client.pushBlob(repo, config), client.pushBlob(repo, layer)]);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: 'application/vnd.example.config+json', digest: c, size: config.length },
      layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: l, size: layer.length }],
    }),
  );
  return client.pushManifest(repo, tag, manifest, MEDIA_TYPES.ociManifest);
}
