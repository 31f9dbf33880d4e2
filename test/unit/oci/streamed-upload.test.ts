import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { sha256Digest } from '../../../src/oci/digest';
import { STREAM_PIECE_BYTES } from '../../../src/oci/streamed-upload';
import { FakeRegistry } from './fake-registry';
import { clientFor, closeAgents, repoOn } from './client-helpers';

let reg: FakeRegistry;
afterEach(async () => {
  jest.restoreAllMocks();
  await reg?.stop();
});
afterAll(closeAgents);

/** Lengths of what is pushed into the PATCH body from `sources` (other streams are not counted). */
function piecesPushedFrom(sources: Uint8Array[]): number[] {
  const pieces: number[] = [];
  const push = Readable.prototype.push;
  jest.spyOn(Readable.prototype, 'push').mockImplementation(function (this: Readable, chunk: unknown, encoding?: BufferEncoding) {
    if (chunk instanceof Uint8Array && sources.some((s) => s.buffer === chunk.buffer)) pieces.push(chunk.byteLength);
    return push.call(this, chunk, encoding);
  });
  return pieces;
}

const FRAME = 16 * 1024;

describe('StreamedUpload', () => {
  it('hands adjacent views to the PATCH in pieces of STREAM_PIECE_BYTES, the rest at the end, and stores the bytes unchanged', async () => {
    reg = await new FakeRegistry().start();
    const data = randomBytes(3 * STREAM_PIECE_BYTES + 100);
    const pieces = piecesPushedFrom([data]);
    const upload = clientFor().startStreamedUpload(repoOn(reg, 'staging'), data.length);
    for (let at = 0; at < data.length; at += FRAME) upload.write(data.subarray(at, Math.min(data.length, at + FRAME)));
    upload.end();
    const digest = sha256Digest(data);
    expect(await upload.finish(repoOn(reg, 'staging'), digest, data)).toBe('streamed');
    expect(pieces).toEqual([STREAM_PIECE_BYTES, STREAM_PIECE_BYTES, STREAM_PIECE_BYTES, 100]);
    expect(reg.blobs.get(`staging@${digest}`)?.equals(data)).toBe(true);
  });

  it('keeps views of different buffers apart, in order', async () => {
    reg = await new FakeRegistry().start();
    const a = randomBytes(5000);
    const b = randomBytes(7000);
    const pieces = piecesPushedFrom([a, b]);
    const upload = clientFor().startStreamedUpload(repoOn(reg, 'staging'), a.length + b.length);
    upload.write(a.subarray(0, 2000));
    upload.write(a.subarray(2000));
    upload.write(b);
    upload.end();
    const whole = Buffer.concat([a, b]);
    const digest = sha256Digest(whole);
    expect(await upload.finish(repoOn(reg, 'staging'), digest, whole)).toBe('streamed');
    expect(pieces).toEqual([5000, 7000]);
    expect(reg.blobs.get(`staging@${digest}`)?.equals(whole)).toBe(true);
  });

  it('does not merge views of one buffer that are not adjacent', async () => {
    reg = await new FakeRegistry().start();
    const data = randomBytes(3000);
    const pieces = piecesPushedFrom([data]);
    const upload = clientFor().startStreamedUpload(repoOn(reg, 'staging'), 2000);
    upload.write(data.subarray(0, 1000));
    upload.write(data.subarray(2000, 3000));
    upload.end();
    const sent = Buffer.concat([data.subarray(0, 1000), data.subarray(2000, 3000)]);
    const digest = sha256Digest(sent);
    expect(await upload.finish(repoOn(reg, 'staging'), digest, sent)).toBe('streamed');
    expect(pieces).toEqual([1000, 1000]);
    expect(reg.blobs.get(`staging@${digest}`)?.equals(sent)).toBe(true);
  });
});

