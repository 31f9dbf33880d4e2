/**
 * RegistryClient: the public entry point. One instance per (registry,
 * credentials) keeps auth state warm so repeated pushes stay within a small
 * request budget.
 */
import { Authorizer } from './auth/authorizer';
import { blobExists, getBlob } from './blob';
import { pushBlob } from './upload';
import { InvalidReferenceError } from './errors';
import { isSha256Digest, sha256Digest } from './digest';
import { HttpTransport } from './http';
import { getManifest, pushManifest, type FetchedManifest } from './manifest';
import { defaultClientOptions, type ClientOptions, type ResolvedClientOptions } from './options';
import type { Repository } from './reference';
import { discard } from './response';
import { withRetry } from './retry';
import { retryContext, sendToUpload, startUpload, type Session } from './session';
import { appendAttLayer, type AttAppend, type AttOutcome } from './cosign-att';
import { ensureBlob, type EnsureOutcome } from './blob-mount';
import { pushReferrer, type Referrer, type ReferrerOutcome } from './push-referrer';
import { headSubject, listReferrers, ReferrersSupportCache, type ReferrersListing, type SubjectLookup } from './referrers';
import { readTag, type CurrentManifest } from './tag-update';
import { StreamedUpload } from './streamed-upload';

export interface CallOptions {
  signal?: AbortSignal;
}

export class RegistryClient {
  private readonly opts: ResolvedClientOptions;
  private readonly session: Session;
  /** Per registry and repository: whether the referrers API exists (see referrers.ts). */
  private readonly referrersSupport = new ReferrersSupportCache();

  constructor(options?: ClientOptions) {
    this.opts = defaultClientOptions(options);
    const transport = new HttpTransport(this.opts.dispatcher, this.opts.userAgent, this.opts.logger, this.opts.traceRequests, this.opts.timeouts);
    this.session = { transport, auth: new Authorizer(transport, this.opts), opts: this.opts, chunkedOnly: new Set() };
  }

  /** Count of HTTP requests sent (for tests/benchmarks). */
  get requestCount(): number {
    return this.session.transport.requestCount;
  }

  /**
   * Like go-containerregistry's CheckPushPermission: opens an upload session
   * with push scope, then deletes it. Throws AuthenticationError,
   * PermissionError, RegistryUnreachableError or RegistryError.
   */
  async checkPushPermission(repo: Repository, opts: CallOptions = {}): Promise<void> {
    const s = this.session;
    await withRetry(
      async () => {
        const target = await startUpload(s, repo, opts.signal);
        // Cleanup only: registries may answer 204, 404 or 405 and all are fine.
        const res = await sendToUpload(s, repo, target, { method: 'DELETE' }, opts.signal)
          .catch((err: unknown) => {
            this.opts.logger('debug', 'could not cancel probe upload session', { error: String((err as Error)?.message ?? err) });
            return undefined;
          });
        if (res) await discard(res);
      },
      this.opts.retry,
      retryContext(s, 'push permission check', opts.signal),
    );
  }

  /** POST + PUT ?digest=; returns "sha256:<hex>". Idempotent. */
  async pushBlob(repo: Repository, data: Uint8Array, opts: CallOptions & { digest?: string } = {}): Promise<string> {
    if (opts.digest !== undefined && !isSha256Digest(opts.digest)) {
      throw new InvalidReferenceError(opts.digest, 'expected sha256:<64 hex>', 'digest');
    }
    const digest = opts.digest ?? sha256Digest(data);
    return pushBlob(this.session, repo, data, digest, opts.signal);
  }

  /**
   * Starts uploading a blob of `length` bytes into `staging` as its bytes
   * arrive (streamed-upload.ts); the caller writes them, then finishes it
   * with the digest and the repository the blob belongs in.
   */
  startStreamedUpload(staging: Repository, length: number): StreamedUpload {
    return new StreamedUpload(this.session, staging, length);
  }

  /** PUT manifests/<tag>; verifies Docker-Content-Digest when present. Returns the digest. */
  pushManifest(repo: Repository, tag: string, manifest: Uint8Array, mediaType: string, opts: CallOptions = {}): Promise<string> {
    return pushManifest(this.session, repo, tag, manifest, mediaType, opts.signal);
  }

  getManifest(repo: Repository, reference: string, opts: CallOptions = {}): Promise<FetchedManifest> {
    return getManifest(this.session, repo, reference, opts.signal);
  }

  getBlob(repo: Repository, digest: string, opts: CallOptions = {}): Promise<Uint8Array> {
    return getBlob(this.session, repo, digest, opts.signal);
  }

  /** True when the registry holds the blob in this repository. */
  blobExists(repo: Repository, digest: string, opts: CallOptions = {}): Promise<boolean> {
    return blobExists(this.session, repo, digest, opts.signal);
  }

  /** The subject's descriptor from a HEAD; 401/403/404 come back as `unreadable`. */
  headSubject(repo: Repository, digest: string, opts: CallOptions = {}): Promise<SubjectLookup> {
    return headSubject(this.session, repo, digest, opts.signal);
  }

  /** HEAD, then mount from `from` (same registry), then upload. */
  ensureBlob(repo: Repository, digest: string, data: Uint8Array, from?: Repository, opts: CallOptions = {}): Promise<EnsureOutcome> {
    return ensureBlob(this.session, repo, digest, data, from, opts.signal);
  }

  /** An OCI 1.1 referrer, listed by the registry's API or the fallback index. */
  pushReferrer(repo: Repository, referrer: Referrer, opts: CallOptions = {}): Promise<ReferrerOutcome> {
    return pushReferrer(this.session, this.referrersSupport, repo, referrer, opts.signal);
  }

  /** Appends a layer to cosign's `sha256-<hex>.att` manifest. */
  appendAttLayer(repo: Repository, subjectDigest: string, add: AttAppend, opts: CallOptions = {}): Promise<AttOutcome> {
    return appendAttLayer(this.session, repo, subjectDigest, add, opts.signal);
  }

  /** The referrers of a digest, from the referrers API or the fallback tag. */
  listReferrers(repo: Repository, digest: string, opts: CallOptions = {}): Promise<ReferrersListing> {
    return listReferrers(this.session, repo, digest, opts.signal);
  }

  /** A tag's manifest with its ETag, or undefined on 404. */
  readTag(repo: Repository, tag: string, opts: CallOptions = {}): Promise<CurrentManifest | undefined> {
    return readTag(this.session, repo, tag, opts.signal);
  }

  /**
   * Releases resources. The default dispatcher is shared process-wide and a
   * caller-supplied one belongs to the caller, so neither is closed here.
   */
  async close(): Promise<void> {
    // Nothing owned: see above.
  }
}
