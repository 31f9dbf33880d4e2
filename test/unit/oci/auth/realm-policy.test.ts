import { decideRealmCredentials } from '../../../../src/oci/auth/realm-policy';

describe('decideRealmCredentials', () => {
  it('sends credentials to an https realm', () => {
    expect(decideRealmCredentials(new URL('https://auth.example.com/token'), 'https', true)).toEqual({ sendCredentials: true });
  });

  it('gives an http realm of a non-loopback https registry no credentials, with a reason', () => {
    const d = decideRealmCredentials(new URL('http://auth.example.com/token'), 'https', true);
    expect(d.sendCredentials).toBe(false);
    expect(d.refusal).toMatch(/plain http/);
  });

  it('allows an http realm when the registry itself is plain-http loopback', () => {
    expect(decideRealmCredentials(new URL('http://127.0.0.1:5001/token'), 'http', true)).toEqual({ sendCredentials: true });
  });

  it('anonymous requests carry nothing and are not refused', () => {
    expect(decideRealmCredentials(new URL('http://auth.example.com/token'), 'https', false)).toEqual({ sendCredentials: false });
  });

  it('refuses non-http schemes', () => {
    expect(decideRealmCredentials(new URL('file:///etc/passwd'), 'https', true).refusal).toMatch(/unsupported scheme/);
  });
});
