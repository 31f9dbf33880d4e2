import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  classifyEnvelope,
  DSSE_MEDIA_TYPE,
  EnvelopeError,
  JSON_MEDIA_TYPE,
  parseEnvelope,
} from '../../../src/plugin/envelope';
import { readStatement } from '../../../src/plugin/statement';

const enc = (s: string) => new TextEncoder().encode(s);
const fixture = (name: string) => readFileSync(path.join(__dirname, '../../fixtures', name));

describe('classifyEnvelope', () => {
  it('recognises DSSE envelopes and plain JSON', () => {
    expect(classifyEnvelope(enc('{"payloadType":"t","payload":"cA==","signatures":[]}'))).toBe(DSSE_MEDIA_TYPE);
    expect(classifyEnvelope(enc('{"hello":"world"}'))).toBe(JSON_MEDIA_TYPE);
    expect(classifyEnvelope(enc('{"payloadType":"t","payload":5,"signatures":[]}'))).toBe(JSON_MEDIA_TYPE);
  });

  it.each([
    ['', 'the envelope is empty'],
    ['not json', 'the envelope is not valid JSON'],
    ['[1,2]', 'the envelope must be a JSON object'],
    ['"text"', 'the envelope must be a JSON object'],
  ])('rejects %j', (input, message) => {
    expect(() => classifyEnvelope(enc(input))).toThrow(new EnvelopeError(message));
  });

  it('takes UTF-8 strictly, as a fatal TextDecoder would', () => {
    // A BOM is dropped; text outside ASCII is decoded, not taken byte by byte.
    expect(classifyEnvelope(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), enc('{"a":1}')]))).toBe(JSON_MEDIA_TYPE);
    const accented = parseEnvelope(enc('{"payloadType":"tÿpe ✓","payload":"cA==","signatures":[]}'));
    expect(accented.payloadType).toBe('tÿpe ✓');
    // Invalid sequences (a lone continuation byte, an overlong form, a surrogate) are refused.
    for (const bad of [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      const bytes = Buffer.concat([enc('{"a":"'), Buffer.from(bad), enc('"}')]);
      expect(() => classifyEnvelope(bytes)).toThrow(new EnvelopeError('the envelope is not valid JSON'));
    }
  });

  it('classifies a large envelope by its outline without parsing it', () => {
    const big = Buffer.alloc(9 * 1024 * 1024, 0x41);
    const head = Buffer.from('{"payloadType":"application/vnd.in-toto+json","payload":"');
    const tail = Buffer.from('","signatures":[]}\n');
    head.copy(big, 0);
    tail.copy(big, big.length - tail.length);
    expect(parseEnvelope(big)).toEqual({ mediaType: DSSE_MEDIA_TYPE });
    big[0] = 0x5b; // '[': no longer an object
    expect(() => classifyEnvelope(big)).toThrow('the envelope must be a JSON object');
  });
});

describe('the statement read from the parsed envelope', () => {
  it.each(['chainloop-envelope-sbom.json', 'chainloop-envelope-image-subject.json'])(
    'is the statement read in place (%s)',
    (name) => {
      const envelope = fixture(name);
      const parsed = parseEnvelope(envelope);
      expect(parsed.mediaType).toBe(DSSE_MEDIA_TYPE);
      const statement = readStatement(envelope, parsed);
      expect(statement?.predicateType).toBe('chainloop.dev/attestation/v0.2');
      expect(statement).toEqual(readStatement(envelope));
    },
  );

  it('keeps the payload as a view of the envelope, not a copy', () => {
    const envelope = fixture('chainloop-envelope-sbom.json');
    const parsed = parseEnvelope(envelope);
    expect(parsed.payload?.buffer).toBe(envelope.buffer);
    expect(parsed.payload?.toString('latin1')).toBe(JSON.parse(envelope.toString()).payload);
  });

  it('understands JSON escapes the in-place reader refuses (a base64 "/" written as "\\/")', () => {
    const statement = Buffer.from(JSON.stringify({ _type: 'x', predicateType: 'p/q', note: '???>>>' })).toString('base64');
    expect(statement).toContain('/');
    const text = JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: statement, signatures: [] }).replace(/\//g, '\\/');
    const envelope = enc(text);
    expect(readStatement(envelope)).toBeUndefined();
    expect(readStatement(envelope, parseEnvelope(envelope))?.predicateType).toBe('p/q');
  });
});
