/**
 * The envelope's sha256, computed while the request is still arriving. A
 * large Execute spends most of its time waiting for its bytes; hashing each
 * chunk as it lands takes the hash (≈45 ms per 64 MiB here) off the time
 * after the last byte. The observer reads the ExecuteRequest's top-level
 * protobuf fields as they stream by and hashes field 3 (envelope); the
 * digest is kept against the exact bytes it covers (the message buffer, the
 * offset and the length), so only the very view the decoder hands the
 * handler can pick it up, and anything unexpected (another message type
 * shaped differently, groups, a cut-off message) just leaves no digest:
 * buildAttestationArtifact then hashes as before. Hashed once either way.
 */
import { createHash, type Hash } from 'node:crypto';

/** Smaller requests are hashed after decoding: the hash is cheap, the bookkeeping is not free. */
export const OBSERVE_MIN_BYTES = 1024 * 1024;
const ENVELOPE_FIELD = 3;

/** What the message assembler calls for one message's protobuf bytes (after the gRPC prefix). */
export interface MessageObserver {
  chunk(bytes: Buffer): void;
  /** `payload` is the whole protobuf message, as the decoder will see it. */
  done(payload: Buffer): void;
}

interface Span {
  offset: number;
  length: number;
  hex: string;
}

const digests = new WeakMap<ArrayBufferLike, Span>();

/** The digest computed on arrival for exactly these bytes, if there is one. */
export function takeEnvelopeDigest(envelope: Uint8Array): string | undefined {
  const span = digests.get(envelope.buffer);
  return span && span.offset === envelope.byteOffset && span.length === envelope.byteLength ? span.hex : undefined;
}

type State = 'tag' | 'length' | 'varint' | 'skip' | 'envelope' | 'failed';

class EnvelopeDigestObserver implements MessageObserver {
  private state: State = 'tag';
  private varint = 0;
  private shift = 0;
  private field = 0;
  private remaining = 0;
  private position = 0;
  private hash: Hash | undefined;
  private current: { offset: number; length: number } | undefined;
  private last: { offset: number; length: number; hex: string } | undefined;

  chunk(bytes: Buffer): void {
    let i = 0;
    while (i < bytes.length && this.state !== 'failed') {
      if (this.state === 'envelope' || this.state === 'skip') {
        const n = Math.min(this.remaining, bytes.length - i);
        if (this.state === 'envelope') this.hash!.update(bytes.subarray(i, i + n));
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.endValue();
        continue;
      }
      const b = bytes[i++]!;
      this.varint += (b & 0x7f) * 2 ** this.shift;
      this.shift += 7;
      if (b & 0x80) {
        if (this.shift > 35) this.state = 'failed';
        continue;
      }
      const value = this.varint;
      this.varint = 0;
      this.shift = 0;
      if (this.state === 'tag') this.onTag(value);
      else if (this.state === 'length') this.onLength(value, this.position + i);
      else this.state = 'tag'; // a varint field's value, skipped
    }
    this.position += bytes.length;
  }

  done(payload: Buffer): void {
    if (this.state !== 'tag' || this.shift !== 0 || !this.last || this.position !== payload.length) return;
    // A message this large has its buffer to itself (Buffer.allocUnsafe or the
    // assembler's pool), so the digest replaces whatever was known of it.
    digests.set(payload.buffer, { ...this.last, offset: payload.byteOffset + this.last.offset });
  }

  private onTag(tag: number): void {
    this.field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === 0) this.state = 'varint';
    else if (wireType === 2) this.state = 'length';
    else if (wireType === 1 || wireType === 5) this.startSkip(wireType === 1 ? 8 : 4);
    else this.state = 'failed'; // groups: not in this API
  }

  private onLength(length: number, valueOffset: number): void {
    if (this.field !== ENVELOPE_FIELD) return this.startSkip(length);
    // Repeated occurrences: the decoder keeps the last one, and so does this.
    this.hash = createHash('sha256');
    this.current = { offset: valueOffset, length };
    this.state = 'envelope';
    this.remaining = length;
    if (length === 0) this.endValue();
  }

  private startSkip(length: number): void {
    this.state = 'skip';
    this.remaining = length;
    if (length === 0) this.state = 'tag';
  }

  private endValue(): void {
    if (this.state === 'envelope') {
      this.last = { ...this.current!, hex: this.hash!.digest('hex') };
      this.hash = undefined;
    }
    this.state = 'tag';
  }
}

/**
 * For the message assembler: an observer for each request large enough to be
 * worth it. The buffer may be a reused one: a digest kept for its last message
 * is dropped first, so it can never be taken for this one's bytes.
 */
export function observeEnvelopeDigest(payload: Buffer): MessageObserver | undefined {
  digests.delete(payload.buffer);
  return payload.length >= OBSERVE_MIN_BYTES ? new EnvelopeDigestObserver() : undefined;
}
