/**
 * `host discover IMAGE@sha256:DIGEST`: lists the Chainloop attestations that
 * point at an image, per scheme: OCI referrers (API or fallback index) and
 * cosign's `.att`. For users without oras or cosign, and for the tests.
 * Talks to the image's registry only, with the credentials given.
 */
import { attTag, parseRepository, RegistryClient, type Repository } from '../oci';
import { workflowAnnotations } from '../plugin/annotations';
import { readStatement } from '../plugin/statement';

export interface DiscoverOptions {
  image: string;
  /** Where `referrersLocation=repository` put them (`<repository>/<prefix>`), instead of the image's repository. */
  repository?: string;
  username?: string;
  password?: string;
}

export interface DiscoveredAttestation {
  digest: string;
  predicateType?: string;
  annotations: Record<string, string>;
}

export interface DiscoverReport {
  subject: string;
  searched: string;
  /** `incomplete` says why not every page of the registry's referrers answer was read. */
  referrers: { source: 'api' | 'fallback' | 'none'; attestations: DiscoveredAttestation[]; incomplete?: string };
  cosign: { tag: string; attestations: DiscoveredAttestation[] };
}

const IN_TOTO = 'application/vnd.in-toto+json';
const CHAINLOOP_PREDICATE = /^chainloop\.dev\//;

/** `host/path@sha256:<64 hex>` → repository and digest; throws a usage message otherwise. */
export function parseImageDigest(image: string): { repository: Repository; digest: string } {
  const m = /^([^@\s]+)@(sha256:[0-9a-f]{64})$/.exec(image);
  if (!m) throw new Error(`expected IMAGE@sha256:<64 hex>, e.g. ghcr.io/org/app@sha256:…`);
  return { repository: parseRepository(m[1]!), digest: m[2]! };
}

export async function discover(o: DiscoverOptions): Promise<DiscoverReport> {
  const { repository: image, digest } = parseImageDigest(o.image);
  const searched = o.repository ? parseRepository(o.repository) : image;
  const client = new RegistryClient(o.username && o.password ? { credentials: { username: o.username, password: o.password } } : {});
  const signal = AbortSignal.timeout(60_000);
  const listing = await client.listReferrers(searched, digest, { signal });
  const att = await client.readTag(searched, attTag(digest), { signal });
  return {
    subject: `${image.toString()}@${digest}`,
    searched: searched.toString(),
    referrers: {
      source: listing.source,
      attestations: listing.manifests.flatMap(fromReferrer),
      ...(listing.incomplete ? { incomplete: listing.incomplete } : {}),
    },
    cosign: { tag: attTag(digest), attestations: att ? await withEnvelopeAnnotations(client, searched, fromAtt(att.bytes), signal) : [] },
  };
}

/** Envelopes read per listing at most, and their largest size: the workflow labels are inside them. */
const ENVELOPES_READ = 100;
const ENVELOPE_READ_LIMIT = 8 * 1024 * 1024;

/**
 * cosign's layers carry only the predicate type, so the workflow annotations
 * come from each envelope's statement, as the plugin derives them.
 */
async function withEnvelopeAnnotations(
  client: RegistryClient,
  repo: Repository,
  found: Array<DiscoveredAttestation & { size?: number }>,
  signal: AbortSignal,
): Promise<DiscoveredAttestation[]> {
  const out: DiscoveredAttestation[] = [];
  for (const [i, { size, ...entry }] of found.entries()) {
    if (i < ENVELOPES_READ && size !== undefined && size <= ENVELOPE_READ_LIMIT) {
      const envelope = await client.getBlob(repo, entry.digest, { signal });
      entry.annotations = workflowOnly(workflowAnnotations(readStatement(envelope)));
    }
    out.push(entry);
  }
  return out;
}

function fromReferrer(entry: unknown): DiscoveredAttestation[] {
  const e = entry as { digest?: unknown; artifactType?: unknown; annotations?: unknown };
  const annotations = stringRecord(e.annotations);
  const predicateType = annotations['in-toto.io/predicate-type'];
  if (typeof e.digest !== 'string' || e.artifactType !== IN_TOTO || !predicateType || !CHAINLOOP_PREDICATE.test(predicateType)) return [];
  return [{ digest: e.digest, predicateType, annotations: workflowOnly(annotations) }];
}

function fromAtt(bytes: Uint8Array): Array<DiscoveredAttestation & { size?: number }> {
  let layers: unknown;
  try {
    layers = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { layers?: unknown }).layers;
  } catch {
    return [];
  }
  if (!Array.isArray(layers)) return [];
  return layers.flatMap((l: { digest?: unknown; size?: unknown; annotations?: unknown }) => {
    const predicateType = stringRecord(l.annotations).predicateType;
    if (typeof l.digest !== 'string' || !predicateType || !CHAINLOOP_PREDICATE.test(predicateType)) return [];
    return [{ digest: l.digest, predicateType, annotations: {}, ...(typeof l.size === 'number' ? { size: l.size } : {}) }];
  });
}

/** The workflow labels and the creation time; the rest is noise for a listing. */
function workflowOnly(a: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(a).filter(([k]) => k.startsWith('dev.chainloop.') || k === 'org.opencontainers.image.created'));
}

function stringRecord(v: unknown): Record<string, string> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((kv): kv is [string, string] => typeof kv[1] === 'string'));
}
