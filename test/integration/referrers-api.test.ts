/**
 * The native referrers-API path and its false signals, through the BUILT
 * executable: the test proxy sits in front of distribution 2.8.2 and
 * emulates a registry with the API (OCI-Subject on the PUT, /referrers
 * answering an OCI index), then the signals that fooled other clients.
 * The fallback index must be written exactly when the API is not proven.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { AttachRequest, ExecuteRequest, RegisterRequest, type RegisterResponse } from '../../src/gen/api/fanout';
import { launchPlugin, type LaunchedPlugin } from '../../src/host/client';
import { distributionAvailable, startDistribution, type Distribution } from '../helpers/distribution';
import { startProxy, type ProxyAction, type ProxyRequestInfo, type RecordingProxy } from '../helpers/proxy';
import { runBuiltPlugin } from '../helpers/plugin-process';
import { envelopeFor, listTags, pushSmallImage, tagOf, type PushedImage } from '../helpers/referrers';

const executable = path.join(__dirname, '../../dist/chainloop-plugin-oci-registry');
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const ready = existsSync(executable) && distributionAvailable();
const describeIf = ready ? describe : describe.skip;
if (!ready) console.warn('referrers-api.test.ts skipped: run `make build` and install docker-registry (make system-deps)');

const INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY_INDEX = JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [] });

/** How the emulated registry answers GET /v2/<repo>/referrers/<digest>. */
type ReferrersAnswer = (digest: string, info: ProxyRequestInfo) => ProxyAction;

