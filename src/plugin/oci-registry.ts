import { childRepository, parseRepository, type Repository, type StreamedUpload } from '../oci';
import { quoteInput } from '../util/safe-text';
import { parseJsonObject, SchemaValidationError, validateAttachment, validateRegistration } from '../schema';
import { buildAttestationArtifact } from './artifact';
import { workflowAnnotations } from './annotations';
import { parseEnvelope } from './envelope';
import { attachReferrers } from './attach-referrers';
import { DEFAULT_PREFIX, resolveAttachmentOptions, storedAttachmentOptions, type AttachmentOptions } from './attachment-options';
import { perAttestationTarget, type ArtifactTarget } from './layouts/per-attestation';
import { singleRepositoryTarget } from './layouts/single';
import { takePrestagedLayer } from './layer-prestage';
import { readStatement } from './statement';
import type { ClientPool } from './client-pool';
import { PluginInputError, StageError } from './errors';
import type { Logger } from './logger';

export const PLUGIN_ID = 'oci-registry';
export const PLUGIN_DESCRIPTION = 'Send attestations to a compatible OCI registry';
export { DEFAULT_PREFIX };
/** Register proves push access by opening (and cancelling) an upload here. */
export const PUSH_CHECK_REPOSITORY = 'chainloop-test';

export interface RegistrationResult {
  configuration: { repository: string };
  credentials: { username: string; password: string };
}

export interface PushResult {
  reference: string;
  digest: string;
  size: number;
}

/** What Execute receives, already unwrapped from the protobuf messages. */
export interface ExecuteInput {
  registrationConfiguration?: Uint8Array;
  credentials?: { username: string; password: string };
  attachmentConfiguration?: Uint8Array;
  envelope?: Uint8Array;
}

/**
 * The oci-registry fan-out plugin: registration proves the credentials can
 * push; each execution pushes one attestation as an OCI artifact at
 * `<repository>/<prefix>-<sha256 of the envelope>:latest`.
 */
export class OciRegistryPlugin {
  constructor(
    private readonly clients: ClientPool,
    private readonly logger: Logger,
  ) {}

  /** Schema and repository syntax, without touching the network. */
  checkRegistration(payload: Uint8Array): { repository: Repository; username: string; password: string } {
    const input = validateRegistration(payload);
    return { repository: parseRepository(input.repository), username: input.username, password: input.password };
  }

  /** Schema and prefix syntax; the prefix must form valid repository names below `repository`. */
  checkAttachment(payload: Uint8Array, repository?: Repository): ReturnType<typeof storedAttachmentOptions> {
    const options = resolveAttachmentOptions(validateAttachment(payload) as Record<string, unknown>);
    const base = repository ?? parseRepository('localhost/chainloop');
    artifactTarget(base, options, '0'.repeat(64));
    if (options.referrersLocation === 'repository') artifactTarget(base, { ...options, layout: 'single' }, '0'.repeat(64));
    return storedAttachmentOptions(options);
  }

  async register(payload: Uint8Array, signal?: AbortSignal): Promise<RegistrationResult> {
    const { repository, username, password } = this.checkRegistration(payload);
    const client = this.clients.get(repository.registry, { username, password });
    await staged('push permission check', repository.registry, () =>
      client.checkPushPermission(childRepository(repository, PUSH_CHECK_REPOSITORY), { signal }),
    );
    this.logger.info('registration verified: the credentials can push', { repository: repository.toString() });
    return { configuration: { repository: repository.toString() }, credentials: { username, password } };
  }

  attach(payload: Uint8Array, registrationConfiguration?: Uint8Array): ReturnType<typeof storedAttachmentOptions> {
    const repository = registrationConfiguration?.byteLength
      ? readRegistrationConfiguration(registrationConfiguration)
      : undefined;
    return this.checkAttachment(payload, repository);
  }

  /**
   * For a large envelope still arriving: starts its layer's upload from the
   * request's settings, into the repository the layout names when that does
   * not depend on the digest, else into the one Register proved it can push
   * to (then mounted across). Undefined when the settings are not usable:
   * Execute reports that, not this.
   */
  startLayerUpload(input: Omit<ExecuteInput, 'envelope'>, length: number): StreamedUpload | undefined {
    try {
      const { repository, options, username, password } = this.readSettings(input);
      const staging =
        options.layout === 'single' ? artifactTarget(repository, options, '0'.repeat(64)).repository : childRepository(repository, PUSH_CHECK_REPOSITORY);
      return this.clients.get(repository.registry, { username, password }).startStreamedUpload(staging, length);
    } catch {
      return undefined;
    }
  }

  async execute(input: ExecuteInput, signal?: AbortSignal): Promise<PushResult> {
    const streamed = input.envelope?.byteLength ? takePrestagedLayer(input.envelope) : undefined;
    try {
      return await this.push(input, streamed, signal);
    } finally {
      streamed?.cancel('the Execute ended before the streamed upload was used'); // a no-op once finished
    }
  }

