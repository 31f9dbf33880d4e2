import { createHash } from 'node:crypto';

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
// OCI image-spec digest grammar; only sha256 is produced or verified here.
const ANY_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** "sha256:<hex>" of the bytes; hashes the view in place (no copy). */
export function sha256Digest(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function isSha256Digest(s: string): boolean {
  return SHA256_DIGEST.test(s);
}

export function isDigest(s: string): boolean {
  return ANY_DIGEST.test(s);
}
