/**
 * Reads the in-toto statement inside a DSSE envelope: only what the plugin
 * uses to label and attach the artifact. Anything unreadable yields
 * `undefined` (the envelope is still stored; it just gets no labels).
 */
import { decodeBase64Text } from './base64-text';
import type { ParsedEnvelope } from './envelope';
import { isJsonSpace } from './json-outline';

export interface StatementSubject {
  name: string;
  digest: Record<string, string>;
  annotations: Record<string, unknown>;
}

export interface Statement {
  predicateType?: string;
  subjects: StatementSubject[];
  /** `predicate.metadata`, plus `predicate` itself for runner fields that live there. */
  metadata: Record<string, unknown>;
  predicate: Record<string, unknown>;
}

const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** Larger envelopes (SBOM-heavy) are not decoded: labels are optional, memory is not. */
const STATEMENT_PARSE_LIMIT = 8 * 1024 * 1024;

/**
 * `parsed`: the envelope's DSSE fields from parseEnvelope, when the caller
 * has them. Without them the two fields are read in place, rather than the
 * whole envelope parsed again (memory: the payload is most of it).
 */
export function readStatement(envelope: Uint8Array, parsed?: ParsedEnvelope): Statement | undefined {
  if (envelope.byteLength > STATEMENT_PARSE_LIMIT) return undefined;
  const buf = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  const fields = parsed ?? { payloadType: stringField(buf, 'payloadType')?.toString('latin1'), payload: stringField(buf, 'payload') };
  if (fields.payloadType !== IN_TOTO_PAYLOAD_TYPE) return undefined;
  const payload = fields.payload;
  if (payload === undefined) return undefined;
  // A payload that does not start like a JSON object is not decoded further.
  const decoded = decodeBase64Text(payload, startsLikeObject);
  if (decoded === undefined || !startsLikeObject(decoded)) return undefined;
  const statement = parseObject(decoded.toString('utf8'));
  if (!statement) return undefined;
  // Both the JSON (`predicateType`) and protobuf (`predicate_type`) spellings occur in Chainloop's data.
  const predicateType = statement.predicateType ?? statement.predicate_type;
  const predicate = isObject(statement.predicate) ? statement.predicate : {};
  return {
    ...(typeof predicateType === 'string' && predicateType !== '' ? { predicateType } : {}),
    subjects: Array.isArray(statement.subject) ? statement.subject.flatMap(toSubject) : [],
    metadata: isObject(predicate.metadata) ? predicate.metadata : {},
    predicate,
  };
}

/** The first byte that is not JSON space is `{`, or all of `decoded` is space so far. */
function startsLikeObject(decoded: Buffer): boolean {
  const i = firstNonSpace(decoded);
  return i === decoded.length || decoded[i] === 0x7b /* { */;
}

/**
 * The bytes of a top-level `"key": "<string>"` of a DSSE envelope (a view). Inside JSON
 * strings a quote is always escaped, so `"key"` followed by `:` only occurs as
 * a key; DSSE has no nested object with these keys. Returns undefined when
 * the value is not a plain string (escapes are not expected in base64 or a
 * media type, and are refused).
 */
function stringField(buf: Buffer, key: string): Buffer | undefined {
  const needle = `"${key}"`;
  let at = buf.indexOf(needle);
  while (at !== -1) {
    let i = at + needle.length;
    while (isJsonSpace(buf[i])) i++;
    if (buf[i] === 0x3a /* : */) {
      i++;
      while (isJsonSpace(buf[i])) i++;
      if (buf[i] !== 0x22 /* " */) return undefined;
      const end = buf.indexOf(0x22, i + 1);
      if (end === -1) return undefined;
      const value = buf.subarray(i + 1, end);
      return value.includes(0x5c /* \\ */) ? undefined : value;
    }
    at = buf.indexOf(needle, at + 1);
  }
  return undefined;
}


function firstNonSpace(buf: Buffer): number {
  let i = 0;
  while (i < buf.length && isJsonSpace(buf[i])) i++;
  return i;
}

function toSubject(value: unknown): StatementSubject[] {
  if (!isObject(value) || typeof value.name !== 'string' || !isObject(value.digest)) return [];
  const digest: Record<string, string> = {};
  for (const [k, v] of Object.entries(value.digest)) if (typeof v === 'string') digest[k] = v;
  return [{ name: value.name, digest, annotations: isObject(value.annotations) ? value.annotations : {} }];
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