  private readSettings(input: Omit<ExecuteInput, 'envelope'>) {
    if (!input.registrationConfiguration?.byteLength) {
      throw new PluginInputError('the request has no registration configuration');
    }
    const { username, password } = input.credentials ?? {};
    if (!username || !password) throw new PluginInputError('the request has no registry credentials');
    const repository = readRegistrationConfiguration(input.registrationConfiguration);
    const options = input.attachmentConfiguration?.byteLength
      ? readAttachmentConfiguration(input.attachmentConfiguration)
      : resolveAttachmentOptions({});
    return { repository, options, username, password };
  }

  private async push(input: ExecuteInput, streamed: StreamedUpload | undefined, signal?: AbortSignal): Promise<PushResult> {
    if (!input.envelope?.byteLength) throw new PluginInputError('the request has no attestation envelope');
    const { repository, options, username, password } = this.readSettings(input);
    const started = performance.now();
    const parsed = parseEnvelope(input.envelope);
    const statement = readStatement(input.envelope, parsed);
    const annotations = workflowAnnotations(statement);
    const artifact = buildAttestationArtifact(input.envelope, annotations, parsed);
    const { repository: target, tag } = artifactTarget(repository, options, artifact.envelopeHex);
    const client = this.clients.get(repository.registry, { username, password });
    await staged('blob upload', repository.registry, () =>
      pushBoth(signal, (both) => [
        client.pushBlob(target, artifact.config.bytes, { signal: both, digest: artifact.config.descriptor.digest }),
        streamed
          ? streamed.finish(target, artifact.layer.descriptor.digest, artifact.layer.bytes, both)
          : client.pushBlob(target, artifact.layer.bytes, { signal: both, digest: artifact.layer.descriptor.digest }),
      ]),
    );
    const digest = await staged('manifest upload', repository.registry, () =>
      client.pushManifest(target, tag, artifact.manifest.bytes, artifact.manifest.mediaType, { signal }),
    );
    const result = { reference: `${target.toString()}:${tag}`, digest, size: artifact.layer.descriptor.size };
    this.logger.info('attestation pushed', { ...result, ms: Math.round(performance.now() - started) });
    await attachReferrers({
      client,
      repository,
      options,
      statement,
      artifact,
      artifactRepository: target,
      annotations,
      logger: this.logger,
      ...(signal ? { signal } : {}),
    });
    return result;
  }
}

/** Names the step and registry in whatever `op` throws, for the status message. */
async function staged<T>(stage: string, registry: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw new StageError(stage, registry, err);
  }
}

/**
 * Runs the blob uploads side by side; the first failure cancels the other,
 * so a failed Execute leaves no upload retrying after the call has answered.
 */
async function pushBoth(signal: AbortSignal | undefined, start: (both: AbortSignal) => Promise<unknown>[]): Promise<void> {
  // A plain controller fed by the call's signal, not AbortSignal.any: on Node 20
  // a derived signal can be garbage-collected while work still waits on it.
  const siblings = new AbortController();
  const both = siblings.signal;
  const forward = (): void => siblings.abort(signal?.reason);
  if (signal?.aborted) forward();
  else signal?.addEventListener('abort', forward, { once: true });
  let failure: { error: unknown } | undefined;
  const uploads = start(both).map((p) =>
    p.catch((error: unknown) => {
      // Keep the failure that caused the cancel, not the cancel it caused.
      failure ??= { error };
      siblings.abort();
    }),
  );
  try {
    await Promise.all(uploads);
  } finally {
    signal?.removeEventListener('abort', forward);
  }
  if (failure) throw failure.error;
}

/** Where the layout puts the artifact, or a clear error when the prefix can't form a valid name. */
function artifactTarget(repository: Repository, options: AttachmentOptions, hex: string): ArtifactTarget {
  const { prefix } = options;
  try {
    const build = options.layout === 'single' ? singleRepositoryTarget : perAttestationTarget;
    return build(repository, prefix, { envelopeHex: hex });
  } catch (err) {
    throw new PluginInputError(
      `the prefix ${quoteInput(prefix)} does not form a valid OCI repository name below ${repository.toString()}: ` +
        'use lower-case letters, digits and single separators (. _ - /)' +
        (err instanceof Error ? ` (${err.message})` : ''),
    );
  }
}

/** The configuration Register stored: `{"repository": "..."}` and nothing else we need. */
function readRegistrationConfiguration(bytes: Uint8Array): Repository {
  const config = readConfiguration(bytes, 'registration');
  if (typeof config.repository !== 'string' || config.repository === '') {
    throw new PluginInputError("the registration configuration has no 'repository': register the integration again");
  }
  return parseRepository(config.repository);
}

/** The configuration Attach stored: `{"prefix": "...", ...}`; absent options mean their defaults. */
function readAttachmentConfiguration(bytes: Uint8Array): AttachmentOptions {
  return resolveAttachmentOptions(readConfiguration(bytes, 'attachment'));
}

function readConfiguration(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    return parseJsonObject(bytes);
  } catch (err) {
    const why = err instanceof SchemaValidationError ? err.message.replace(/^the payload/, 'it') : 'it is unreadable';
    throw new PluginInputError(`the ${what} configuration is not one this plugin wrote: ${why}`);
  }
}
