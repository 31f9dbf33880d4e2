/**
 * Reads the in-toto statement inside a DSSE envelope: only what the plugin
 * uses to label and attach the artifact. Anything unreadable yields
 * `undefined` (the envelope is still stored; it just gets no labels).
 */

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

export function readStatement(envelope: Uint8Array): Statement | undefined {
  if (envelope.byteLength > STATEMENT_PARSE_LIMIT) return undefined;
  const env = parseObject(Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength).toString('utf8'));
  if (!env || env.payloadType !== IN_TOTO_PAYLOAD_TYPE || typeof env.payload !== 'string') return undefined;
  const statement = parseObject(Buffer.from(env.payload, 'base64').toString('utf8'));
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
