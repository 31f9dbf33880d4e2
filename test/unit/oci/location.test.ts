import { InsecureRequestError } from '../../../src/oci/errors';
import { nextPageLink, redirectHop, resolveUploadLocation } from '../../../src/oci/location';

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

describe('nextPageLink', () => {
  const page = new URL('https://r.example/v2/a/referrers/sha256:x');
  it('finds rel="next" among links, in any case and quoting, relative or absolute', () => {
    expect(nextPageLink(page, ['</v2/a/referrers/sha256:x?n=2>; rel="next"'])?.href).toBe('https://r.example/v2/a/referrers/sha256:x?n=2');
    expect(nextPageLink(page, ['<https://r.example/p2>; rel=NEXT'])?.href).toBe('https://r.example/p2');
    expect(nextPageLink(page, ['</p0>; rel="prev", </p2>; rel="last next"'])?.pathname).toBe('/p2');
    expect(nextPageLink(page, ['</p0>; rel="prev"', '</p3>; title="a,b"; rel="next"'])?.pathname).toBe('/p3');
  });
  it('is undefined on the last page', () => {
    expect(nextPageLink(page, [])).toBeUndefined();
    expect(nextPageLink(page, ['</p0>; rel="prev"', 'garbage'])).toBeUndefined();
  });
  it('refuses another origin or a downgrade, and drops userinfo', () => {
    expect(() => nextPageLink(page, ['<https://elsewhere.example/p2>; rel="next"'])).toThrow(InsecureRequestError);
    expect(() => nextPageLink(page, ['<http://r.example/p2>; rel="next"'])).toThrow(/is not on https:\/\/r\.example/);
    expect(nextPageLink(page, ['<https://u:secret@r.example/p2>; rel="next"'])?.href).toBe('https://r.example/p2');
  });
});
