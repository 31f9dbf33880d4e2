import { sha256Digest } from '../../../src/oci/digest';
import { MEDIA_TYPES } from '../../../src/oci/media-types';
import { FakeRegistry } from './fake-registry';
import { clientFor, closeAgents, pushArtifact, repoOn } from './client-helpers';

const creds = { username: 'user', password: 'pass' };
let reg: FakeRegistry;

afterEach(async () => {
  await reg.stop();
});
afterAll(closeAgents);

describe('request budget', () => {
  it('anonymous: 5 requests cold and warm, no Authorization', async () => {
    reg = await new FakeRegistry({ auth: 'none' }).start();
    const client = clientFor();
    await pushArtifact(client, repoOn(reg, 'org/one'));
    expect(client.requestCount).toBe(5);
    await pushArtifact(client, repoOn(reg, 'org/two'));
    expect(client.requestCount).toBe(10);
    expect(reg.requests.every((r) => r.authorization === undefined)).toBe(true);
    expect(reg.requests.map((r) => r.method)).toEqual(['POST', 'POST', 'PUT', 'PUT', 'PUT', 'POST', 'POST', 'PUT', 'PUT', 'PUT']);
  });

  it('basic: cold pays the 401s once, warm sends credentials up front (5 requests)', async () => {
    reg = await new FakeRegistry({ auth: 'basic' }).start();
    const client = clientFor({ credentials: creds });
    await pushArtifact(client, repoOn(reg, 'org/one'));
    expect(client.requestCount).toBe(7); // two concurrent POSTs each take one 401
    const before = reg.requests.length;
    await pushArtifact(client, repoOn(reg, 'org/two'));
    expect(client.requestCount - 7).toBeLessThanOrEqual(5);
    expect(client.requestCount).toBe(12);
    const warm = reg.requests.slice(before);
    expect(warm.every((r) => r.authorization === reg.basic())).toBe(true);
  });

  it('bearer: warm client fetches one token for a new repository without a 401 (6 requests)', async () => {
    reg = await new FakeRegistry({ auth: 'bearer' }).start();
    const client = clientFor({ credentials: creds });
    await pushArtifact(client, repoOn(reg, 'org/one'));
    expect(client.requestCount).toBe(8); // 2×401 + 1 shared token + 5
    expect(reg.tokenRequests).toHaveLength(1);

    const before = reg.requests.length;
    await pushArtifact(client, repoOn(reg, 'org/two'));
    const warm = reg.requests.slice(before);
    expect(warm).toHaveLength(6);
    expect(client.requestCount).toBe(14);
    expect(warm[0]!.path).toBe('/token');
    const tokenUrl = new URL(warm[0]!.url);
    expect(tokenUrl.searchParams.getAll('scope')).toEqual(['repository:org/two:pull,push']);
    expect(tokenUrl.searchParams.get('service')).toBe('fake');
    expect(warm[0]!.authorization).toBe(reg.basic());
    expect(warm.slice(1).every((r) => r.authorization?.startsWith('Bearer tok-'))).toBe(true);

    // Same repository again: token cached, just the 5 pushes.
    await pushArtifact(client, repoOn(reg, 'org/two'), 'v2');
    expect(client.requestCount).toBe(19);
    expect(reg.tokenRequests).toHaveLength(2);
  });

  it('bearer anonymous pulls fetch an anonymous token', async () => {
    reg = await new FakeRegistry({ auth: 'bearer' }).start();
    const writer = clientFor({ credentials: creds });
    const repo = repoOn(reg, 'pub/img');
    const digest = await pushArtifact(writer, repo);
    const reader = clientFor();
    const m = await reader.getManifest(repo, 'latest');
    expect(m.digest).toBe(digest);
    expect(m.mediaType).toBe(MEDIA_TYPES.ociManifest);
    const last = reg.tokenRequests.at(-1)!;
    expect(last.authorization).toBeUndefined();
    expect(new URL(last.url).searchParams.get('scope')).toBe('repository:pub/img:pull');
  });

  it('token expiry follows the injected clock', async () => {
    reg = await new FakeRegistry({ auth: 'bearer', tokenExpiresIn: 120 }).start();
    let now = 0;
    const client = clientFor({ credentials: creds, clock: () => now });
    const repo = repoOn(reg, 'org/exp');
    await client.pushBlob(repo, Buffer.from('a'));
    expect(reg.tokenRequests).toHaveLength(1);
    now += 100_000;
    await client.pushBlob(repo, Buffer.from('b'));
    expect(reg.tokenRequests).toHaveLength(1);
    now += 20_000;
    const before = client.requestCount;
    await client.pushBlob(repo, Buffer.from('c'));
    expect(reg.tokenRequests).toHaveLength(2);
    expect(client.requestCount - before).toBe(3); // token + POST + PUT, no 401
  });
});

describe('round trip', () => {
  it('pushes and reads back a manifest and blobs', async () => {
    reg = await new FakeRegistry({ auth: 'bearer' }).start();
    const client = clientFor({ credentials: creds });
    const repo = repoOn(reg, 'org/rt');
    const data = Buffer.from('hello blob');
    const digest = await client.pushBlob(repo, data);
    expect(digest).toBe(sha256Digest(data));
    expect(reg.blobs.get(`org/rt@${digest}`)?.toString()).toBe('hello blob');
    expect(Buffer.from(await client.getBlob(repo, digest)).toString()).toBe('hello blob');
    expect(await client.blobExists(repo, digest)).toBe(true);
    expect(await client.blobExists(repo, sha256Digest(Buffer.from('nope')))).toBe(false);
    const md = await pushArtifact(client, repo);
    const byDigest = await client.getManifest(repo, md);
    expect(byDigest.digest).toBe(md);
    // Blob upload used the documented content type and the upload session location.
    const put = reg.requests.find((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/'))!;
    expect(put.contentType).toBe('application/octet-stream');
    expect(new URL(put.url).searchParams.get('_state')).toMatch(/^SECRETSTATE/);
  });

  it('checkPushPermission opens and deletes an upload session', async () => {
    reg = await new FakeRegistry({ auth: 'basic' }).start();
    const client = clientFor({ credentials: creds });
    await client.checkPushPermission(repoOn(reg, 'org/probe'));
    expect(reg.requests.map((r) => r.method)).toEqual(['POST', 'POST', 'DELETE']);
    expect(reg.uploads.size).toBe(0);
  });
});
