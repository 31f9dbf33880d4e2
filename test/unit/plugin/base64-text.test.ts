import { randomBytes } from 'node:crypto';
import { BASE64_SLICE_CHARS, decodeBase64Text } from '../../../src/plugin/base64-text';

/** Seeded, so a failure names a text that can be made again. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}

const reference = (text: Buffer) => Buffer.from(text.toString('latin1'), 'base64');

describe('decodeBase64Text', () => {
  it('decodes like Buffer.from(text, "base64") around every slice boundary', () => {
    for (const raw of [0, 1, 2, 3, 100, (BASE64_SLICE_CHARS / 4) * 3 - 1, (BASE64_SLICE_CHARS / 4) * 3, (BASE64_SLICE_CHARS / 4) * 3 + 1, 300_001]) {
      const bytes = randomBytes(raw);
      for (const text of [Buffer.from(bytes.toString('base64')), Buffer.from(bytes.toString('base64url'))]) {
        expect({ raw, same: decodeBase64Text(text)?.equals(bytes) }).toEqual({ raw, same: true });
      }
    }
  });

  it('gives what the whole-text decode gives when padding, spaces or foreign bytes sit before the last slice', () => {
    const next = random(12);
    const base = Buffer.from(randomBytes(200_000).toString('base64'));
    for (let round = 0; round < 60; round++) {
      const text = Buffer.from(base);
      const at = Math.floor(next() * text.length);
      text[at] = [0x3d /* = */, 0x20, 0x0a, 0x2e, 0xff, 0x2d /* - */][round % 6]!;
      expect({ round, at, same: decodeBase64Text(text)!.equals(reference(text)) }).toEqual({ round, at, same: true });
    }
  });

  it('reads views of a larger buffer at any offset', () => {
    const bytes = randomBytes(150_000);
    const text = Buffer.from(`"${bytes.toString('base64')}"`);
    expect(decodeBase64Text(text.subarray(1, text.length - 1))!.equals(bytes)).toBe(true);
  });

  it('lets accept stop a long text after its first slice', () => {
    const text = Buffer.from(randomBytes(1 << 20).toString('base64'));
    const seen: number[] = [];
    expect(decodeBase64Text(text, (head) => (seen.push(head.length), false))).toBeUndefined();
    expect(seen).toEqual([(BASE64_SLICE_CHARS / 4) * 3]);
    seen.length = 0;
    expect(decodeBase64Text(text, (head) => (seen.push(head.length), true))!.equals(reference(text))).toBe(true);
    expect(seen).toEqual([(BASE64_SLICE_CHARS / 4) * 3]);
  });

  it('shows accept the whole decode of a short text, or of one the slices cannot decode exactly', () => {
    const short = Buffer.from(Buffer.from('{"a":1}').toString('base64'));
    const seen: string[] = [];
    expect(decodeBase64Text(short, (head) => (seen.push(head.toString()), true))?.toString()).toBe('{"a":1}');
    expect(decodeBase64Text(short, () => false)).toBeUndefined();
    const irregular = Buffer.from(randomBytes(100_000).toString('base64'));
    irregular[10] = 0x20;
    const lengths: number[] = [];
    expect(decodeBase64Text(irregular, (head) => (lengths.push(head.length), true))!.equals(reference(irregular))).toBe(true);
    expect(seen).toEqual(['{"a":1}']);
    expect(lengths).toEqual([reference(irregular).length]);
  });
});
