export { parseRepository, childRepository, isValidTag, type Repository } from './reference';
export {
  OciError,
  InvalidReferenceError,
  RegistryError,
  RegistryUnreachableError,
  AuthenticationError,
  PermissionError,
  DigestMismatchError,
  InsecureRequestError,
  TagImmutableError,
  AbortedError,
  isTemporary,
  abortedFromSignal,
  type RegistryErrorDetail,
} from './errors';
export { RegistryClient, type CallOptions } from './client';
export type { FetchedManifest } from './manifest';
// Referrers: OCI 1.1 (API or fallback index) and cosign's .att.
export type { SubjectDescriptor, SubjectLookup, ReferrersListing } from './referrers';
export type { Referrer, ReferrerOutcome } from './push-referrer';
export type { AttAppend, AttOutcome } from './cosign-att';
export type { CurrentManifest } from './tag-update';
export type { StreamedUpload, StreamedOutcome } from './streamed-upload';
export { fallbackTag, readIndex, type FallbackOutcome } from './fallback-index';
export { attTag } from './cosign-att';
export {
  defaultClientOptions,
  DEFAULT_RETRY,
  FAST_RETRY,
  DEFAULT_USER_AGENT,
  DEFAULT_CALL_BUDGETS,
  executeBudgetMs,
  TIME_LIMIT_ENV,
  timeLimitsFromEnv,
  type CallBudgets,
  type TimeLimits,
  type Timeouts,
  type ClientOptions,
  type Credentials,
  type Logger,
  type LogLevel,
  type ResolvedClientOptions,
} from './options';
export type { RetryOptions } from './retry';
export { sha256Digest, isSha256Digest } from './digest';
export { MEDIA_TYPES } from './media-types';
export { credentialForms, redactUrl, scrubSecrets } from './redact';
export { closeSharedDispatcher } from './http';
export { configureTrust, loadTrustStore, type TrustEnv } from './trust-store';
