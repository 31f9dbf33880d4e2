import { InvalidReferenceError } from '../../../src/oci/errors';
import { childRepository, isValidTag, parseRepository } from '../../../src/oci/reference';

describe('parseRepository: valid', () => {
  const cases: [string, { registry: string; apiHost: string; path: string; scheme: 'http' | 'https' }][] = [
    ['ghcr.io/org/repo', { registry: 'ghcr.io', apiHost: 'ghcr.io', path: 'org/repo', scheme: 'https' }],
    ['us-east1-docker.pkg.dev/p/r', { registry: 'us-east1-docker.pkg.dev', apiHost: 'us-east1-docker.pkg.dev', path: 'p/r', scheme: 'https' }],
    ['index.docker.io/user', { registry: 'index.docker.io', apiHost: 'registry-1.docker.io', path: 'user', scheme: 'https' }],
    ['docker.io/user', { registry: 'docker.io', apiHost: 'registry-1.docker.io', path: 'user', scheme: 'https' }],
    ['docker.io/org/repo', { registry: 'docker.io', apiHost: 'registry-1.docker.io', path: 'org/repo', scheme: 'https' }],
    ['127.0.0.1:5000/some/path', { registry: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', path: 'some/path', scheme: 'http' }],
    ['localhost:5000/a', { registry: 'localhost:5000', apiHost: 'localhost:5000', path: 'a', scheme: 'http' }],
    ['localhost/a', { registry: 'localhost', apiHost: 'localhost', path: 'a', scheme: 'http' }],
    ['[::1]:5000/a/b', { registry: '[::1]:5000', apiHost: '[::1]:5000', path: 'a/b', scheme: 'http' }],
    ['[2001:db8::1]:5000/a', { registry: '[2001:db8::1]:5000', apiHost: '[2001:db8::1]:5000', path: 'a', scheme: 'https' }],
    ['registry.example.com:443/a', { registry: 'registry.example.com:443', apiHost: 'registry.example.com:443', path: 'a', scheme: 'https' }],
    ['GHCR.IO/org/repo', { registry: 'ghcr.io', apiHost: 'ghcr.io', path: 'org/repo', scheme: 'https' }],
    ['ghcr.io/a.b/c_d/e__f/g--h', { registry: 'ghcr.io', apiHost: 'ghcr.io', path: 'a.b/c_d/e__f/g--h', scheme: 'https' }],
    ['10.0.0.1:5000/a', { registry: '10.0.0.1:5000', apiHost: '10.0.0.1:5000', path: 'a', scheme: 'https' }],
  ];
  it.each(cases)('%s', (input, expected) => {
    const r = parseRepository(input);
    expect({ registry: r.registry, apiHost: r.apiHost, path: r.path, scheme: r.scheme }).toEqual(expected);
    expect(r.toString()).toBe(`${expected.registry}/${expected.path}`);
  });
});

describe('parseRepository: invalid', () => {
  const cases: [string, RegExp][] = [
    ['https://ghcr.io/org/repo', /drop the "scheme:\/\/" prefix/],
    ['oci://ghcr.io/org/repo', /URL scheme/],
    ['ghcr.io/Org/repo', /must be lower case/],
    ['ghcr.io', /no repository path/],
    ['ghcr.io/', /no repository path/],
    ['ghcr.io/a//b', /empty component/],
    ['ghcr.io/org/repo/', /must not end with "\/"/],
    ['ghcr.io/org/my repo', /spaces/],
    [' ghcr.io/org/repo', /spaces/],
    ['ghcr.io:abc/a', /port "abc"/],
    ['ghcr.io:0/a', /port "0"/],
    ['ghcr.io:65536/a', /port "65536"/],
    ['ghcr.io:/a', /port ""/],
    ['[::1/a', /missing "\]"/],
    ['[zz::1]:5000/a', /malformed IPv6/],
    ['[fe80::1%eth0]:5000/org/repo', /zone ids/],
    ['::1:5000/a', /IPv6 addresses must be written in brackets/],
    ['999.1.1.1:5000/a', /malformed IPv4/],
    ['ghcr.io/org/repo:latest', /must not include a tag/],
    ['ghcr.io/org/repo@sha256:' + 'a'.repeat(64), /must not include a digest/],
    ['myrepo/foo', /include the registry host, e.g. ghcr.io\/myrepo\/foo/],
    ['ghcr.io/org/-repo', /path component "-repo" is invalid/],
    ['ghcr.io/org/re..po', /invalid/],
    ['ghcr.io/org/a___b', /invalid/],
    ['-bad.io/a', /not a valid registry host/],
    ['', /empty/],
    [`ghcr.io/${'a'.repeat(250)}`, /maximum is 255/],
  ];
  it.each(cases)('%s', (input, message) => {
    let caught: unknown;
    try {
      parseRepository(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidReferenceError);
    expect((caught as InvalidReferenceError).code).toBe('OCI_INVALID_REFERENCE');
    expect((caught as Error).message).toMatch(message);
  });
});

describe('childRepository', () => {
  it('appends a validated component', () => {
    const c = childRepository(parseRepository('docker.io/user'), 'attestations');
    expect(c.toString()).toBe('docker.io/user/attestations');
    expect(c.apiHost).toBe('registry-1.docker.io');
    expect(c.scheme).toBe('https');
  });
  it('accepts nested names and rejects bad ones', () => {
    const p = parseRepository('localhost:5000/a');
    expect(childRepository(p, 'b/c').path).toBe('a/b/c');
    expect(() => childRepository(p, 'B')).toThrow(/lower case/);
    expect(() => childRepository(p, '')).toThrow(InvalidReferenceError);
    expect(() => childRepository(p, 'b/')).toThrow(InvalidReferenceError);
    expect(() => childRepository(p, 'x'.repeat(300))).toThrow(/maximum is 255/);
  });
});

describe('isValidTag', () => {
  it.each([
    ['latest', true],
    ['v1.2.3', true],
    ['_x', true],
    ['sha256-' + 'a'.repeat(64), true],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    ['.hidden', false],
    ['-x', false],
    ['', false],
    ['a:b', false],
  ])('%s -> %s', (tag, ok) => expect(isValidTag(tag as string)).toBe(ok));
});
