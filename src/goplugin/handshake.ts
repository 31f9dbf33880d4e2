/**
 * The one stdout line a go-plugin server prints so the host can connect:
 * `CORE|APP|NETWORK|ADDRESS|PROTOCOL[|CERT[|MULTIPLEX]]`.
 *
 * - CERT is the server's DER certificate in standard base64 WITHOUT padding
 *   (Go's RawStdEncoding); it is written only under AutoMTLS, because a host
 *   that did not ask for TLS dereferences a nil TLS config when it sees one.
 * - MULTIPLEX is written only when the host set PLUGIN_MULTIPLEX_GRPC: old
 *   hosts split the line into at most 6 parts and would glue it to the cert.
 */

export interface HandshakeFields {
  coreVersion: number;
  appVersion: number;
  network: 'unix' | 'tcp';
  address: string;
  protocol: 'grpc' | 'netrpc';
  serverCertDer?: Uint8Array;
  /** Whether the gRPC broker multiplexes; undefined writes no 7th field. */
  multiplex?: boolean;
}

/** Standard base64 without `=` padding (Go's base64.RawStdEncoding). */
export function encodeRawBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

/** Decodes Go's RawStdEncoding strictly: padding or characters outside the alphabet are errors. */
export function decodeRawBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*$/.test(text)) {
    throw new Error('certificate is not unpadded standard base64 (Go RawStdEncoding)');
  }
  if (text.length % 4 === 1) throw new Error('certificate base64 has an impossible length');
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function checkField(name: string, value: string): void {
  if (value.includes('|') || /[\r\n]/.test(value)) {
    throw new Error(`handshake ${name} must not contain "|" or a line break: ${JSON.stringify(value)}`);
  }
}

/** The handshake line, trailing "\n" included. */
export function formatHandshake(fields: HandshakeFields): string {
  checkField('address', fields.address);
  const parts: string[] = [
    String(fields.coreVersion),
    String(fields.appVersion),
    fields.network,
    fields.address,
    fields.protocol,
  ];
  const cert = fields.serverCertDer && fields.serverCertDer.byteLength > 0 ? encodeRawBase64(fields.serverCertDer) : '';
  if (cert !== '' || fields.multiplex !== undefined) parts.push(cert);
  if (fields.multiplex !== undefined) parts.push(String(fields.multiplex));
  return `${parts.join('|')}\n`;
}

export interface ParsedHandshake {
  coreVersion: number;
  appVersion: number;
  network: string;
  address: string;
  protocol: string;
  /** The raw 6th field ('' when absent). */
  serverCertBase64: string;
  serverCertDer: Uint8Array | undefined;
  multiplex: boolean | undefined;
  /** How many `|`-separated fields the line had. */
  fieldCount: number;
  line: string;
}

/** Parses a handshake line the way a go-plugin host does, but strictly (for tests). */
export function parseHandshake(line: string): ParsedHandshake {
  const text = line.replace(/\r?\n$/, '');
  const parts = text.split('|');
  if (parts.length < 4) throw new Error(`handshake line has ${parts.length} field(s), want at least 4: ${JSON.stringify(line)}`);
  if (parts.length > 7) throw new Error(`handshake line has ${parts.length} fields, want at most 7: ${JSON.stringify(line)}`);
  const int = (name: string, value: string): number => {
    if (!/^\d+$/.test(value)) throw new Error(`handshake ${name} is not a number: ${JSON.stringify(value)}`);
    return Number(value);
  };
  const serverCertBase64 = parts[5] ?? '';
  let multiplex: boolean | undefined;
  if (parts.length === 7) {
    if (parts[6] !== 'true' && parts[6] !== 'false') {
      throw new Error(`handshake multiplex field must be true or false: ${JSON.stringify(parts[6])}`);
    }
    multiplex = parts[6] === 'true';
  }
  return {
    coreVersion: int('core protocol version', parts[0]),
    appVersion: int('app protocol version', parts[1]),
    network: parts[2],
    address: parts[3],
    protocol: parts[4] ?? 'netrpc',
    serverCertBase64,
    serverCertDer: serverCertBase64 === '' ? undefined : decodeRawBase64(serverCertBase64),
    multiplex,
    fieldCount: parts.length,
    line: text,
  };
}
