/**
 * The check every envelope passes before it is stored: well-formed UTF-8
 * JSON, an object, and whether it has DSSE's shape. The bytes are walked
 * once (json-outline.ts) and DSSE's fields kept, so reading the statement
 * (statement.ts) does not find and copy the payload a second time.
 */
import { isJsonSpace, outlineJson, stringValue } from './json-outline';

export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const JSON_MEDIA_TYPE = 'application/json';

/** Envelopes up to this size are parsed in full; larger ones are sniffed, so
 * a 256 MiB SBOM envelope does not cost two more copies of itself in memory. */
export const FULL_PARSE_LIMIT = 8 * 1024 * 1024;

/** The envelope is not something we can store as an attestation. */
export class EnvelopeError extends Error {
  readonly code = 'ENVELOPE_INVALID';
}

export interface ParsedEnvelope {
  mediaType: string;
  /** DSSE's fields, when the envelope was parsed in full and has them as strings. */
  payloadType?: string;
  /**
   * The payload's base64 text as bytes: a view of the envelope when the JSON
   * string has no escapes (the usual case), else its unescaped copy. Never a
   * string: see base64-text.ts for what a string of it costs.
   */
  payload?: Buffer;
}

export function parseEnvelope(envelope: Uint8Array): ParsedEnvelope {
  if (envelope.byteLength === 0) throw new EnvelopeError('the envelope is empty');
  const buf = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  if (envelope.byteLength > FULL_PARSE_LIMIT) return { mediaType: sniffLargeEnvelope(buf) };
  const outline = outlineJson(buf);
  if (!outline.valid) throw new EnvelopeError('the envelope is not valid JSON');
  if (!outline.object) throw new EnvelopeError('the envelope must be a JSON object');
  const [payloadType, payload, signatures] = ['payloadType', 'payload', 'signatures'].map((key) => outline.members.get(key));
  if (payloadType?.kind === 'string' && payload?.kind === 'string' && signatures?.kind === 'array') {
    const text = payload.escaped ? Buffer.from(stringValue(buf, payload), 'utf8') : buf.subarray(payload.start + 1, payload.end - 1);
    return { mediaType: DSSE_MEDIA_TYPE, payloadType: stringValue(buf, payloadType), payload: text };
  }
  return { mediaType: JSON_MEDIA_TYPE };
}

/** DSSE envelope media type when the JSON has DSSE's shape, plain JSON otherwise. */
export function classifyEnvelope(envelope: Uint8Array): string {
  return parseEnvelope(envelope).mediaType;
}

/** Checks a large envelope's outline without decoding it (a view, no copy). */
function sniffLargeEnvelope(buf: Buffer): string {
  const first = firstNonSpace(buf, 0, 1);
  const last = firstNonSpace(buf, buf.length - 1, -1);
  if (buf[first] !== 0x7b /* { */ || buf[last] !== 0x7d /* } */) {
    throw new EnvelopeError('the envelope must be a JSON object');
  }
  const has = (key: string) => buf.indexOf(`"${key}"`) !== -1;
  return has('payloadType') && has('payload') && has('signatures') ? DSSE_MEDIA_TYPE : JSON_MEDIA_TYPE;
}

function firstNonSpace(buf: Buffer, from: number, step: 1 | -1): number {
  let i = from;
  while (i >= 0 && i < buf.length && isJsonSpace(buf[i])) i += step;
  return i;
}
