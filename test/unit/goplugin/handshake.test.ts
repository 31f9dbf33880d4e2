import {
  decodeRawBase64,
  encodeRawBase64,
  formatHandshake,
  parseHandshake,
} from '../../../src/goplugin/handshake';

const base = { coreVersion: 1, appVersion: 0, network: 'unix', address: '/tmp/plugin-abc/plugin.sock', protocol: 'grpc' } as const;

describe('formatHandshake', () => {
  it('writes five fields and no certificate field without AutoMTLS', () => {
    expect(formatHandshake(base)).toBe('1|0|unix|/tmp/plugin-abc/plugin.sock|grpc\n');
  });

  it('writes the certificate as unpadded standard base64 in the 6th field', () => {
    // 4 bytes → "+/8A/w==" padded; unpadded it must be "+/8A/w"
    const der = new Uint8Array([0xfb, 0xff, 0x00, 0xff]);
    expect(formatHandshake({ ...base, serverCertDer: der })).toBe('1|0|unix|/tmp/plugin-abc/plugin.sock|grpc|+/8A/w\n');
  });

  it('adds the 7th field only when multiplexing was asked about', () => {
    const der = new Uint8Array([1, 2, 3]);
    expect(formatHandshake({ ...base, serverCertDer: der, multiplex: false })).toBe(
      '1|0|unix|/tmp/plugin-abc/plugin.sock|grpc|AQID|false\n',
    );
    expect(formatHandshake({ ...base, multiplex: false })).toBe('1|0|unix|/tmp/plugin-abc/plugin.sock|grpc||false\n');
  });

  it('treats an empty certificate as none', () => {
    expect(formatHandshake({ ...base, serverCertDer: new Uint8Array() })).toBe('1|0|unix|/tmp/plugin-abc/plugin.sock|grpc\n');
  });

  it('refuses an address that would break the line', () => {
    expect(() => formatHandshake({ ...base, address: '/tmp/a|b' })).toThrow(/must not contain/);
    expect(() => formatHandshake({ ...base, address: '/tmp/a\nb' })).toThrow(/must not contain/);
  });
});

describe('raw base64', () => {
  it('round-trips every length without padding', () => {
    for (let n = 0; n < 10; n += 1) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 37 + 250) & 0xff);
      const text = encodeRawBase64(bytes);
      expect(text).not.toContain('=');
      expect([...decodeRawBase64(text)]).toEqual([...bytes]);
    }
  });

  it('rejects padding like Go RawStdEncoding does', () => {
    expect(() => decodeRawBase64('AQI=')).toThrow(/unpadded/);
    expect(() => decodeRawBase64('AQ-_')).toThrow(/unpadded/);
  });
});

describe('parseHandshake', () => {
  it('parses the fields a host needs', () => {
    const parsed = parseHandshake('1|0|unix|/tmp/x/plugin.sock|grpc|AQID\n');
    expect(parsed).toMatchObject({
      coreVersion: 1,
      appVersion: 0,
      network: 'unix',
      address: '/tmp/x/plugin.sock',
      protocol: 'grpc',
      serverCertBase64: 'AQID',
      multiplex: undefined,
      fieldCount: 6,
    });
    expect([...(parsed.serverCertDer ?? [])]).toEqual([1, 2, 3]);
  });

  it('parses a line without certificate and one with the multiplex field', () => {
    expect(parseHandshake('1|0|unix|/s|grpc').serverCertDer).toBeUndefined();
    expect(parseHandshake('1|0|unix|/s|grpc||false').multiplex).toBe(false);
  });

  it('rejects malformed lines', () => {
    expect(() => parseHandshake('1|0|unix')).toThrow(/at least 4/);
    expect(() => parseHandshake('x|0|unix|/s|grpc')).toThrow(/not a number/);
    expect(() => parseHandshake('1|0|unix|/s|grpc|AQID|maybe')).toThrow(/true or false/);
  });
});
