import { quoteInput, safeText, wellFormed } from '../../../src/util/safe-text';

describe('safeText', () => {
  it('escapes control, bidi and surrogate characters and caps the length', () => {
    expect(safeText('a\u0000b\u202ec\n')).toBe('a\\u0000b\\u202ec\\u000a');
    expect(safeText('x'.repeat(10), 4)).toBe('xxxx… (6 more characters)');
    expect(safeText('\ud800')).toBe('\\ud800');
  });
  it('quotes', () => {
    expect(quoteInput('Repo Name')).toBe('"Repo Name"');
  });
});

describe('wellFormed', () => {
  it('replaces lone surrogates and keeps pairs', () => {
    expect(wellFormed('a\ud800b')).toBe('a\ufffdb');
    expect(wellFormed('a\udc00')).toBe('a\ufffd');
    expect(wellFormed('\udc00\ud800')).toBe('\ufffd\ufffd');
    expect(wellFormed('ok 😀')).toBe('ok 😀');
    // encodeURI is what grpc-js applies to the status message; it must not throw now.
    expect(() => encodeURI(wellFormed('x\ud83dy'))).not.toThrow();
  });
});
