/**
 * The check every envelope passes before it is stored: well-formed UTF-8
 * JSON, an object, and whether it has DSSE's shape. The parse is done once
 * and its DSSE fields are kept, so reading the statement (statement.ts) does
 * not find and copy the payload a second time.
 */
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
  payload?: string;
}

export function parseEnvelope(envelope: Uint8Array): ParsedEnvelope {
  if (envelope.byteLength === 0) throw new EnvelopeError('the envelope is empty');
  const buf = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  if (envelope.byteLength > FULL_PARSE_LIMIT) return { mediaType: sniffLargeEnvelope(buf) };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf));
  } catch {
    throw new EnvelopeError('the envelope is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EnvelopeError('the envelope must be a JSON object');
  }
  const { payloadType, payload, signatures } = value as Record<string, unknown>;
  if (typeof payloadType === 'string' && typeof payload === 'string' && Array.isArray(signatures)) {
    return { mediaType: DSSE_MEDIA_TYPE, payloadType, payload };
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
  while (i >= 0 && i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i += step;
  return i;
}
