/**
 * RegistryClient against a real CNCF distribution (Debian docker-registry
 * 2.8): anonymous, Basic and token modes, with read-back through the client
 * and through skopeo. Skipped only when the binaries are absent.
 */
import { execFileSync } from 'node:child_process';
import { Agent } from 'undici';
import {
  AuthenticationError,
  MEDIA_TYPES,
  PermissionError,
  RegistryClient,
  parseRepository,
  sha256Digest,
  type Repository,
} from '../../src/oci';
import { distributionAvailable, startDistribution, type Distribution } from '../helpers/distribution';
import { inspectRaw } from '../helpers/skopeo';

const haveSkopeo = (() => {
  try {
    execFileSync('skopeo', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const suite = distributionAvailable() && haveSkopeo ? describe : describe.skip;

const agent = new Agent({ keepAliveTimeout: 1_000 });
afterAll(() => agent.destroy());

async function push(client: RegistryClient, repo: Repository, tag: string) {
  const config = Buffer.from('{}');
  const layer = Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: 'e30=', signatures: [] }));
  const [c, l] = await Promise.all([client.pushBlob(repo, config), client.pushBlob(repo, layer)]);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: c, size: config.length },
      layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: l, size: layer.length }],
    }),
  );
  const digest = await client.pushManifest(repo, tag, manifest, MEDIA_TYPES.ociManifest);
  return { manifest, digest, layer, layerDigest: l };
}

suite('RegistryClient against distribution', () => {
  describe('anonymous', () => {
    let reg: Distribution;
    beforeAll(async () => {
      reg = await startDistribution({ mode: 'anonymous' });
    });
    afterAll(() => reg?.stop());

    it('pushes blob + manifest, reads them back, and skopeo agrees', async () => {
      const client = new RegistryClient({ dispatcher: agent });
      const repo = parseRepository(`${reg.host}/chainloop/attestations`);
      await client.checkPushPermission(repo);
      const pushed = await push(client, repo, 'latest');
      expect(pushed.digest).toBe(sha256Digest(pushed.manifest));

      const m = await client.getManifest(repo, 'latest');
      expect(Buffer.from(m.bytes).equals(pushed.manifest)).toBe(true);
      expect(m.mediaType).toBe(MEDIA_TYPES.ociManifest);
      expect(m.digest).toBe(pushed.digest);
      expect(Buffer.from(await client.getBlob(repo, pushed.layerDigest)).equals(pushed.layer)).toBe(true);

      const inspected = await inspectRaw(`${reg.host}/chainloop/attestations:latest`);
      expect(inspected.digest).toBe(pushed.digest);

      // Pushing the same content again is idempotent.
      expect((await push(client, repo, 'latest')).digest).toBe(pushed.digest);
    });

    it('a large blob round-trips', async () => {
      const client = new RegistryClient({ dispatcher: agent });
      const repo = parseRepository(`${reg.host}/big/blob`);
      const data = Buffer.alloc(8 * 1024 * 1024, 7);
      const digest = await client.pushBlob(repo, data);
      expect(Buffer.from(await client.getBlob(repo, digest)).equals(data)).toBe(true);
    });
  });

  describe('basic', () => {
    let reg: Distribution;
    beforeAll(async () => {
      reg = await startDistribution({ mode: 'basic' });
    });
    afterAll(() => reg?.stop());

    it('warm client pushes to a new repository in 5 requests; bad password is AuthenticationError', async () => {
      const password = reg.users.pusher!.password;
      const client = new RegistryClient({ dispatcher: agent, credentials: { username: 'pusher', password } });
      await push(client, parseRepository(`${reg.host}/org/one`), 'v1');
      const before = client.requestCount;
      await push(client, parseRepository(`${reg.host}/org/two`), 'v1');
      expect(client.requestCount - before).toBe(5);

      const bad = new RegistryClient({ dispatcher: agent, credentials: { username: 'pusher', password: 'wrong' } });
      const err = await bad.checkPushPermission(parseRepository(`${reg.host}/org/one`)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthenticationError);
      expect(String((err as Error).message)).not.toContain(password);
    });
  });

  describe('token', () => {
    let reg: Distribution;
    beforeAll(async () => {
      reg = await startDistribution({ mode: 'token' });
    });
    afterAll(() => reg?.stop());

    it('warm client: one token fetch + 5 registry requests for a new repository', async () => {
      const creds = { username: 'pusher', password: reg.users.pusher!.password };
      const client = new RegistryClient({ dispatcher: agent, credentials: creds });
      await push(client, parseRepository(`${reg.host}/org/one`), 'v1');
      const before = client.requestCount;
      const pushed = await push(client, parseRepository(`${reg.host}/org/two`), 'v1');
      expect(client.requestCount - before).toBe(6);
      const inspected = await inspectRaw(`${reg.host}/org/two:v1`, { creds });
      expect(inspected.digest).toBe(pushed.digest);
    });

    it('a pull-only user is denied push', async () => {
      const client = new RegistryClient({
        dispatcher: agent,
        credentials: { username: 'reader', password: reg.users.reader!.password },
      });
      const err = await client.checkPushPermission(parseRepository(`${reg.host}/org/one`)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermissionError);
    });
  });
});
