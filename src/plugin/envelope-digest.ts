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
  /** The next bytes, as views of the message buffer itself (stable until the handler hands it back). */
  chunk(bytes: Buffer): void;
  /** `payload` is the whole protobuf message, as the decoder will see it. */
  done(payload: Buffer): void;
}

/**
 * Something else that wants the envelope's bytes as they arrive (the layer's
 * streamed upload, layer-prestage.ts). Asked when the envelope field starts,
 * with the message bytes before it (the fields the host sends first).
 */
export interface EnvelopeSinkFactory {
  start(head: Buffer, envelopeLength: number): EnvelopeSink | undefined;
}

export interface EnvelopeSink {
  write(bytes: Buffer): void;
  end(): void;
  /** The message arrived whole: `envelope` is the view the decoder will hand the handler. */
  complete(envelope: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): void;
  /** The message was not what the sink was started for: stop. */
  abandon(): void;
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
  /** Where the field being read began (its tag), in the message. */
  private fieldStart = 0;
  private sink: EnvelopeSink | undefined;
  private sinkStarted = false;

  constructor(
    private readonly payload: Buffer,
    private readonly sinks?: EnvelopeSinkFactory,
  ) {}

  chunk(bytes: Buffer): void {
    let i = 0;
    while (i < bytes.length && this.state !== 'failed') {
      if (this.state === 'envelope' || this.state === 'skip') {
        const n = Math.min(this.remaining, bytes.length - i);
        if (this.state === 'envelope') {
          this.hash!.update(bytes.subarray(i, i + n));
          this.sink?.write(bytes.subarray(i, i + n));
        }
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.endValue();
        continue;
      }
      if (this.state === 'tag' && this.shift === 0) this.fieldStart = this.position + i;
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
    if (this.state === 'failed') this.dropSink();
  }

  done(payload: Buffer): void {
    if (this.state !== 'tag' || this.shift !== 0 || !this.last || this.position !== payload.length) return this.dropSink();
    // A message this large has its buffer to itself (Buffer.allocUnsafe or the
    // assembler's pool), so the digest replaces whatever was known of it.
    const span = { ...this.last, offset: payload.byteOffset + this.last.offset };
    digests.set(payload.buffer, span);
    this.sink?.complete({ buffer: payload.buffer, byteOffset: span.offset, byteLength: span.length });
    this.sink = undefined;
  }

  private dropSink(): void {
    this.sink?.abandon();
    this.sink = undefined;
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
    // Repeated occurrences: the decoder keeps the last one, and so does this;
    // a sink streams only a first one.
    if (this.sinkStarted) this.dropSink();
    else if (this.sinks) {
      this.sinkStarted = true;
      this.sink = this.sinks.start(this.payload.subarray(0, this.fieldStart), length);
    }
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
      this.sink?.end();
    }
    this.state = 'tag';
  }
}

/**
 * For the message assembler: an observer for each request large enough to be
 * worth it. The buffer may be a reused one: a digest kept for its last message
 * is dropped first, so it can never be taken for this one's bytes.
 */
export function observeEnvelopeDigest(payload: Buffer, sinks?: EnvelopeSinkFactory): MessageObserver | undefined {
  digests.delete(payload.buffer);
  return payload.length >= OBSERVE_MIN_BYTES ? new EnvelopeDigestObserver(payload, sinks) : undefined;
}
