import { status as Code, type StatusObject, Metadata } from '@grpc/grpc-js';
import {
  AbortedError,
  AuthenticationError,
  DigestMismatchError,
  InsecureRequestError,
  InvalidReferenceError,
  PermissionError,
  RegistryError,
  RegistryUnreachableError,
  scrubSecrets,
} from '../oci';
import { SchemaValidationError } from '../schema';
import { wellFormed } from '../util/safe-text';
import { EnvelopeError } from './artifact';

/** Input the user or the host sent that we cannot act on. */
export class PluginInputError extends Error {
  readonly code = 'INVALID_INPUT';
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
  if (err instanceof DigestMismatchError) return { code: Code.DATA_LOSS, message: err.message, internal: true };
  if (err instanceof RegistryError) return fromRegistryError(err);
  return { code: Code.INTERNAL, message: 'internal error in the oci-registry plugin (see the plugin logs)', internal: true };
}

function fromRegistryError(err: RegistryError): PluginStatus {
  const codes = err.errors.map((e) => e.code);
  if (err.isTemporary()) return { code: Code.UNAVAILABLE, message: err.message, internal: false };
  if (err.status === 401) return { code: Code.UNAUTHENTICATED, message: err.message, internal: false };
  if (err.status === 403) return { code: Code.PERMISSION_DENIED, message: err.message, internal: false };
  if (err.status === 404 || codes.includes('NAME_UNKNOWN')) return { code: Code.NOT_FOUND, message: err.message, internal: false };
  if (err.status === 400) return { code: Code.FAILED_PRECONDITION, message: err.message, internal: true };
  return { code: Code.UNKNOWN, message: err.message, internal: true };
}

