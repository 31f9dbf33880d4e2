/**
 * listReferrers reads every page of a paginated referrers answer (Link
 * rel="next"), on the registry's origin only, and says when it stopped early.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_REFERRER_PAGES } from '../../../src/oci/referrers';
import { clientFor, closeAgents, repoOn } from './client-helpers';
import { FakeRegistry, type RecordedRequest } from './fake-registry';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const SUBJECT = `sha256:${'a'.repeat(64)}`;
const entry = (n: number) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${String(n).padStart(64, '0')}`, size: n });

/**
 * Answers /v2/team/app/referrers/<digest>?page=N with `perPage` entries and a
 * Link from `link(N)`, to Basic credentials only (the fake's own check does not
 * cover this path).
 */
function paginated(reg: FakeRegistry, pages: number, link: (next: number) => string | string[] | undefined, perPage = 2) {
  return (req: RecordedRequest, res: ServerResponse): boolean => {
    if (!req.path.startsWith('/v2/team/app/referrers/')) return false;
    if (req.authorization !== reg.basic()) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return true;
    }
    const page = Number(new URL(req.url).searchParams.get('page') ?? '1');
    const headers: Record<string, string | string[]> = { 'content-type': INDEX };
    const next = page < pages ? link(page + 1) : undefined;
    if (next) headers.link = next;
    res.writeHead(200, headers);
    const manifests = Array.from({ length: perPage }, (_, i) => entry((page - 1) * perPage + i + 1));
    res.end(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests }));
    return true;
  };
}

describe('listReferrers over paginated answers', () => {
  let reg: FakeRegistry;
  let elsewhere: Server;
  let elsewhereHits: string[];

  beforeAll(async () => {
    reg = await new FakeRegistry({ auth: 'basic' }).start();
    elsewhere = createServer((req, res) => {
      elsewhereHits.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(200, { 'content-type': INDEX });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [entry(999)] }));
    });
    await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
  });
  beforeEach(() => {
    reg.requests.length = 0;
    elsewhereHits = [];
  });
  afterAll(async () => {
    await closeAgents();
    await reg.stop();
    await new Promise((r) => elsewhere.close(r));
  });

  const list = () =>
    clientFor({ credentials: { username: 'user', password: 'pass' } }).listReferrers(repoOn(reg, 'team/app'), SUBJECT);
  const pageRequests = () => reg.requests.filter((r) => r.path.includes('/referrers/'));

  it('follows relative and absolute next links, with credentials on each page', async () => {
    reg.intercept = paginated(reg, 3, (n) => (n === 2 ? `</v2/team/app/referrers/${SUBJECT}?page=2>; rel="next"` : `<http://${reg.host}/v2/team/app/referrers/${SUBJECT}?page=3>; rel=next`));
    const listing = await list();
    expect(listing.source).toBe('api');
    expect(listing.incomplete).toBeUndefined();
    expect(listing.manifests.map((m) => (m as { size: number }).size)).toEqual([1, 2, 3, 4, 5, 6]);
    // The first page is asked twice: once for the challenge, once with credentials.
    const pages = pageRequests().filter((r) => r.authorization === reg.basic());
    expect(pages.map((r) => new URL(r.url).searchParams.get('page'))).toEqual([null, '2', '3']);
    expect(pageRequests()).toHaveLength(4);
  });

  it('picks rel="next" among several links and repeated Link headers', async () => {
    reg.intercept = paginated(reg, 2, () => [`</v2/team/app/referrers/${SUBJECT}?page=9>; rel="prev"`, `</v2/team/app/referrers/${SUBJECT}?page=1>; rel="first", </v2/team/app/referrers/${SUBJECT}?page=2>; title="x"; rel="next"`]);
    const listing = await list();
    expect(listing.manifests).toHaveLength(4);
    expect(pageRequests()).toHaveLength(3);
  });

  it('never follows a next link to another origin, and keeps what it read', async () => {
    const other = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    reg.intercept = paginated(reg, 2, () => `<${other}/v2/team/app/referrers/${SUBJECT}?page=2>; rel="next"`);
    const listing = await list();
    expect(elsewhereHits).toEqual([]);
    expect(listing.manifests).toHaveLength(2);
    expect(listing.incomplete).toMatch(/refusing the next page at .*127\.0\.0\.1.*: it is not on http:\/\/127\.0\.0\.1:\d+/);
    expect(listing.incomplete).not.toContain('pass');
  });

  it('stops after MAX_REFERRER_PAGES pages of an endless answer', async () => {
    reg.intercept = paginated(reg, Number.MAX_SAFE_INTEGER, (n) => `</v2/team/app/referrers/${SUBJECT}?page=${n}>; rel="next"`, 1);
    const listing = await list();
    expect(pageRequests()).toHaveLength(MAX_REFERRER_PAGES + 1);
    expect(listing.manifests).toHaveLength(MAX_REFERRER_PAGES);
    expect(listing.incomplete).toBe(`stopped after ${MAX_REFERRER_PAGES} pages`);
  });

  it('reports a later page that is not an index, and falls back to the tag only when the first is not', async () => {
    const pages = paginated(reg, 3, (n) => `</v2/team/app/referrers/${SUBJECT}?page=${n}>; rel="next"`);
    reg.intercept = (req, res) => {
      if (new URL(req.url).searchParams.get('page') === '2') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"errors":[]}');
        return true;
      }
      return pages(req, res);
    };
    const listing = await list();
    expect(listing).toMatchObject({ source: 'api', incomplete: 'page 2 of the referrers was not an OCI index (HTTP 500 application/json)' });
    expect(listing.manifests).toHaveLength(2);

    reg.intercept = (req, res) => {
      if (new URL(req.url).searchParams.get('page') !== '2') return pages(req, res);
      res.writeHead(404); // no Content-Type at all
      res.end();
      return true;
    };
    expect((await list()).incomplete).toBe('page 2 of the referrers was not an OCI index (HTTP 404)');

    reg.intercept = undefined; // no referrers API: a 404, then the fallback tag (absent here)
    expect(await list()).toEqual({ source: 'none', manifests: [] });
  });
});
