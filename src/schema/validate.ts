import type { ErrorObject } from 'ajv';
import type { CompiledValidator } from '../gen/validators';
import { safeText } from '../util/safe-text';

/** A payload that is not valid JSON, or not what the schema accepts. */
export class SchemaValidationError extends Error {
  readonly code = 'SCHEMA_INVALID';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'SchemaValidationError';
  }
}

/** Parses a JSON payload and checks it against one schema; throws SchemaValidationError. */
export type PayloadValidator<T> = (payload: Uint8Array | string) => T;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Wraps a schema validator that `make generate` compiled ahead of time (so
 * startup neither loads Ajv nor generates code). The schema is the contract
 * users see (Describe serves it byte for byte), so messages name its properties.
 */
export function payloadValidator<T>(check: CompiledValidator): PayloadValidator<T> {
  return (payload) => {
    const value = parseJsonObject(payload);
    if (!check(value)) throw new SchemaValidationError(describeErrors(check.errors ?? []));
    return value as T;
  };
}

/** Decodes UTF-8 JSON that must be an object; anything else is a clear error. */
export function parseJsonObject(payload: Uint8Array | string): Record<string, unknown> {
  let text: string;
  try {
    text = typeof payload === 'string' ? payload : utf8.decode(payload);
  } catch {
    throw new SchemaValidationError(['the payload is not valid UTF-8 text']);
  }
  if (text.trim() === '') throw new SchemaValidationError(['the payload is empty: expected a JSON object']);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // JSON.parse messages quote the input; keep only the position, never the text.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new SchemaValidationError([`the payload is not valid JSON${at ? ` (at position ${at})` : ''}`]);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new SchemaValidationError([`the payload must be a JSON object, not ${kind}`]);
  }
  return value as Record<string, unknown>;
}

/** Property names come from the user's JSON: escaped and capped like any input. */
function quoteName(name: string): string {
  return `'${safeText(name, 64)}'`;
}

/** Extra properties named in one message; the rest are counted. */
const MAX_NAMED = 5;

/** Groups Ajv's errors into sentences: all missing properties at once, each extra one by name. */
function describeErrors(errors: ErrorObject[]): string[] {
  const missing: string[] = [];
  const extra: string[] = [];
  const other: string[] = [];
  for (const e of errors) {
    const where = e.instancePath ? quoteName(e.instancePath.slice(1).replace(/\//g, '.')) : 'the payload';
    switch (e.keyword) {
      case 'required':
        missing.push(quoteName((e.params as { missingProperty: string }).missingProperty));
        break;
      case 'additionalProperties':
        extra.push(quoteName((e.params as { additionalProperty: string }).additionalProperty));
        break;
      case 'minLength':
        other.push(
          (e.params as { limit: number }).limit === 1
            ? `${where} must not be empty`
            : `${where} must be at least ${(e.params as { limit: number }).limit} characters long`,
        );
        break;
      case 'type':
        other.push(`${where} must be a ${(e.params as { type: string }).type}`);
        break;
      default:
        other.push(`${where} ${e.message ?? 'is invalid'}`);
    }
  }
  const out: string[] = [];
  if (missing.length) out.push(`missing ${missing.length > 1 ? 'properties' : 'property'}: ${missing.join(', ')}`);
  if (extra.length) {
    const shown = extra.slice(0, MAX_NAMED).join(', ') + (extra.length > MAX_NAMED ? ` and ${extra.length - MAX_NAMED} more` : '');
    out.push(`${extra.length > 1 ? 'properties' : 'property'} ${shown} not allowed`);
  }
  return out.concat(other);
}
