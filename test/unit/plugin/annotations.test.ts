import { cleanValue, normalizeCreated, workflowAnnotations, ANNOTATION_VALUE_LIMIT } from '../../../src/plugin/annotations';
import type { Statement } from '../../../src/plugin/statement';

const statement = (metadata: Record<string, unknown>, predicate: Record<string, unknown> = {}): Statement => ({
  predicateType: 'chainloop.dev/attestation/v0.2',
  subjects: [],
  metadata,
  predicate,
});

describe('workflowAnnotations', () => {
  it('maps predicate.metadata to the dev.chainloop keys and leaves empty values out', () => {
    expect(
      workflowAnnotations(
        statement(
          { name: 'build', project: 'p', team: '', organization: 'o', workflowID: 'w', workflowRunID: 'r', finishedAt: '2024-01-02T03:04:05.999Z' },
          { runnerType: 'GITHUB_ACTION', runnerURL: 'https://github.com/o/r/actions/runs/1' },
        ),
      ),
    ).toEqual({
      'in-toto.io/predicate-type': 'chainloop.dev/attestation/v0.2',
      'org.opencontainers.image.created': '2024-01-02T03:04:05Z',
      'dev.chainloop.workflow.name': 'build',
      'dev.chainloop.workflow.project': 'p',
      'dev.chainloop.organization': 'o',
      'dev.chainloop.workflow.id': 'w',
      'dev.chainloop.workflow-run.id': 'r',
      'dev.chainloop.runner.type': 'GITHUB_ACTION',
      'dev.chainloop.runner.url': 'https://github.com/o/r/actions/runs/1',
    });
  });

  it('leaves out the unspecified runner type, non-string values and an unparseable time', () => {
    const a = workflowAnnotations(statement({ name: 7, finishedAt: 'yesterday' }, { runnerType: 'RUNNER_TYPE_UNSPECIFIED' }));
    expect(a).toEqual({ 'in-toto.io/predicate-type': 'chainloop.dev/attestation/v0.2' });
  });

  it('is empty without a statement', () => {
    expect(workflowAnnotations(undefined)).toEqual({});
  });

  it('strips control characters and caps values', () => {
    expect(cleanValue('a\u0000b\nc\u001bd\u2028')).toBe('abcd');
    expect(cleanValue('x'.repeat(1000))).toHaveLength(ANNOTATION_VALUE_LIMIT);
    const a = workflowAnnotations(statement({ name: '\u0007\u0007' }));
    expect(a['dev.chainloop.workflow.name']).toBeUndefined();
  });
});

describe('normalizeCreated', () => {
  it.each([
    ['2023-10-20T12:58:10.562093962Z', '2023-10-20T12:58:10Z'],
    ['2023-06-23T15:00:43.70997067+02:00', '2023-06-23T13:00:43Z'],
    ['2023-06-23T00:00:00-01:30', '2023-06-23T01:30:00Z'],
    ['2023-06-23', undefined],
    ['2023-13-45T99:00:00Z', undefined],
  ])('%s → %s', (input, expected) => {
    expect(normalizeCreated(input)).toBe(expected);
  });
});
