/**
 * Throw-away certificate authority for TLS fixtures.
 *
 * Everything is generated in-process with @peculiar/x509 (no openssl, so the
 * output does not depend on the distro's openssl defaults). Keys are ECDSA
 * P-256: small, fast to generate, accepted by Go's crypto/tls (distribution,
 * skopeo) and by Node.
 *
 * Layout of the directory written by createTestCa():
 *   <dir>/certs.d/ca.crt   the CA alone; pass `certs.d` to skopeo --cert-dir
 *                          (skopeo treats *.key/*.cert there as a *client*
 *                          identity, so the server key must live elsewhere)
 *   <dir>/ca.pem           same CA, for NODE_EXTRA_CA_CERTS / undici `ca`
 *   <dir>/server.crt       leaf for the registry, SANs: 127.0.0.1, localhost
 *   <dir>/server.key       PKCS#8 PEM
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto, createPrivateKey, type KeyObject } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { rmSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The project compiles without the DOM lib, so x509's `Crypto` parameter type
// is not nameable here; node's webcrypto is the implementation it expects.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 24 * 60 * 60 * 1000;

// CA directories not yet cleaned up, removed synchronously at process exit so
// a failing suite does not leave keys behind in /tmp.
const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});

export interface TestCa {
  /** Temp directory holding every file below; removed by cleanup(). */
  dir: string;
  /** Directory containing only ca.crt, for skopeo --cert-dir / --src-cert-dir. */
  certDir: string;
  /** CA certificate PEM file (NODE_EXTRA_CA_CERTS, undici connect.ca). */
  caPath: string;
  caPem: string;
  /** Server leaf certificate and key for `http.tls` in distribution. */
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
  cleanup(): Promise<void>;
}

export interface TestCaOptions {
  /** DNS SANs for the leaf. Default ['localhost']. */
  dnsNames?: string[];
  /** IP SANs for the leaf. Default ['127.0.0.1']. */
  ipAddresses?: string[];
  /** Parent for the temp dir. Default os.tmpdir(). */
  parentDir?: string;
}

/** A self-signed certificate with its key, in every shape callers need. */
export interface SelfSignedCert {
  certPem: string;
  keyPem: string;
  /** Base64 DER of the certificate, as a JOSE `x5c` entry wants it. */
  certDerBase64: string;
  /** The private key as a node KeyObject, for crypto.sign. */
  privateKey: KeyObject;
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  // extractable: the private key is written to disk for the registry.
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyToPem(key: CryptoKey): Promise<string> {
  return toPem(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function validity(): { notBefore: Date; notAfter: Date } {
  // Backdate a little: the Go and Node clocks are the same here, but a
  // certificate "not yet valid" by a second is a miserable flake to debug.
  const now = Date.now();
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + 7 * DAY_MS) };
}

function randomSerial(): string {
  // Positive 64-bit serial: the top bit must be clear for DER INTEGER.
  const b = webcrypto.getRandomValues(new Uint8Array(8));
  b[0] = (b[0] & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

/**
 * A self-signed certificate without CA or EKU extensions. Used as a JWT
 * signing identity: distribution verifies the `x5c` chain with Go's default
 * ServerAuth EKU check, which a certificate without an EKU extension passes.
 */
export async function createSelfSignedCert(commonName: string): Promise<SelfSignedCert> {
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: SIGN,
    ...validity(),
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = await keyToPem(keys.privateKey);
  return {
    certPem: cert.toString('pem') + '\n',
    keyPem,
    certDerBase64: Buffer.from(cert.rawData).toString('base64'),
    privateKey: createPrivateKey(keyPem),
  };
}

/** Creates a CA and a 127.0.0.1/localhost server certificate on disk. */
export async function createTestCa(options: TestCaOptions = {}): Promise<TestCa> {
  const dnsNames = options.dnsNames ?? ['localhost'];
  const ipAddresses = options.ipAddresses ?? ['127.0.0.1'];

  const caKeys = await newKeyPair();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: 'CN=chainloop-plugin-oci-registry test CA',
    keys: caKeys,
    signingAlgorithm: SIGN,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const leafKeys = await newKeyPair();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=127.0.0.1',
    issuer: caCert.subject,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: SIGN,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      // Both kinds of SAN: clients that dial 127.0.0.1 match the IP SAN (Go
      // and Node never match an IP against a DNS SAN), `localhost` the DNS one.
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'test-ca-'));
  liveDirs.add(dir);
  const certDir = join(dir, 'certs.d');
  await mkdir(certDir);
  const caPem = caCert.toString('pem') + '\n';
  const certPem = leaf.toString('pem') + '\n';
  const keyPem = await keyToPem(leafKeys.privateKey);
  const caPath = join(dir, 'ca.pem');
  const certPath = join(dir, 'server.crt');
  const keyPath = join(dir, 'server.key');
  await writeFile(join(certDir, 'ca.crt'), caPem);
  await writeFile(caPath, caPem);
  await writeFile(certPath, certPem);
  await writeFile(keyPath, keyPem, { mode: 0o600 });

  return {
    dir,
    certDir,
    caPath,
    caPem,
    certPath,
    keyPath,
    certPem,
    keyPem,
    cleanup: async () => {
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    },
  };
}
