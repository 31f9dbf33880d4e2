import { parseChallenges, pickChallenge } from '../../../../src/oci/auth/challenge';

describe('parseChallenges', () => {
  it('parses a Bearer challenge with quoted params', () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:u/r:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:u/r:pull,push' } },
    ]);
  });

  it('parses the AWS ECR Basic form with no space after the comma', () => {
    expect(parseChallenges('Basic realm="https://123.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"')).toEqual([
      { scheme: 'basic', params: { realm: 'https://123.dkr.ecr.us-east-1.amazonaws.com/', service: 'ecr.amazonaws.com' } },
    ]);
  });

  it('handles unquoted values, escapes, spaces and case-insensitive schemes', () => {
    const [c] = parseChallenges('BEARER Realm=https://r/t , service = svc, error="insufficient_scope", x="a \\"q\\", b"');
    expect(c).toEqual({ scheme: 'bearer', params: { realm: 'https://r/t', service: 'svc', error: 'insufficient_scope', x: 'a "q", b' } });
  });

  it('splits several challenges in one header and across headers', () => {
    const got = parseChallenges(['Basic realm="b", Bearer realm="https://t",service="s"', 'Digest realm="d", nonce="n"']);
    expect(got.map((c) => c.scheme)).toEqual(['basic', 'bearer', 'digest']);
    expect(got[1]!.params).toEqual({ realm: 'https://t', service: 's' });
    expect(got[2]!.params).toEqual({ realm: 'd', nonce: 'n' });
    expect(pickChallenge(got)?.scheme).toBe('bearer');
  });

  it('accepts a bare scheme and tolerates garbage without looping', () => {
    expect(parseChallenges('Basic')).toEqual([{ scheme: 'basic', params: {} }]);
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
    expect(() => parseChallenges('=,,"unterminated')).not.toThrow();
    expect(parseChallenges('Bearer realm="unterminated')[0]!.params.realm).toBe('unterminated');
  });

  it('prefers Basic only when no Bearer is offered', () => {
    expect(pickChallenge(parseChallenges('Basic realm="x"'))?.scheme).toBe('basic');
    expect(pickChallenge(parseChallenges('Negotiate abc'))).toBeUndefined();
  });
});
