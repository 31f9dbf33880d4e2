/**
 * The CA certificates registry TLS trusts: the same as Chainloop's Go control
 * plane trusts, plus what Node.js itself would.
 *
 * - Node's bundled Mozilla roots and `NODE_EXTRA_CA_CERTS`. Node adds the
 *   latter only to its default context; a context built here must add it too.
 * - Go's `crypto/x509` locations on Linux (root_linux.go, root_unix.go):
 *   `SSL_CERT_FILE`, else the first bundle of {@link GO_CERT_FILES} that can
 *   be read; and every file of each `SSL_CERT_DIR` directory (colon-separated),
 *   else of {@link GO_CERT_DIRECTORIES}. Chainloop's Helm chart mounts
 *   `customCAs` at /etc/pki/tls/certs for exactly this lookup.
 *
 * A file that cannot be read or holds an unparsable certificate gets one
 * warning that names it; its good certificates are kept, as Go keeps them.
 * No file is read twice (Debian's /etc/ssl/certs holds its own bundle and
 * links to the same certificates), and duplicates are dropped.
 */
import { X509Certificate } from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';

export const GO_CERT_FILES: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/pki/tls/cacert.pem',
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
  '/etc/ssl/cert.pem',
];
export const GO_CERT_DIRECTORIES: readonly string[] = ['/etc/ssl/certs', '/etc/pki/tls/certs'];

/** The environment variables that move the trust store; main.ts passes them in. */
export interface TrustEnv {
  SSL_CERT_FILE?: string | undefined;
  SSL_CERT_DIR?: string | undefined;
  NODE_EXTRA_CA_CERTS?: string | undefined;
}

export type TrustWarn = (message: string, fields: Record<string, unknown>) => void;

/** The file system calls the loader makes; tests count them. */
export interface TrustFs {
  readFileSync(file: string, encoding: 'latin1'): string;
  readdirSync(dir: string, options: { withFileTypes: true }): nodeFs.Dirent[];
  realpathSync(file: string): string;
}

export interface TrustStore {
  /** PEM certificates, bundled roots first, without duplicates. */
  certificates: string[];
  /** Every file read, by real path, in order. */
  filesRead: string[];
  /** A TLS context that trusts exactly `certificates`. */
  context: SecureContext;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export function loadTrustStore(
  env: TrustEnv,
  warn: TrustWarn,
  fs: TrustFs = nodeFs,
  bundled: readonly string[] = rootCertificates,
): TrustStore {
  const candidates: Array<{ pem: string; file?: string; source?: string }> = [];
  const seen = new Set<string>();
  const filesRead: string[] = [];
  const add = (pem: string, file?: string, source?: string): void => {
    const key = pem.replace(/\s+/g, '');
    if (seen.has(key)) return;
    seen.add(key);
    candidates.push({ pem, file, source });
  };
  bundled.forEach((pem) => add(pem));

  /** Reads one file's certificates; false when it could not be read (a missing file says nothing). */
  const readCertFile = (file: string, source: string): boolean => {
    let real: string;
    let text: string;
    try {
      real = fs.realpathSync(file);
      if (filesRead.includes(real)) return true;
      text = fs.readFileSync(real, 'latin1');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'EISDIR') {
        warn('skipping a CA certificate file that cannot be read', { file, source, reason: code ?? String(error) });
      }
      return false;
    }
    filesRead.push(real);
    const blocks = text.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) warn('skipping a CA certificate file that holds no PEM certificate', { file, source });
    for (const block of blocks) add(block, file, source);
    return true;
  };

  if (env.NODE_EXTRA_CA_CERTS) readCertFile(env.NODE_EXTRA_CA_CERTS, 'NODE_EXTRA_CA_CERTS');

  const bundles = env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : GO_CERT_FILES;
  for (const file of bundles) {
    if (readCertFile(file, env.SSL_CERT_FILE ? 'SSL_CERT_FILE' : 'system bundle')) break;
  }

  const directories = env.SSL_CERT_DIR ? env.SSL_CERT_DIR.split(':').filter(Boolean) : GO_CERT_DIRECTORIES;
  for (const dir of directories) {
    let entries: nodeFs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue; // Go skips a directory it cannot list, and so do we.
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.isDirectory()) continue;
      readCertFile(path.join(dir, entry.name), env.SSL_CERT_DIR ? 'SSL_CERT_DIR' : 'system directory');
    }
  }
  return { ...withoutUnparsable(candidates, warn), filesRead };
}

/**
 * Each certificate from a file is parsed once on its own (OpenSSL would skip
 * a bad one silently, and the file could not be named); Node's bundled roots
 * are known good.
 */
function withoutUnparsable(
  candidates: Array<{ pem: string; file?: string; source?: string }>,
  warn: TrustWarn,
): { certificates: string[]; context: SecureContext } {
  const bad = new Map<string, { source?: string; unparsable: number }>();
  const certificates = candidates
    .filter((c) => {
      if (c.file === undefined) return true;
      try {
        new X509Certificate(c.pem);
        return true;
      } catch {
        const entry = bad.get(c.file) ?? { source: c.source, unparsable: 0 };
        entry.unparsable += 1;
        bad.set(c.file, entry);
        return false;
      }
    })
    .map((c) => c.pem);
  for (const [file, { source, unparsable }] of bad) {
    warn('skipping unparsable certificates in a CA certificate file', { file, source, unparsable });
  }
  return { certificates, context: createSecureContext({ ca: certificates }) };
}

let trust: { env: TrustEnv; warn: TrustWarn } = { env: {}, warn: () => undefined };
let context: SecureContext | undefined;

/** Where the trust store comes from; main.ts sets it once, before any registry request. */
export function configureTrust(env: TrustEnv, warn: TrustWarn): void {
  trust = { env, warn };
  context = undefined;
}

/** One secure context for every registry connection, built on first use. */
export function trustedSecureContext(): SecureContext {
  context ??= loadTrustStore(trust.env, trust.warn).context;
  return context;
}
