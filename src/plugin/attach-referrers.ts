/**
 * After the main artifact is pushed: make the attestation findable from each
 * eligible subject image, as OCI referrer and/or cosign `.att` layer. A
 * subject we may not or cannot write to is logged at warn and skipped; a
 * transient registry failure fails Execute so Chainloop retries it (every
 * step is idempotent, so the retry adds nothing twice).
 */
import { childRepository, isTemporary, AbortedError, type RegistryClient, type Repository } from '../oci';
import { quoteInput } from '../util/safe-text';
import type { AttestationArtifact } from './artifact';
import { PREDICATE_TYPE_ANNOTATION } from './annotations';
import { wantsCosign, wantsOci, type AttachmentOptions } from './attachment-options';
import { buildCosignAtt, cosignAttLayer, COSIGN_MAX_LAYERS, type AttLayer } from './layouts/cosign-att';
import { buildOciReferrer, EMPTY_CONFIG, EMPTY_CONFIG_BYTES } from './layouts/oci-referrer';
import type { Logger } from './logger';
import type { Statement } from './statement';
import { selectImageSubjects, type ImageSubject } from './subjects';

export interface ReferrersInput {
  client: RegistryClient;
  /** The registered repository (its host is the only one subjects may be on). */
  repository: Repository;
  options: AttachmentOptions;
  statement: Statement | undefined;
  artifact: AttestationArtifact;
  /** Where the main artifact (and so the envelope blob) went: the mount source. */
  artifactRepository: Repository;
  annotations: Record<string, string>;
  logger: Logger;
  signal?: AbortSignal;
}

export interface ReferrerResult {
  subject: string;
  scheme: 'oci' | 'cosign';
  repository: string;
  outcome: string;
}

export async function attachReferrers(input: ReferrersInput): Promise<ReferrerResult[]> {
  const { options, logger } = input;
  if (!wantsOci(options) && !wantsCosign(options)) return [];
  const { eligible, skipped } = selectImageSubjects(input.statement, input.repository);
  for (const s of skipped) logger.warn('subject skipped', { subject: quoteInput(s.name), outcome: `skipped:${s.reason}` });
  const results: ReferrerResult[] = [];
  for (const subject of eligible) {
    const target = options.referrersLocation === 'repository' ? childRepository(input.repository, options.prefix) : subject.repository;
    const subjectName = `${subject.repository.toString()}@${subject.digest}`;
    const record = (scheme: 'oci' | 'cosign', outcome: string): void => {
      const r = { subject: subjectName, scheme, repository: target.toString(), outcome };
      results.push(r);
      (outcome.startsWith('skipped') || outcome.startsWith('failed') ? logger.warn : logger.info).call(logger, 'referrer', { ...r, layout: scheme });
    };
    // Always the subject's own repository: the HEAD is what keeps us from writing tags for images that do not exist.
    const lookup = await guard(() => input.client.headSubject(subject.repository, subject.digest, sig(input)));
    if ('failed' in lookup) {
      for (const scheme of schemes(options)) record(scheme, lookup.failed);
      continue;
    }
    if ('unreadable' in lookup) {
      for (const scheme of schemes(options)) record(scheme, `skipped:subject-not-accessible-${lookup.unreadable}`);
      continue;
    }
    if (wantsOci(options)) record('oci', await guardOutcome(() => pushOci(input, subject, target, lookup.found)));
    if (wantsCosign(options)) record('cosign', await guardOutcome(() => pushCosign(input, subject, target)));
  }
  return results;
}

function pushOci(input: ReferrersInput, subject: ImageSubject, target: Repository, descriptor: { mediaType: string; digest: string; size: number }): Promise<string> {
  const layer = input.artifact.layer;
  const manifest = buildOciReferrer(layer.descriptor, descriptor, input.annotations);
  return input.client.pushReferrer(
    target,
    {
      manifest,
      blobs: [
        { digest: EMPTY_CONFIG.digest, bytes: EMPTY_CONFIG_BYTES },
        { digest: layer.descriptor.digest, bytes: layer.bytes },
      ],
      subjectDigest: subject.digest,
      mountFrom: input.artifactRepository,
    },
    sig(input),
  );
}

async function pushCosign(input: ReferrersInput, subject: ImageSubject, target: Repository): Promise<string> {
  const layer = input.artifact.layer;
  await input.client.ensureBlob(target, layer.descriptor.digest, layer.bytes, input.artifactRepository, sig(input));
  const ours: AttLayer = cosignAttLayer(layer.descriptor, input.annotations[PREDICATE_TYPE_ANNOTATION]);
  return input.client.appendAttLayer(
    target,
    subject.digest,
    { layerDigest: layer.descriptor.digest, maxLayers: COSIGN_MAX_LAYERS, build: (existing, docker) => buildCosignAtt(existing, ours, docker) },
    sig(input),
  );
}

function schemes(o: AttachmentOptions): Array<'oci' | 'cosign'> {
  return [...(wantsOci(o) ? (['oci'] as const) : []), ...(wantsCosign(o) ? (['cosign'] as const) : [])];
}

function sig(input: ReferrersInput): { signal?: AbortSignal } {
  return input.signal ? { signal: input.signal } : {};
}

/** Transient failures and cancels propagate (Execute fails, Chainloop retries); permanent ones become an outcome. */
async function guard<T extends object>(fn: () => Promise<T>): Promise<T | { failed: string }> {
  try {
    return await fn();
  } catch (err) {
    if (isTemporary(err) || err instanceof AbortedError) throw err;
    return { failed: `failed:${(err as { code?: unknown })?.code ?? 'UNKNOWN'}` };
  }
}

async function guardOutcome(fn: () => Promise<string>): Promise<string> {
  const r = await guard(async () => ({ outcome: await fn() }));
  return 'failed' in r ? r.failed : r.outcome;
}
