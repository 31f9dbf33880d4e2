import { X509Certificate } from 'node:crypto';
import { generateCertificate, randomSerialHex } from '../../../src/goplugin/tls';

describe('generateCertificate', () => {
  let cert: Awaited<ReturnType<typeof generateCertificate>>;
  let x509: X509Certificate;
  const before = Date.now();

  beforeAll(async () => {
    cert = await generateCertificate();
    x509 = new X509Certificate(cert.certPem);
  });

  it('uses an ECDSA P-521 key', () => {
    expect(x509.publicKey.asymmetricKeyType).toBe('ec');
    expect(x509.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
  });

  it('names localhost in CN and DNS SAN', () => {
    expect(x509.subject).toBe('CN=localhost');
    expect(x509.subjectAltName).toBe('DNS:localhost');
    expect(x509.checkHost('localhost')).toBe('localhost');
  });

  it('is a self-signed CA for both server and client auth', () => {
    expect(x509.ca).toBe(true);
    expect(x509.checkIssued(x509)).toBe(true);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
  });

  it('has a positive serial number', () => {
    expect(parseInt(x509.serialNumber.slice(0, 2), 16)).toBeLessThan(0x80);
    expect(parseInt(x509.serialNumber.slice(0, 2), 16)).toBeGreaterThan(0);
  });

  it('is valid from the recent past for decades', () => {
    const from = new Date(x509.validFrom).getTime();
    const to = new Date(x509.validTo).getTime();
    expect(from).toBeLessThan(before);
    expect(from).toBeGreaterThan(before - 120_000);
    expect(to - Date.now()).toBeGreaterThan(29 * 365 * 24 * 3600 * 1000);
  });

  it('gives the DER and a PKCS#8 key that match the PEM', () => {
    expect(Buffer.from(cert.certDer).equals(x509.raw)).toBe(true);
    expect(cert.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const { createPrivateKey } = require('node:crypto') as typeof import('node:crypto');
    expect(x509.checkPrivateKey(createPrivateKey(cert.keyPem))).toBe(true);
  });

  it('is fresh every time', async () => {
    const other = await generateCertificate();
    expect(other.certPem).not.toBe(cert.certPem);
  });

  it('honours the key-usage bits go-plugin sets', () => {
    // keyUsage: digitalSignature | keyEncipherment | keyCertSign → BIT STRING 0xa4
    const der = Buffer.from(cert.certDer);
    const keyUsageOid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0f]);
    const at = der.indexOf(keyUsageOid);
    expect(at).toBeGreaterThan(0);
    const window = der.subarray(at, at + 16);
    expect(window.includes(0xa4)).toBe(true);
  });
});

describe('randomSerialHex', () => {
  it('always starts with a byte in 0x40..0x7f', () => {
    for (let i = 0; i < 200; i += 1) {
      const first = parseInt(randomSerialHex().slice(0, 2), 16);
      expect(first).toBeGreaterThanOrEqual(0x40);
      expect(first).toBeLessThan(0x80);
    }
  });
});
