/**
 * The AutoMTLS certificate go-plugin expects, written with node:crypto and
 * x509-der.ts: a fresh ECDSA P-521 key, self-signed with ecdsa-with-SHA512,
 * CN and DNS SAN `localhost` (the host dials with ServerName "localhost"),
 * its own CA (basicConstraints CA, keyCertSign), usable for both serverAuth
 * and clientAuth, a positive random serial, notBefore in the past.
 */
import { createHash, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import {
  bitString,
  booleanTrue,
  explicit,
  objectIdentifier as oid,
  octetString,
  sequence,
  set,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from './x509-der';

const OID = {
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

export interface SelfSignedOptions {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

export interface SelfSigned {
  certDer: Buffer;
  privateKey: KeyObject;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** A random 128-bit serial whose DER INTEGER is positive and minimal (first byte 0x40..0x7f). */
export function randomSerial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x3f) | 0x40;
  return bytes;
}

export async function createSelfSigned(o: SelfSignedOptions): Promise<SelfSigned> {
  const { publicKey, privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-521' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = sequence(set(sequence(oid(OID.commonName), utf8String(o.commonName))));
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha512));
  const tbs = sequence(
    explicit(0, unsignedInteger(Buffer.from([2]))), // version: v3
    unsignedInteger(randomSerial()),
    signatureAlgorithm,
    name,
    sequence(time(o.notBefore), time(o.notAfter)),
    name,
    spki,
    explicit(3, sequence(...extensions(o.commonName, spki))),
  );
  const signature = sign('sha512', tbs, { key: privateKey, dsaEncoding: 'der' });
  return { certDer: sequence(tbs, signatureAlgorithm, bitString(signature)), privateKey };
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), booleanTrue(), octetString(value)) : sequence(oid(id), octetString(value));
}

function extensions(commonName: string, spki: Buffer): Buffer[] {
  // digitalSignature (bit 0), keyEncipherment (bit 2), keyCertSign (bit 5): 1010 0100, last 2 bits unused.
  const keyUsage = bitString(Buffer.from([0xa4]), 2);
  // RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bytes (the SPKI's tail).
  const keyId = createHash('sha1').update(subjectPublicKeyBits(spki)).digest();
  return [
    extension(OID.keyUsage, true, keyUsage),
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth), oid(OID.clientAuth))),
    extension(OID.basicConstraints, true, sequence(booleanTrue())),
    extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
    extension(OID.subjectAltName, false, sequence(tlv(0x82, Buffer.from(commonName, 'ascii')))),
  ];
}

/** An uncompressed P-521 point: 0x04, then X and Y of 66 bytes each. */
const P521_POINT_BYTES = 133;

/** The subjectPublicKey of a P-521 SubjectPublicKeyInfo: the point that ends it. */
function subjectPublicKeyBits(spki: Buffer): Buffer {
  return spki.subarray(spki.length - P521_POINT_BYTES);
}
