/**
 * Helpers for the referrer suites: a small image pushed straight to a
 * loopback registry, DSSE envelopes whose statement names it, and plain
 * reads of tags and manifests (with every manifest type in Accept).
 */
import { createHash } from 'node:crypto';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface PushedImage {
  name: string;
  digest: string;
  size: number;
}

async function putBlob(base: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha(data);
  const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
  if (post.status !== 202) throw new Error(`POST upload: ${post.status}`);
  const loc = new URL(post.headers.get('location') ?? '', base);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(10_000) });
  if (put.status !== 201) throw new Error(`PUT blob: ${put.status}`);
  return digest;
}

/** Pushes manifest bytes at `reference`; returns their digest. */
export async function putManifest(base: string, repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': mediaType },
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 201) throw new Error(`PUT manifest ${reference}: ${res.status} ${await res.text()}`);
  return sha(bytes);
}

export const OCI_IMAGE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** The blobs and manifest of a tiny one-layer OCI image; `seed` makes its digest distinct. */
export function smallImage(seed: string): { layer: Buffer; config: Buffer; manifest: Buffer } {
  const layer = Buffer.from(`hello ${seed}\n`);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_IMAGE_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
    }),
  );
  return { layer, config, manifest };
}

/** A one-layer OCI image at `<host>/<repo>:<tag>` (anonymous registry). */
export async function pushSmallImage(host: string, repo: string, tag = 'v1', seed = 'layer'): Promise<PushedImage> {
  const base = `http://${host}`;
  const { layer, config, manifest } = smallImage(seed);
  await putBlob(base, repo, config);
  await putBlob(base, repo, layer);
  const digest = await putManifest(base, repo, tag, manifest, OCI_IMAGE_MANIFEST);
  return { name: `${host}/${repo}`, digest, size: manifest.length };
}

/** A DSSE envelope (unsigned, as for a test) whose in-toto statement names `image` as a CONTAINER_IMAGE subject. */
export function envelopeFor(images: Array<{ name: string; digest: string }>, runId = 'run-1'): Buffer {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [
      { name: 'chainloop.workflow.build', digest: { sha256: createHash('sha256').update(runId).digest('hex') } },
      ...images.map((i) => ({
        name: i.name,
        digest: { sha256: i.digest.replace(/^sha256:/, '') },
        annotations: { 'chainloop.material.name': 'image', 'chainloop.material.type': 'CONTAINER_IMAGE' },
      })),
    ],
    predicateType: 'chainloop.dev/attestation/v0.2',
    predicate: {
      metadata: { name: 'build', project: 'shop', team: 'core', organization: 'acme', workflowID: 'wf-1', workflowRunID: runId, finishedAt: '2024-05-06T07:08:09.123Z' },
      runnerType: 'GITHUB_ACTION',
      runnerURL: 'https://github.com/acme/shop/actions/runs/1',
    },
  };
  return Buffer.from(
    JSON.stringify({
      payloadType: 'application/vnd.in-toto+json',
      payload: Buffer.from(JSON.stringify(statement)).toString('base64'),
      signatures: [{ keyid: '', sig: 'MEUCIQ' + runId }],
    }),
  );
}

export interface Fetched {
  status: number;
  bytes: Buffer;
  json: any;
  digest: string;
}

export async function getManifest(host: string, repo: string, reference: string): Promise<Fetched> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, { headers: { accept: ACCEPT }, signal: AbortSignal.timeout(10_000) });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString());
  } catch {
    json = undefined;
  }
  return { status: res.status, bytes, json, digest: sha(bytes) };
}

export async function listTags(host: string, repo: string): Promise<string[]> {
  const res = await fetch(`http://${host}/v2/${repo}/tags/list`, { signal: AbortSignal.timeout(10_000) });
  if (res.status === 404) return [];
  const body = (await res.json()) as { tags?: string[] | null };
  return (body.tags ?? []).sort();
}

export const tagOf = (digest: string) => digest.replace(':', '-');
