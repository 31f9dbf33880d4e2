import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readStatement } from '../../../src/plugin/statement';

const fixture = (name: string) => readFileSync(path.join(__dirname, '../../fixtures', name));
const envelopeOf = (statement: unknown, payloadType = 'application/vnd.in-toto+json') =>
  Buffer.from(JSON.stringify({ payloadType, payload: Buffer.from(JSON.stringify(statement)).toString('base64'), signatures: [] }));

describe('readStatement', () => {
  it('reads the protobuf spelling (predicate_type) and the JSON one (predicateType)', () => {
    expect(readStatement(fixture('chainloop-envelope-image-subject.json'))?.predicateType).toBe('chainloop.dev/attestation/v0.2');
    expect(readStatement(fixture('chainloop-envelope-sbom.json'))?.predicateType).toBe('chainloop.dev/attestation/v0.2');
    expect(readStatement(fixture('chainloop-envelope-sbom.json'))?.metadata.name).toBe('only-sbom');
  });

  it('is undefined for other payload types, bad base64 JSON or non-envelopes', () => {
    expect(readStatement(envelopeOf({ predicateType: 'x' }, 'text/plain'))).toBeUndefined();
    expect(readStatement(Buffer.from('{"payloadType":"application/vnd.in-toto+json","payload":"!!!"}'))).toBeUndefined();
    expect(readStatement(Buffer.from('[]'))).toBeUndefined();
  });

  it('reads pretty-printed envelopes in any key order, and skips a value that merely equals a key name', () => {
    const payload = Buffer.from(JSON.stringify({ predicateType: 'p/v1', subject: [] })).toString('base64');
    const text = `{\n  "signatures": [{"keyid": "payload", "sig": "payloadType"}],\n  "payload" : "${payload}",\n  "payloadType":\t"application/vnd.in-toto+json"\n}`;
    expect(readStatement(Buffer.from(text))?.predicateType).toBe('p/v1');
  });

  it('is undefined when the payload is not a JSON object, or a field holds escapes', () => {
    expect(readStatement(Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: Buffer.from('[1]').toString('base64'), signatures: [] })))).toBeUndefined();
    expect(readStatement(Buffer.from('{"payloadType":"application\\/vnd.in-toto+json","payload":"e30=","signatures":[]}'))).toBeUndefined();
  });

  it('reads a statement longer than one decoding slice, and refuses a long payload that is not JSON', () => {
    const note = 'x'.repeat(300_000);
    const s = readStatement(envelopeOf({ predicateType: 'p/big', subject: [], predicate: { metadata: { name: 'n' }, note } }));
    expect(s?.predicateType).toBe('p/big');
    expect(s?.predicate.note).toBe(note);
    const notJson = Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: Buffer.alloc(300_000, 0x41).toString('base64'), signatures: [] }));
    expect(readStatement(notJson)).toBeUndefined();
    // Leading space longer than the first slice is skipped, as JSON.parse does.
    const spaced = Buffer.from(`${' '.repeat(70_000)}{"predicateType":"p/s"}`).toString('base64');
    const envelope = Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: spaced, signatures: [] }));
    expect(readStatement(envelope)?.predicateType).toBe('p/s');
  });

  it('drops malformed subjects', () => {
    const s = readStatement(envelopeOf({ subject: [{ name: 'a' }, 5, { name: 'b', digest: { sha256: 'x', n: 1 } }], predicate: [] }));
    expect(s?.subjects).toEqual([{ name: 'b', digest: { sha256: 'x' }, annotations: {} }]);
    expect(s?.metadata).toEqual({});
  });
});
