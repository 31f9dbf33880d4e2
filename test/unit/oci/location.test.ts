import { InsecureRequestError } from '../../../src/oci/errors';
import { redirectHop, resolveUploadLocation } from '../../../src/oci/location';

const base = new URL('https://r.example/v2/a/blobs/uploads/');

describe('resolveUploadLocation', () => {
  it('resolves relative and absolute same-origin locations', () => {
    expect(resolveUploadLocation(base, '/v2/a/blobs/uploads/u1?_state=x').href).toBe('https://r.example/v2/a/blobs/uploads/u1?_state=x');
    expect(resolveUploadLocation(base, 'u2').href).toBe('https://r.example/v2/a/blobs/uploads/u2');
    expect(resolveUploadLocation(base, 'https://r.example/v2/a/blobs/uploads/u3').pathname).toBe('/v2/a/blobs/uploads/u3');
  });
  it('refuses another host, another port and an https→http downgrade', () => {
    expect(() => resolveUploadLocation(base, 'https://evil.example/upload')).toThrow(InsecureRequestError);
    expect(() => resolveUploadLocation(base, 'https://r.example:8443/upload')).toThrow(/another host/);
    expect(() => resolveUploadLocation(base, 'http://r.example/v2/a/blobs/uploads/u')).toThrow(/downgrades https to http/);
  });
});

describe('redirectHop', () => {
  it('flags cross-origin hops and refuses downgrades', () => {
    const cur = new URL('https://r.example/v2/a/blobs/sha256:x');
    expect(redirectHop(cur, cur, '/other').crossOrigin).toBe(false);
    expect(redirectHop(cur, cur, 'https://bucket.s3.amazonaws.com/x?X-Amz-Signature=s').crossOrigin).toBe(true);
    expect(() => redirectHop(cur, cur, 'http://bucket/x')).toThrow(/downgrades/);
    expect(() => redirectHop(cur, cur, 'ftp://bucket/x')).toThrow(/ftp/);
  });
});
