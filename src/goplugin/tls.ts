/**
 * AutoMTLS certificates, made like go-plugin makes them: a fresh self-signed
 * ECDSA P-521 certificate for `localhost` that is its own CA and is good for
 * both server and client authentication (see self-signed.ts). The plugin
 * makes one per start; the TypeScript host (src/host) makes its client
 * certificate the same way.
 */
import { createSelfSigned, randomSerial } from './self-signed';

export interface GeneratedCertificate {
  /** PEM certificate. */
  certPem: string;
  /** PEM PKCS#8 private key. */
  keyPem: string;
  /** DER certificate. */
  certDer: Uint8Array;
}

export interface CertificateOptions {
  /** Clock for tests; notBefore is 30 s before it. */
  now?: Date;
  /** Validity after `now`; default 30 years like go-plugin. */
  validityMs?: number;
  commonName?: string;
}

const THIRTY_YEARS_MS = 262_980 * 60 * 60 * 1000;

/** A random 128-bit serial that DER encodes as a positive, minimal INTEGER. */
export function randomSerialHex(): string {
  return randomSerial().toString('hex');
}

function toPem(label: string, der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export async function generateCertificate(options: CertificateOptions = {}): Promise<GeneratedCertificate> {
  const now = options.now ?? new Date();
  const { certDer, privateKey } = await createSelfSigned({
    commonName: options.commonName ?? 'localhost',
    notBefore: new Date(now.getTime() - 30_000),
    notAfter: new Date(now.getTime() + (options.validityMs ?? THIRTY_YEARS_MS)),
  });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem: toPem('CERTIFICATE', certDer), keyPem, certDer: new Uint8Array(certDer) };
}
