/**
 * DSSE-shaped attestation envelopes for the benchmark:
 *   {"payloadType":"application/vnd.in-toto+json","payload":"<base64>","signatures":[{"keyid":"","sig":"<hex>"}]}
 * Large ones are written straight into one preallocated Buffer, chunk by
 * chunk, so building a 256 MiB envelope never holds a second copy (or a
 * 256 MiB string) on the benchmark side.
 */
import { randomBytes } from 'node:crypto';

const HEAD = '{"payloadType":"application/vnd.in-toto+json","payload":"';
const MID = '","signatures":[{"keyid":"","sig":"';
const TAIL = '"}]}';
/** Hex characters in the signature; also the room `makeDistinct` rewrites. */
const SIG_HEX = 128;
const FIXED = HEAD.length + MID.length + SIG_HEX + TAIL.length;
/** Raw bytes per chunk: a multiple of 3 so chunk encodings concatenate into one valid base64 text. */
const CHUNK_RAW = 3 * 256 * 1024;

/** One envelope of exactly `size` bytes (size ≥ 256). */
export function makeEnvelope(size: number): Buffer {
  if (size < FIXED + 8) throw new Error(`envelope size ${size} is too small`);
  // The payload length must be a multiple of 4 for valid base64: the
  // remainder (0-3 bytes) goes into the keyid.
  const room = size - FIXED;
  const payloadLen = room - (room % 4);
  const keyidPad = room - payloadLen;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  at += out.write(HEAD, at, 'latin1');
  let rawLeft = (payloadLen / 4) * 3;
  while (rawLeft > 0) {
    const n = Math.min(CHUNK_RAW, rawLeft);
    at += out.write(randomBytes(n).toString('base64'), at, 'latin1');
    rawLeft -= n;
  }
  // keyid padding goes into MID: `"keyid":"k…"`.
  const mid = MID.replace('"keyid":""', `"keyid":"${'k'.repeat(keyidPad)}"`);
  at += out.write(mid, at, 'latin1');
  at += out.write(randomBytes(SIG_HEX / 2).toString('hex'), at, 'latin1');
  at += out.write(TAIL, at, 'latin1');
  if (at !== size) throw new Error(`envelope builder wrote ${at} bytes, wanted ${size}`);
  return out;
}

/**
 * Rewrites the signature in place with fresh random hex so the same buffer
 * becomes a different attestation (a new digest, so a new repository),
 * without allocating another large envelope.
 */
export function makeDistinct(envelope: Buffer): void {
  const start = envelope.length - TAIL.length - SIG_HEX;
  envelope.write(randomBytes(SIG_HEX / 2).toString('hex'), start, 'latin1');
}

/** `count` distinct envelopes of `size` bytes. */
export function makeEnvelopes(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, () => makeEnvelope(size));
}
