import { X509Certificate } from 'node:crypto';
import { createSelfSigned, randomSerial } from '../../../src/goplugin/self-signed';
import { objectIdentifier, time, unsignedInteger } from '../../../src/goplugin/x509-der';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('DER primitives', () => {
  it('encodes object identifiers with base-128 arcs', () => {
    expect(hex(objectIdentifier('1.2.840.10045.4.3.4'))).toBe('06082a8648ce3d040304');
    expect(hex(objectIdentifier('2.5.29.17'))).toBe('0603551d11');
  });

  it('keeps integers positive and minimal', () => {
    expect(hex(unsignedInteger(Buffer.from([0x00, 0x00, 0x05])))).toBe('020105');
    expect(hex(unsignedInteger(Buffer.from([0x80])))).toBe('02020080');
  });

  it('uses UTCTime before 2050 and GeneralizedTime from 2050 (RFC 5280)', () => {
    expect(time(new Date('2026-01-02T03:04:05.678Z')).toString('latin1')).toBe('\x17\x0d260102030405Z');
    expect(time(new Date('2056-01-02T03:04:05Z')).toString('latin1')).toBe('\x18\x0f20560102030405Z');
  });

  it('draws serials whose first byte is 0x40..0x7f', () => {
    for (let i = 0; i < 200; i++) {
      const first = randomSerial()[0];
      expect(first).toBeGreaterThanOrEqual(0x40);
      expect(first).toBeLessThanOrEqual(0x7f);
    }
  });
});

describe('createSelfSigned', () => {
  const notBefore = new Date(Date.now() - 30_000);
  const notAfter = new Date(Date.now() + 30 * 365 * 24 * 3600 * 1000);

  it('writes the certificate go-plugin expects, signed by its own key', async () => {
    const { certDer, privateKey } = await createSelfSigned({ commonName: 'localhost', notBefore, notAfter });
    const cert = new X509Certificate(certDer);
    expect(cert.subject).toContain('CN=localhost');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.subjectAltName).toBe('DNS:localhost');
    expect(cert.ca).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(privateKey)).toBe(true);
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(Date.now());
    expect(new Date(cert.validTo).getUTCFullYear()).toBeGreaterThanOrEqual(2050);
    expect(parseInt(cert.serialNumber.slice(0, 2), 16)).toBeLessThan(0x80);
  });

  it('makes a new key and serial every time', async () => {
    const a = new X509Certificate((await createSelfSigned({ commonName: 'localhost', notBefore, notAfter })).certDer);
    const b = new X509Certificate((await createSelfSigned({ commonName: 'localhost', notBefore, notAfter })).certDer);
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.publicKey.export({ format: 'jwk' })).not.toEqual(b.publicKey.export({ format: 'jwk' }));
  });
});
