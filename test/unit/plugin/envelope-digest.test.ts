import { createHash, randomBytes } from 'node:crypto';
import { ExecuteRequest } from '../../../src/gen/api/fanout';
import { observeEnvelopeDigest, OBSERVE_MIN_BYTES, takeEnvelopeDigest } from '../../../src/plugin/envelope-digest';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function request(envelope: Uint8Array): Buffer {
  const bytes = ExecuteRequest.encode(
    ExecuteRequest.fromPartial({
      registrationInfo: { configuration: Buffer.from('{"repository":"r"}'), credentials: { username: 'u', password: 'p', url: '' } },
      attachmentInfo: { configuration: Buffer.from('{}') },
      envelope,
      materials: [{ name: 'm', content: randomBytes(40), uploadedToCas: true }],
      metadata: { workflow: { id: 'w', name: 'n', team: 't', project: 'p' } },
    }),
  ).finish();
  return Buffer.from(bytes);
}

/** Feeds `payload` to a fresh observer in chunks of `size`, as the message assembler would. */
function observe(payload: Buffer, size: number): void {
  const observer = observeEnvelopeDigest(payload);
  if (!observer) throw new Error('not observed');
  for (let at = 0; at < payload.length; at += size) observer.chunk(payload.subarray(at, at + size));
  observer.done(payload);
}

describe('the envelope digest computed on arrival', () => {
  const envelope = randomBytes(OBSERVE_MIN_BYTES + 12_345);

  it.each([1, 7, 8192, 16_384 + 3, 4 * 1024 * 1024])('is the sha256 of the decoded envelope, read in chunks of %i bytes', (size) => {
    const payload = request(envelope);
    observe(payload, size);
    const decoded = ExecuteRequest.decode(payload);
    expect(takeEnvelopeDigest(decoded.envelope)).toBe(sha256(envelope));
  });

  it('follows the decoder when the envelope field appears twice (the last one wins)', () => {
    const second = randomBytes(OBSERVE_MIN_BYTES);
    const payload = Buffer.concat([request(envelope), request(second)]);
    observe(payload, 65_536);
    const decoded = ExecuteRequest.decode(payload);
    expect(Buffer.from(decoded.envelope).equals(second)).toBe(true);
    expect(takeEnvelopeDigest(decoded.envelope)).toBe(sha256(second));
  });

  it('belongs to exactly the bytes it covers: a copy, or another view, has none', () => {
    const payload = request(envelope);
    observe(payload, 65_536);
    const decoded = ExecuteRequest.decode(payload);
    expect(takeEnvelopeDigest(Buffer.from(decoded.envelope))).toBeUndefined();
    expect(takeEnvelopeDigest(decoded.envelope.subarray(1))).toBeUndefined();
    expect(takeEnvelopeDigest(payload)).toBeUndefined();
  });

  it('leaves no digest for a message it could not follow to its end', () => {
    const payload = request(envelope);
    const cut = payload.subarray(0, payload.length - 10);
    const observer = observeEnvelopeDigest(cut)!;
    observer.chunk(cut);
    observer.done(cut);
    expect(takeEnvelopeDigest(ExecuteRequest.decode(payload).envelope)).toBeUndefined();

    // A group (wire type 3) is not in this API: the observer gives up rather than guess.
    const grouped = Buffer.concat([Buffer.from([0x0b]), payload]);
    const g = observeEnvelopeDigest(grouped)!;
    g.chunk(grouped);
    g.done(grouped);
    const at = grouped.indexOf(envelope.subarray(0, 64));
    expect(at).toBeGreaterThan(0);
    expect(takeEnvelopeDigest(grouped.subarray(at, at + envelope.length))).toBeUndefined();
  });

  it('forgets a reused buffer\'s digest as soon as the next message starts filling it', () => {
    // The same bytes layout, another envelope: only the forgetting stops the old digest matching.
    const payload = request(envelope);
    observe(payload, 65_536);
    const next = request(randomBytes(envelope.length));
    const observer = observeEnvelopeDigest(payload)!; // the buffer is handed to the next message
    next.copy(payload);
    observer.chunk(payload.subarray(0, 100)); // and this message is cut off: no digest of its own
    observer.done(payload);
    expect(takeEnvelopeDigest(ExecuteRequest.decode(payload).envelope)).toBeUndefined();
  });

  it('does not observe small requests (hashed after decoding instead)', () => {
    expect(observeEnvelopeDigest(Buffer.alloc(OBSERVE_MIN_BYTES - 1))).toBeUndefined();
  });
});

describe('the envelope sink fed while the request arrives', () => {
  const envelope = randomBytes(OBSERVE_MIN_BYTES + 777);

  function feed(payload: Buffer, size: number) {
    const events: string[] = [];
    const written: Buffer[] = [];
    let head: Buffer | undefined;
    let completed: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number } | undefined;
    const observer = observeEnvelopeDigest(payload, {
      start(h, length) {
        head = Buffer.from(h);
        events.push(`start ${length}`);
        return {
          write: (b) => written.push(b),
          end: () => events.push('end'),
          complete: (e) => {
            completed = e;
            events.push('complete');
          },
          abandon: () => events.push('abandon'),
        };
      },
    })!;
    for (let at = 0; at < payload.length; at += size) observer.chunk(payload.subarray(at, Math.min(payload.length, at + size)));
    observer.done(payload);
    return { events, written, head, completed };
  }

  it('gets the fields before the envelope, then its bytes in order, as views of the message', () => {
    const payload = request(envelope);
    const { events, written, head, completed } = feed(payload, 10_000);
    expect(events).toEqual([`start ${envelope.length}`, 'end', 'complete']);
    const opening = ExecuteRequest.decode(head!);
    expect(Buffer.from(opening.registrationInfo!.configuration).toString()).toBe('{"repository":"r"}');
    expect(opening.envelope.length).toBe(0);
    expect(Buffer.concat(written).equals(envelope)).toBe(true);
    expect(written.every((w) => w.buffer === payload.buffer)).toBe(true);
    const decoded = ExecuteRequest.decode(payload).envelope;
    expect(completed).toEqual({ buffer: decoded.buffer, byteOffset: decoded.byteOffset, byteLength: decoded.byteLength });
  });

  it('is abandoned when the rest of the message does not decode, or carries a second envelope', () => {
    // A field after the envelope that claims more bytes than the message holds.
    const overrun = Buffer.concat([request(envelope), Buffer.from([(5 << 3) | 2, 100]), randomBytes(10)]);
    expect(feed(overrun, 65_536).events).toEqual([`start ${envelope.length}`, 'end', 'abandon']);
    // A group (wire type 3), which this API never sends.
    const group = Buffer.concat([request(envelope), Buffer.from([(5 << 3) | 3])]);
    expect(feed(group, 65_536).events).toEqual([`start ${envelope.length}`, 'end', 'abandon']);
    const twice = Buffer.concat([request(envelope), request(randomBytes(10))]);
    expect(feed(twice, 65_536).events).toEqual([`start ${envelope.length}`, 'end', 'abandon']);
  });
});
