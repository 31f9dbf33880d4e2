import { InsecureRequestError } from '../../../src/oci/errors';
import { redirectHop, resolveUploadLocation } from '../../../src/oci/location';

const base = new URL('https://r.example/v2/a/blobs/uploads/');

describe('resolveUploadLocation', () => {
  it('resolves relative and absolute same-origin locations', () => {
    expect(resolveUploadLocation(base, '/v2/a/blobs/uploads/u1?_state=x').href).toBe('https://r.example/v2/a/blobs/uploads/u1?_state=x');
    expect(resolveUploadLocation(base, 'u2').href).toBe('https://r.example/v2/a/blobs/uploads/u2');
    expect(resolveUploadLocation(base, 'https://r.example/v2/a/blobs/uploads/u3').pathname).toBe('/v2/a/blobs/uploads/u3');
  });
  it('accepts another origin without userinfo, refuses other schemes and an https→http downgrade', () => {
    // Another origin is allowed (storage hosts); the caller sends it no credentials.
    expect(resolveUploadLocation(base, 'https://storage.example/upload').origin).toBe('https://storage.example');
    expect(resolveUploadLocation(base, 'https://u:p@storage.example/upload').href).toBe('https://storage.example/upload');
    expect(() => resolveUploadLocation(base, 'ftp://storage.example/upload')).toThrow(InsecureRequestError);
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
