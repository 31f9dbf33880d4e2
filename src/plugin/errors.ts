import { status as Code, type StatusObject, Metadata } from '@grpc/grpc-js';
import {
  AbortedError,
  abortedFromSignal,
  AuthenticationError,
  DigestMismatchError,
  InsecureRequestError,
  InvalidReferenceError,
  PermissionError,
  RegistryError,
  RegistryUnreachableError,
  TagImmutableError,
  scrubSecrets,
} from '../oci';
import { SchemaValidationError } from '../schema';
import { wellFormed } from '../util/safe-text';
import { EnvelopeError } from './artifact';

/** Input the user or the host sent that we cannot act on. */
export class PluginInputError extends Error {
  readonly code = 'INVALID_INPUT';
}

/**
 * A failure annotated with the step of the call it happened in and the
 * registry it was talking to; classified by its cause.
 */
export class StageError extends Error {
  constructor(
    readonly stage: string,
    readonly registry: string,
    cause: unknown,
  ) {
    super(`during the ${stage} at ${registry}`, { cause });
  }
}

/** A gRPC status with a user-safe message; `cause` stays inside the process (logs). */
export interface PluginStatus {
  code: Code;
  message: string;
  /** Whether the failure is worth logging at error level (not the caller's fault). */
  internal: boolean;
}

/**
 * Turns anything thrown by a handler into one gRPC status. The host shows
 * users only the message, so it says what went wrong and what to check; the
 * known secrets of the call, and their base64 forms, are scrubbed from it as
 * a last line of defence.
 */
export function toPluginStatus(err: unknown, secrets: readonly string[] = []): PluginStatus {
  const s = classify(err);
  const forms = secrets.flatMap((secret) => [secret, Buffer.from(secret).toString('base64')]);
  return { ...s, message: scrubSecrets(s.message, forms) };
}

/** The StatusObject grpc-js expects in a unary callback. */
export function toServiceError(s: PluginStatus): Partial<StatusObject> {
  return { code: s.code, details: wellFormed(s.message), metadata: new Metadata() };
}

function classify(err: unknown): PluginStatus {
  if (err instanceof StageError) {
    const inner = classify(err.cause);
    // Appended, so messages still start with what went wrong (README troubleshooting).
    return { ...inner, message: `${inner.message} (during the ${err.stage} at ${err.registry})` };
  }
  // A signal's own reason that reached the edge untyped: still a deadline or a cancellation, not ours.
  if (isAbortReason(err)) return classify(abortedFromSignal({ reason: err } as AbortSignal));
  const user = (code: Code, message: string): PluginStatus => ({ code, message, internal: false });
  if (err instanceof SchemaValidationError) return user(Code.INVALID_ARGUMENT, `invalid input: ${err.message}`);
  if (err instanceof PluginInputError || err instanceof InvalidReferenceError || err instanceof EnvelopeError) {
    return user(Code.INVALID_ARGUMENT, err.message);
  }
  if (err instanceof AuthenticationError) {
    return user(Code.UNAUTHENTICATED, `the provided credentials are invalid: ${err.message}`);
  }
  if (err instanceof PermissionError) {
    return user(Code.PERMISSION_DENIED, `the provided credentials don't have write permissions: ${err.message}`);
  }
  if (err instanceof RegistryUnreachableError) return user(Code.UNAVAILABLE, err.message);
  if (err instanceof AbortedError) {
    return err.deadline
      ? user(Code.DEADLINE_EXCEEDED, `the registry did not finish before the call deadline (${err.message})`)
      : user(Code.CANCELLED, `the call was cancelled (${err.message})`);
  }
  if (err instanceof InsecureRequestError) return user(Code.FAILED_PRECONDITION, err.message);
  if (err instanceof TagImmutableError) return user(Code.FAILED_PRECONDITION, err.message);
  if (err instanceof DigestMismatchError) return { code: Code.DATA_LOSS, message: err.message, internal: true };
  if (err instanceof RegistryError) return fromRegistryError(err);
  return { code: Code.INTERNAL, message: 'internal error in the oci-registry plugin (see the plugin logs)', internal: true };
}

function isAbortReason(err: unknown): boolean {
  // DOMException may come from another realm (e.g. under jest), so test the name only.
  const name = typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined;
  return (name === 'TimeoutError' || name === 'AbortError') && !(err instanceof AbortedError);
}

/** Every registry answer gets a code that says whose move it is; never UNKNOWN. */
function fromRegistryError(err: RegistryError): PluginStatus {
  const codes = err.errors.map((e) => e.code);
  const as = (code: Code, internal = false, message = err.message): PluginStatus => ({ code, message, internal });
  if (err.isTemporary()) return as(Code.UNAVAILABLE);
  if (err.status === 401) return as(Code.UNAUTHENTICATED);
  if (err.status === 403) return as(Code.PERMISSION_DENIED);
  if (err.status === 404 || codes.includes('NAME_UNKNOWN')) return as(Code.NOT_FOUND);
  if (err.status === 409 || err.status === 412) return as(Code.FAILED_PRECONDITION);
  if (err.status === 413) return as(Code.RESOURCE_EXHAUSTED);
  if (err.status === 405 || err.status === 501) {
    return as(Code.UNIMPLEMENTED, false, `the registry does not support this operation: ${err.message}`);
  }
  if (err.status >= 300 && err.status < 400) {
    return as(Code.FAILED_PRECONDITION, false, `the registry answered with a redirect that cannot be followed: ${err.message}`);
  }
  if (err.status >= 500) return as(Code.UNAVAILABLE);
  if (err.status >= 400) return as(Code.FAILED_PRECONDITION, err.status === 400);
  // 1xx/2xx where another answer was due: the registry broke the protocol.
  return as(Code.INTERNAL, true, `the registry answered unexpectedly: ${err.message}`);
}