describeIf('referrers API detection behind the test proxy', () => {
  let registry: Distribution;
  let proxy: RecordingProxy;
  let plugin: LaunchedPlugin;
  let registration: RegisterResponse;
  let otherOrigin: Server;
  let otherOriginHits = 0;
  /** Per repository: the emulated behaviour. */
  const behaviours = new Map<string, { subjectHeader: boolean; answer: ReferrersAnswer }>();

  const hook = (info: ProxyRequestInfo): ProxyAction | undefined => {
    const m = /^\/v2\/(.+)\/(manifests|referrers)\/(.+)$/.exec(info.path);
    const b = m ? behaviours.get(m[1]!) : undefined;
    if (!m || !b) return undefined;
    if (m[2] === 'referrers' && info.method === 'GET') return b.answer(m[3]!, info);
    // Every referrer this plugin PUTs by digest names the one image of its repository.
    const subject = subjects.get(m[1]!);
    if (m[2] === 'manifests' && info.method === 'PUT' && m[3]!.startsWith('sha256:') && b.subjectHeader && subject) {
      return { kind: 'forward', responseHeaders: { 'oci-subject': subject } };
    }
    return undefined;
  };
  const subjects = new Map<string, string>();

  beforeAll(async () => {
    registry = await startDistribution({ mode: 'anonymous' });
    proxy = await startProxy({ target: registry.host, hook });
    otherOrigin = createServer((_req, res) => {
      otherOriginHits++;
      res.end('elsewhere');
    });
    await new Promise<void>((r) => otherOrigin.listen(0, '127.0.0.1', r));
    plugin = await launchPlugin({ executable, env: { CHAINLOOP_PLUGIN_LOG_LEVEL: 'debug' } });
    registration = await plugin.fanout.register(
      RegisterRequest.fromPartial({ payload: json({ repository: `${proxy.host}/team/attestations`, username: 'u', password: 'p-secret' }) }),
    );
  }, 60_000);

  afterAll(async () => {
    await plugin?.shutdown().catch(() => plugin.kill());
    await proxy?.close();
    await new Promise((r) => otherOrigin?.close(r));
    await registry?.stop();
  });

  async function run(repo: string, behaviour: { subjectHeader: boolean; answer: ReferrersAnswer }, runs = 1): Promise<PushedImage> {
    const image = await pushSmallImage(registry.host, repo);
    subjects.set(repo, image.digest);
    behaviours.set(repo, behaviour);
    const attached = await plugin.fanout.attach(AttachRequest.fromPartial({ payload: json({ referrers: 'oci' }), registrationInfo: registration }));
    for (let i = 0; i < runs; i++) {
      await plugin.fanout.execute(
        ExecuteRequest.fromPartial({
          registrationInfo: registration,
          attachmentInfo: { configuration: attached.configuration },
          envelope: envelopeFor([{ name: `${proxy.host}/${repo}`, digest: image.digest }], `${repo}-${i}`),
        }),
      );
    }
    return image;
  }
  const probes = (repo: string) => proxy.requests.filter((r) => r.path.startsWith(`/v2/${repo}/referrers/`));

  it('a registry with the API gets no fallback index, and the answer is cached per repository', async () => {
    const image = await run('org/native', { subjectHeader: true, answer: () => ({ kind: 'respond', status: 200, headers: { 'content-type': INDEX }, body: EMPTY_INDEX }) }, 2);
    expect(await listTags(registry.host, 'org/native')).toEqual(['v1']);
    expect(probes('org/native').map((r) => r.path)).toEqual([`/v2/org/native/referrers/${image.digest}`]);
  });

  it.each([
    ['OCI-Subject without the API (ECR, 2024): /referrers 404', { kind: 'respond', status: 404, body: '{"errors":[{"code":"NOT_FOUND"}]}' }],
    ['200 with application/json (Harbor < 2.11)', { kind: 'respond', status: 200, headers: { 'content-type': 'application/json' }, body: EMPTY_INDEX }],
    ['an HTML 404 (GitLab dependency proxy)', { kind: 'respond', status: 404, headers: { 'content-type': 'text/html' }, body: '<html>404</html>' }],
  ] as Array<[string, ProxyAction]>)('%s → fallback index', async (_name, answer) => {
    const repo = `org/false-${behaviours.size}`;
    const image = await run(repo, { subjectHeader: true, answer: () => answer });
    expect(await listTags(registry.host, repo)).toEqual([tagOf(image.digest), 'v1']);
    expect(probes(repo)).toHaveLength(1);
  });

  it('a 303 to another origin is not followed (GHCR, 2026) → fallback index', async () => {
    const where = `http://127.0.0.1:${(otherOrigin.address() as AddressInfo).port}/login`;
    const image = await run('org/redirect', { subjectHeader: true, answer: () => ({ kind: 'respond', status: 303, headers: { location: where }, body: '' }) });
    expect(otherOriginHits).toBe(0);
    expect(await listTags(registry.host, 'org/redirect')).toEqual([tagOf(image.digest), 'v1']);
  });

  it('the API alone, without OCI-Subject on the PUT, is not trusted → fallback index, no probe', async () => {
    const image = await run('org/no-header', { subjectHeader: false, answer: () => ({ kind: 'respond', status: 200, headers: { 'content-type': INDEX }, body: EMPTY_INDEX }) });
    expect(await listTags(registry.host, 'org/no-header')).toEqual([tagOf(image.digest), 'v1']);
    expect(probes('org/no-header')).toHaveLength(0);
  });

  it('host discover reads every page of a paginated answer, and no page on another origin', async () => {
    const image = await pushSmallImage(registry.host, 'org/paged');
    const other = `http://127.0.0.1:${(otherOrigin.address() as AddressInfo).port}`;
    const referrer = (n: number) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${String(n).padStart(64, '0')}`,
      size: 500,
      artifactType: 'application/vnd.in-toto+json',
      annotations: { 'in-toto.io/predicate-type': 'chainloop.dev/attestation/v0.2', 'dev.chainloop.workflow-run.id': `run-${n}` },
    });
    // Page 1 links to page 2 (relative); page 2 links to a page 3 on another origin.
    const answer: ReferrersAnswer = (digest, info) => {
      const page = Number(new URL(info.rawUrl, 'http://x').searchParams.get('page') ?? '1');
      const link = page === 1 ? `</v2/org/paged/referrers/${digest}?page=2>; rel="next"` : `<${other}/v2/org/paged/referrers/${digest}?page=3>; rel="next"`;
      const body = JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [referrer(2 * page - 1), referrer(2 * page)] });
      return { kind: 'respond', status: 200, headers: { 'content-type': INDEX, link }, body };
    };
    behaviours.set('org/paged', { subjectHeader: true, answer });
    const hitsBefore = otherOriginHits;
    const run = await runBuiltPlugin(['host', 'discover', `${proxy.host}/org/paged@${image.digest}`]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.referrers.source).toBe('api');
    expect(report.referrers.attestations.map((a: { annotations: Record<string, string> }) => a.annotations['dev.chainloop.workflow-run.id'])).toEqual(['run-1', 'run-2', 'run-3', 'run-4']);
    expect(report.referrers.incomplete).toMatch(/^refusing the next page at http:\/\/127\.0\.0\.1:\d+\/v2\/org\/paged\/referrers\/.*: it is not on http:\/\/127\.0\.0\.1:\d+$/);
    expect(otherOriginHits).toBe(hitsBefore);
    expect(probes('org/paged')).toHaveLength(2);
  });

  it('a subject the credentials may not read (403) is skipped, and Execute succeeds', async () => {
    const image = await pushSmallImage(registry.host, 'org/forbidden');
    proxy.failNext(5, { status: 403, body: '{"errors":[{"code":"DENIED","message":"denied"}]}', match: { method: 'HEAD', path: `/v2/org/forbidden/manifests/${image.digest}` } });
    const attached = await plugin.fanout.attach(AttachRequest.fromPartial({ payload: json({ referrers: 'oci+cosign' }), registrationInfo: registration }));
    await plugin.fanout.execute(
      ExecuteRequest.fromPartial({ registrationInfo: registration, attachmentInfo: { configuration: attached.configuration }, envelope: envelopeFor([{ name: `${proxy.host}/org/forbidden`, digest: image.digest }], 'forbidden') }),
    );
    expect(await listTags(registry.host, 'org/forbidden')).toEqual(['v1']);
    expect(plugin.stderrLines.some((l) => l.includes('skipped:subject-not-accessible-403'))).toBe(true);
  });

  it('a transient failure of the index write fails the Execute; the re-delivery then writes one entry', async () => {
    const image = await pushSmallImage(registry.host, 'org/flaky');
    const tag = tagOf(image.digest);
    proxy.failNext(20, { status: 503, retryAfter: 0, match: { method: 'PUT', path: `/v2/org/flaky/manifests/${tag}` } });
    const attached = await plugin.fanout.attach(AttachRequest.fromPartial({ payload: json({ referrers: 'oci' }), registrationInfo: registration }));
    const request = ExecuteRequest.fromPartial({
      registrationInfo: registration,
      attachmentInfo: { configuration: attached.configuration },
      envelope: envelopeFor([{ name: `${proxy.host}/org/flaky`, digest: image.digest }], 'flaky'),
    });
    await expect(plugin.fanout.execute(request)).rejects.toMatchObject({ details: expect.stringContaining('503') });
    expect(await listTags(registry.host, 'org/flaky')).toEqual(['v1']);
    proxy.reset();
    await plugin.fanout.execute(request);
    const index = await fetch(`http://${registry.host}/v2/org/flaky/manifests/${tag}`, { headers: { accept: INDEX } });
    expect(((await index.json()) as { manifests: unknown[] }).manifests).toHaveLength(1);
  }, 60_000);
});
