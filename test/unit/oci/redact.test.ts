import { RegistryError } from '../../../src/oci/errors';
import { credentialForms, redactUrl, scrubAndCut, scrubSecrets } from '../../../src/oci/redact';
import { parseErrorBody, summarizeErrors } from '../../../src/oci/response';

describe('redactUrl', () => {
  it('drops userinfo, fragments and non-allow-listed query parameters', () => {
    const u = 'https://user:hunter2@r.example/v2/x/blobs/uploads/abc?_state=SECRET&digest=sha256:aa&X-Amz-Signature=sig#frag';
    const out = redactUrl(u);
    expect(out).toBe('https://r.example/v2/x/blobs/uploads/abc?digest=sha256%3Aaa&…');
    expect(out).not.toMatch(/hunter2|SECRET|sig|frag|user/);
  });
  it('keeps harmless parameters', () => {
    expect(redactUrl('https://auth/token?service=s&scope=repository:a:pull&n=1&last=x&mount=m&from=f')).toBe(
      'https://auth/token?service=s&scope=repository%3Aa%3Apull&n=1&last=x&mount=m&from=f',
    );
  });
  it('marks dropped-only queries and survives garbage', () => {
    expect(redactUrl('https://h/p?token=abc')).toBe('https://h/p?…');
    expect(redactUrl('not a url')).toBe('<invalid url>');
  });
});

describe('secret scrubbing', () => {
  it('removes known secrets from text', () => {
    expect(scrubSecrets('bad token tok-123456 for pw', ['tok-123456', 'pw'])).toBe('bad token <redacted> for pw');
  });
  it('scrubs registry error bodies that echo secrets', () => {
    const body = Buffer.from(JSON.stringify({ errors: [{ code: 'DENIED', message: 'token tok-SECRET denied', detail: { auth: 'Bearer tok-SECRET' } }] }));
    const errors = parseErrorBody(body, ['tok-SECRET']);
    expect(JSON.stringify(errors)).not.toContain('tok-SECRET');
    expect(errors[0]!.code).toBe('DENIED');
    const e = new RegistryError({ status: 403, method: 'GET', url: redactUrl('https://h/v2/x?_state=s3cr3t'), errors });
    expect(e.message).toBe('GET https://h/v2/x?…: 403 Forbidden: DENIED: token <redacted> denied');
  });
  it('parses non-JSON and odd shapes as no errors', () => {
    expect(parseErrorBody(Buffer.from('<html>'))).toEqual([]);
    expect(parseErrorBody(Buffer.from('{"errors":"x"}'))).toEqual([]);
    expect(parseErrorBody(Buffer.from('{"errors":[{"code":1}]}'))).toEqual([{ code: 'UNKNOWN', message: '' }]);
  });
});

describe('credentialForms', () => {
  it('covers the password, user:password and their base64 and form-encoded forms', () => {
    const forms = credentialForms('alice', 'p@ss w/rd+1');
    const basic = Buffer.from('alice:p@ss w/rd+1').toString('base64');
    const text = `Authorization: Basic ${basic}; pw=${Buffer.from('p@ss w/rd+1').toString('base64url')}; form password=p%40ss+w%2Frd%2B1; raw alice:p@ss w/rd+1`;
    const out = scrubSecrets(text, forms);
    expect(out).not.toContain(basic);
    expect(out).not.toContain('p@ss w/rd+1');
    expect(out).not.toContain('p%40ss+w%2Frd%2B1');
    expect(out).not.toContain(Buffer.from('p@ss w/rd+1').toString('base64url'));
    expect(out).toBe('Authorization: Basic <redacted>; pw=<redacted>; form password=<redacted>; raw <redacted>');
  });
});

describe('echoed credentials at every truncation offset', () => {
  const password = 'Zq9!pw-Kx7@secret';
  const token = 'eyJhbGciOiJSUzI1NiJ9.bearer-token-Qw3rty.sig-Xy12';
  const refresh = 'rfr-Mn83-refresh-token-Vb56';
  const forms = [...credentialForms('pusher', password), token, encodeURIComponent(token), refresh];
  const echoed = [password, Buffer.from(`pusher:${password}`).toString('base64'), `Bearer ${token}`, refresh, encodeURIComponent(password)];
  // The leak test looks for the first 4 characters of every form (never a word of the padding).
  const leaks = (text: string) => forms.map((f) => f.slice(0, 4)).filter((p) => text.includes(p));

  it.each([
    ['message', 1000],
    ['code', 100],
  ])('the %s field, cut at %i characters, never shows the start of a secret', (field, limit) => {
    const found: string[] = [];
    for (const secret of echoed) {
      for (let offset = Math.max(0, limit - secret.length - 2); offset <= limit + 1; offset++) {
        const text = `${'.'.repeat(offset)}${secret} and more text after it`;
        const body = Buffer.from(JSON.stringify({ errors: [{ code: field === 'code' ? text : 'DENIED', message: field === 'message' ? text : 'x' }] }));
        const errors = parseErrorBody(body, forms);
        const message = new RegistryError({ status: 403, method: 'GET', url: 'https://h/v2/x', errors }).message;
        const bad = leaks(`${summarizeErrors(errors)} ${message} ${JSON.stringify(errors)}`);
        if (bad.length) found.push(`${secret.slice(0, 6)}… at ${offset}: ${bad.join(',')}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('a text the peer itself cut inside a secret loses that tail', () => {
    for (let n = 4; n < password.length; n++) {
      expect(scrubAndCut(`denied for ${password.slice(0, n)}`, 1000, forms)).toBe('denied for <redacted>');
    }
    expect(scrubAndCut('denied for Zq9', 1000, forms)).toBe('denied for Zq9');
  });

  it('cuts the longest tail that begins a secret, wherever that secret repeats its own start', () => {
    // Reference: every tail length tried, longest first.
    const naive = (text: string, secrets: string[]): string => {
      let cut = text.length;
      for (const secret of secrets) {
        for (let n = Math.min(secret.length - 1, text.length); n >= 4; n--) {
          if (text.endsWith(secret.slice(0, n))) {
            cut = Math.min(cut, text.length - n);
            break;
          }
        }
      }
      return cut === text.length ? text : `${text.slice(0, cut)}<redacted>`;
    };
    let seed = 7;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const word = (len: number) => Array.from({ length: len }, () => 'abAB'[next(4)]).join('');
    for (let round = 0; round < 2_000; round++) {
      const secrets = Array.from({ length: 1 + next(3) }, () => word(4 + next(12)));
      const pick = secrets[next(secrets.length)]!;
      const text = word(next(20)) + pick.slice(0, next(pick.length + 1));
      expect(scrubAndCut(text, 1000, secrets)).toBe(naive(scrubSecrets(text, secrets), secrets));
    }
  });
});
