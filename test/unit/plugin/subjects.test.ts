import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseRepository } from '../../../src/oci';
import { readStatement, type Statement } from '../../../src/plugin/statement';
import { MAX_SUBJECTS, selectImageSubjects, splitImageName } from '../../../src/plugin/subjects';

const IMAGE = { 'chainloop.material.type': 'CONTAINER_IMAGE' };
const HEX = 'a'.repeat(64);
const st = (subjects: Statement['subjects']): Statement => ({ subjects, metadata: {}, predicate: {} });

describe('selectImageSubjects', () => {
  it('takes the fixture image (index.docker.io) for a Docker Hub registration, and nothing else', () => {
    const envelope = readFileSync(path.join(__dirname, '../../fixtures/chainloop-envelope-image-subject.json'));
    const { eligible, skipped } = selectImageSubjects(readStatement(envelope), parseRepository('docker.io/acme/attestations'));
    expect(eligible.map((s) => [s.repository.toString(), s.repository.apiHost, s.digest])).toEqual([
      ['docker.io/bitnami/nginx', 'registry-1.docker.io', 'sha256:fbd9335f55d83d8aaf9ab1a539b0f2a87b444e8c54f34c9a1ca9d7df15605db4'],
    ]);
    expect(skipped).toEqual([]);
  });

  it('skips the fixture image as a foreign host for another registry', () => {
    const envelope = readFileSync(path.join(__dirname, '../../fixtures/chainloop-envelope-image-subject.json'));
    const { eligible, skipped } = selectImageSubjects(readStatement(envelope), parseRepository('ghcr.io/acme/attestations'));
    expect(eligible).toEqual([]);
    expect(skipped).toEqual([{ name: 'index.docker.io/bitnami/nginx', reason: 'foreign host' }]);
  });

  it('ignores materials and non-image subjects (the sbom fixture has none)', () => {
    const envelope = readFileSync(path.join(__dirname, '../../fixtures/chainloop-envelope-sbom.json'));
    expect(selectImageSubjects(readStatement(envelope), parseRepository('docker.io/acme/a'))).toEqual({ eligible: [], skipped: [] });
  });

  it('compares ports exactly, strips tags, deduplicates, and rejects bad digests', () => {
    const reg = parseRepository('127.0.0.1:5000/org/att');
    const { eligible, skipped } = selectImageSubjects(
      st([
        { name: '127.0.0.1:5000/org/app:1.0', digest: { sha256: HEX }, annotations: IMAGE },
        { name: '127.0.0.1:5000/org/app@sha256:' + HEX, digest: { sha256: HEX }, annotations: IMAGE },
        { name: '127.0.0.1:5001/org/app', digest: { sha256: HEX }, annotations: IMAGE },
        { name: '127.0.0.1:5000/org/app', digest: { sha256: 'A'.repeat(64) }, annotations: IMAGE },
        { name: '127.0.0.1:5000/org/app', digest: { sha256: HEX }, annotations: { 'chainloop.material.type': 'ARTIFACT' } },
        { name: 'oci-layout://x', digest: { sha256: HEX }, annotations: IMAGE },
      ]),
      reg,
    );
    expect(eligible.map((s) => `${s.repository.toString()}@${s.digest}`)).toEqual([`127.0.0.1:5000/org/app@sha256:${HEX}`]);
    expect(eligible[0]?.repository.scheme).toBe('http');
    expect(skipped.map((s) => s.reason)).toEqual(['foreign host', 'no sha256 digest', 'not an image name']);
  });

  it('caps the number of subjects', () => {
    const many = Array.from({ length: MAX_SUBJECTS + 2 }, (_, i) => ({ name: `ghcr.io/o/app${i}`, digest: { sha256: HEX }, annotations: IMAGE }));
    const { eligible, skipped } = selectImageSubjects(st(many), parseRepository('ghcr.io/o/att'));
    expect(eligible).toHaveLength(MAX_SUBJECTS);
    expect(skipped).toHaveLength(2);
  });
});

describe('splitImageName', () => {
  it.each([
    ['docker.io/nginx', { host: 'docker.io', path: 'library/nginx' }],
    ['index.docker.io/bitnami/nginx:1.25', { host: 'index.docker.io', path: 'bitnami/nginx' }],
    ['localhost:5000/a/b@sha256:' + HEX, { host: 'localhost:5000', path: 'a/b' }],
    ['nginx', undefined],
    ['https://evil.example/x', undefined],
  ])('%s', (name, expected) => {
    expect(splitImageName(name)).toEqual(expected);
  });
});
