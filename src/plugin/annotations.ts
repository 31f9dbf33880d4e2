/**
 * Workflow annotations for the main artifact, from the statement's
 * `predicate.metadata`. A pure function of the envelope (no clock), so a
 * re-delivered Execute writes identical manifest bytes.
 */
import type { Statement } from './statement';

/** Each value is capped: every annotation is also copied into each fallback-index entry. */
export const ANNOTATION_VALUE_LIMIT = 256;
export const PREDICATE_TYPE_ANNOTATION = 'in-toto.io/predicate-type';
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';

/** annotation key → where Chainloop's v0.2 predicate keeps the value (metadata first, then predicate). */
const WORKFLOW_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['dev.chainloop.workflow.name', 'name'],
  ['dev.chainloop.workflow.project', 'project'],
  ['dev.chainloop.workflow.team', 'team'],
  ['dev.chainloop.organization', 'organization'],
  ['dev.chainloop.workflow.id', 'workflowID'],
  ['dev.chainloop.workflow-run.id', 'workflowRunID'],
  ['dev.chainloop.runner.type', 'runnerType'],
  ['dev.chainloop.runner.url', 'runnerURL'],
];

/** Chainloop's placeholder when the runner is unknown: it says nothing, so it is left out. */
const UNSPECIFIED_RUNNER = 'RUNNER_TYPE_UNSPECIFIED';

export function workflowAnnotations(statement: Statement | undefined): Record<string, string> {
  if (!statement) return {};
  const out: Record<string, string> = {};
  if (statement.predicateType) put(out, PREDICATE_TYPE_ANNOTATION, statement.predicateType);
  const created = normalizeCreated(statement.metadata.finishedAt);
  if (created) out[CREATED_ANNOTATION] = created;
  for (const [key, field] of WORKFLOW_FIELDS) {
    const value = statement.metadata[field] ?? statement.predicate[field];
    if (typeof value !== 'string' || value === UNSPECIFIED_RUNNER) continue;
    put(out, key, value);
  }
  return out;
}

/** RFC 3339 in UTC with whole seconds, or undefined when the time is not parseable. */
export function normalizeCreated(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) return undefined;
  const ms = Date.parse(value.replace(/(\.\d{3})\d+/, '$1'));
  if (!Number.isFinite(ms)) return undefined;
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Control characters are dropped and the value capped; empty results are left out. */
export function cleanValue(value: string): string {
  // eslint-disable-next-line no-control-regex
  const stripped = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '').trim();
  return Array.from(stripped).slice(0, ANNOTATION_VALUE_LIMIT).join('');
}

function put(out: Record<string, string>, key: string, value: string): void {
  const clean = cleanValue(value);
  if (clean !== '') out[key] = clean;
}
