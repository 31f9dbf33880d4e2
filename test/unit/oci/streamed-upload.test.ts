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
