import { randomBytes } from 'node:crypto';
import { StreamDecoder } from '@grpc/grpc-js/build/src/stream-decoder';
import { installIncrementalMessageAssembly, observeAssembledMessages } from '../../../src/goplugin/message-assembly';

const originalWrite = StreamDecoder.prototype.write;

function framed(payload: Buffer, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/** Cuts `wire` into chunks of random sizes in [1, maxChunk], like HTTP/2 DATA frames split across TLS records. */
function chunked(wire: Buffer, maxChunk: number, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let x = seed;
  for (let at = 0; at < wire.length; ) {
    x = (x * 1103515245 + 12345) >>> 0;
    const n = 1 + (x % maxChunk);
    out.push(wire.subarray(at, at + n));
    at += n;
  }
  return out;
}

function decodeAll(write: (this: StreamDecoder, data: Buffer) => Buffer[], chunks: Buffer[], max = -1): Buffer[] {
  const decoder = new StreamDecoder(max);
  return chunks.flatMap((c) => write.call(decoder, c));
}

describe('incremental assembly of received gRPC messages', () => {
  beforeAll(() => {
    expect(installIncrementalMessageAssembly()).toBe(true);
    expect(StreamDecoder.prototype.write).not.toBe(originalWrite);
  });

  it('installs once and says so again', () => {
    expect(installIncrementalMessageAssembly()).toBe(true);
  });

  it('yields exactly what grpc-js yields, for any split of the bytes', () => {
    const messages = [Buffer.alloc(0), randomBytes(1), randomBytes(4), randomBytes(300), randomBytes(70_000), Buffer.alloc(0), randomBytes(5)];
    const wire = Buffer.concat([...messages.map((m, i) => framed(m, i === 3))]);
    for (const [maxChunk, seed] of [[1, 1], [3, 2], [6, 3], [17, 4], [16_384, 5], [wire.length, 6]] as const) {
      const chunks = chunked(wire, maxChunk, seed);
      const expected = decodeAll(originalWrite, chunks);
      const got = decodeAll(StreamDecoder.prototype.write, chunks);
      expect(got.map((b) => b.toString('hex'))).toEqual(expected.map((b) => b.toString('hex')));
      expect(got).toHaveLength(messages.length);
    }
  });

  it('copies each chunk in as it arrives: a caller may reuse its chunk buffers', () => {
    const payload = randomBytes(10_000);
    const wire = framed(payload);
    const decoder = new StreamDecoder(-1);
    const scratch = Buffer.alloc(1000);
    const out: Buffer[] = [];
    for (let at = 0; at < wire.length; at += scratch.length) {
      const n = wire.copy(scratch, 0, at, Math.min(wire.length, at + scratch.length));
      out.push(...decoder.write(scratch.subarray(0, n)));
      scratch.fill(0xee); // the chunk's memory is reused for the next read
    }
    expect(out).toHaveLength(1);
    expect(out[0]!.subarray(5).equals(payload)).toBe(true);
  });

  it('rejects a message over the receive limit as grpc-js does, from its prefix alone', () => {
    const wire = framed(randomBytes(100));
    const write = (w: typeof originalWrite) => () => decodeAll(w, [wire.subarray(0, 5)], 99);
    expect(write(originalWrite)).toThrow('Received message larger than max (100 vs 99)');
    expect(write(StreamDecoder.prototype.write)).toThrow('Received message larger than max (100 vs 99)');
  });

  it('shows each uncompressed message to the observer as it arrives, then the finished payload', () => {
    const seen: Array<{ length: number; chunks: Buffer[]; done?: Buffer }> = [];
    const given: Buffer[] = [];
    observeAssembledMessages((payload) => {
      given.push(payload);
      const entry: (typeof seen)[number] = { length: payload.length, chunks: [] };
      seen.push(entry);
      return { chunk: (b) => entry.chunks.push(Buffer.from(b)), done: (p) => (entry.done = p) };
    });
    try {
      const a = randomBytes(50_000);
      const b = randomBytes(10);
      const wire = Buffer.concat([framed(a), framed(randomBytes(30), true), framed(b)]);
      const out = decodeAll(StreamDecoder.prototype.write, chunked(wire, 4000, 9));
      expect(out).toHaveLength(3);
      // The compressed one (flag 1) is not protobuf yet: not shown.
      expect(seen.map((e) => e.length)).toEqual([a.length, b.length]);
      expect(Buffer.concat(seen[0]!.chunks).equals(a)).toBe(true);
      expect(seen[0]!.chunks.length).toBeGreaterThan(1);
      // `done` gets the very bytes grpc-js will decode: the message after its prefix, same memory.
      expect(seen[0]!.done!.buffer).toBe(out[0]!.buffer);
      expect(seen[0]!.done!.byteOffset).toBe(out[0]!.byteOffset + 5);
      // The factory is shown the buffer the message will fill, before any of it arrives.
      expect(given[0]!.buffer).toBe(out[0]!.buffer);
      expect(given[0]!.byteOffset).toBe(out[0]!.byteOffset + 5);
      expect(seen[1]!.done!.equals(b)).toBe(true);
    } finally {
      observeAssembledMessages(undefined);
    }
  });
});