describe('StreamedUpload.finish into another repository', () => {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const isHeadOf = (target: string) => (r: { method: string; path: string }) => r.method === 'HEAD' && r.path.startsWith(`/v2/${target}/blobs/`);
  const isCommit = (r: { method: string; path: string }) => r.method === 'PUT' && r.path.startsWith('/v2/staging/blobs/uploads/');
  const credentials = { username: 'user', password: 'pass' };

  /** Streams `data` into `staging` and finishes into `target`; the PATCH is answered only once `release()` says so (bounded). */
  async function streamAndFinish(data: Buffer, release: () => boolean): Promise<string> {
    reg.intercept = async (rec) => {
      if (rec.method !== 'PATCH') return false;
      for (let waited = 0; waited < 2000 && !release(); waited += 10) await sleep(10);
      return false; // then answered as usual
    };
    const upload = clientFor({ credentials }).startStreamedUpload(repoOn(reg, 'staging'), data.length);
    upload.write(data);
    upload.end();
    // As in Execute, the digest is known once the PATCH is under way (and the registry's auth scheme learnt).
    for (let waited = 0; waited < 2000 && !reg.requests.some((r) => r.method === 'PATCH'); waited += 5) await sleep(5);
    return upload.finish(repoOn(reg, 'target'), sha256Digest(data), data);
  }

  it('asks the target and fetches the mount token while the PATCH drains; after the commit only the mount is left', async () => {
    reg = await new FakeRegistry({ auth: 'bearer' }).start();
    const data = randomBytes(50_000);
    const headSeen = (): boolean => reg.requests.some(isHeadOf('target'));
    const mountTokenSeen = (): boolean => reg.tokenRequests.some((r) => r.url.includes('target') && r.url.includes('staging'));
    expect(await streamAndFinish(data, () => headSeen() && mountTokenSeen())).toBe('mounted');

    const v2 = reg.registryRequests().map((r) => `${r.method} ${r.path.replace(/[0-9a-f-]{36}/, 'ID').replace(/sha256:[0-9a-f]{64}/, 'DIGEST')}`);
    const commit = reg.registryRequests().findIndex(isCommit);
    const head = reg.registryRequests().findIndex(isHeadOf('target'));
    expect(head).toBeGreaterThanOrEqual(0);
    expect(head).toBeLessThan(commit);
    // After the commit: the mount, answered with the token fetched ahead (no token request after the commit).
    expect(v2.slice(commit + 1).filter((l) => !l.includes(' 401'))).toEqual(['POST /v2/target/blobs/uploads/']);
    const commitAt = reg.requests.indexOf(reg.registryRequests()[commit]!);
    expect(reg.requests.slice(commitAt).filter((r) => r.path === '/token')).toEqual([]);
    expect(reg.blobs.get(`target@${sha256Digest(data)}`)?.equals(data)).toBe(true);
  });

  it('is present when the target already holds the blob (a re-delivery): no mount', async () => {
    reg = await new FakeRegistry({ auth: 'bearer' }).start();
    const data = randomBytes(20_000);
    reg.blobs.set(`target@${sha256Digest(data)}`, data);
    expect(await streamAndFinish(data, () => reg.requests.some(isHeadOf('target')))).toBe('present');
    expect(reg.registryRequests().findIndex(isHeadOf('target'))).toBeLessThan(reg.registryRequests().findIndex(isCommit));
    expect(reg.registryRequests().filter((r) => r.method === 'POST' && r.url.includes('mount='))).toEqual([]);
  });

  it('asks again after the commit when the early HEAD failed, then mounts', async () => {
    reg = await new FakeRegistry({ auth: 'bearer' }).start();
    const data = randomBytes(20_000);
    let failedHeads = 0;
    const upload = clientFor({ credentials }).startStreamedUpload(repoOn(reg, 'staging'), data.length);
    reg.intercept = async (rec, res) => {
      if (isHeadOf('target')(rec) && failedHeads === 0) {
        failedHeads++;
        res.writeHead(500);
        res.end();
        return true;
      }
      if (rec.method === 'PATCH') for (let waited = 0; waited < 2000 && failedHeads === 0; waited += 10) await sleep(10);
      return false;
    };
    upload.write(data);
    upload.end();
    expect(await upload.finish(repoOn(reg, 'target'), sha256Digest(data), data)).toBe('mounted');
    const commit = reg.registryRequests().findIndex(isCommit);
    expect(reg.registryRequests().slice(commit + 1).filter(isHeadOf('target')).length).toBeGreaterThanOrEqual(1);
  });
});
