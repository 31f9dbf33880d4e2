import { outlineJson, stringValue, type MemberKind } from '../../../src/plugin/json-outline';

/** What the outline must agree with: JSON.parse over a fatal UTF-8 decode. */
function reference(bytes: Buffer): { valid: false } | { valid: true; value: unknown } {
  try {
    return { valid: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) };
  } catch {
    return { valid: false };
  }
}

function kindOf(v: unknown): MemberKind {
  if (Array.isArray(v)) return 'array';
  if (v === null || typeof v === 'boolean') return 'literal';
  return typeof v as MemberKind;
}

/** Checks validity, top-level shape, each member's kind, span and (for strings) value against the reference. */
function agrees(bytes: Buffer, compareValues = true): boolean {
  const ref = reference(bytes);
  const outline = outlineJson(bytes);
  const context = bytes.toString('latin1').slice(0, 200);
  expect({ valid: outline.valid, context }).toEqual({ valid: ref.valid, context });
  if (!ref.valid || !outline.valid) return false;
  const isObject = ref.value !== null && typeof ref.value === 'object' && !Array.isArray(ref.value);
  expect(outline.object).toBe(isObject);
  if (!outline.object) return true;
  const value = ref.value as Record<string, unknown>;
  expect([...outline.members.keys()].sort()).toEqual(Object.keys(value).sort());
  for (const [key, span] of outline.members) {
    expect(span.kind).toBe(kindOf(value[key]));
    if (!compareValues) continue;
    expect(JSON.parse(bytes.toString('utf8', span.start, span.end))).toEqual(value[key]);
    if (span.kind === 'string') expect(stringValue(bytes, span)).toBe(value[key]);
  }
  return true;
}

/** A small deterministic generator, so a failure can be reproduced. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const PIECES = ['"', '\\', '\\u00e9', '\\ud800', '\\x', '\t', '\n', '\u0001', 'é', '✓', '𝄞', 'a', '/', '\\/', ' '];

function randomText(rnd: () => number, depth: number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const space = (): string => pick(['', '', ' ', '\n  ', '\t', '\r\n']);
  const r = rnd();
  if (depth > 3 || r < 0.35) {
    return pick(['0', '-0', '12.5e-3', '1E+2', 'true', 'false', 'null', '"plain"', '""', JSON.stringify('x'.repeat(Math.floor(rnd() * 300)) + pick(['', '\n', 'é', '"'])), '01', '1.', '-', 'nul', 'truex']);
  }
  if (r < 0.55) {
    // A string of raw pieces, some of them invalid inside a JSON string.
    let body = '';
    const parts = Math.floor(rnd() * 6);
    for (let k = 0; k < parts; k++) body += 'b'.repeat(Math.floor(rnd() * 120)) + (rnd() < 0.5 ? pick(PIECES) : '');
    return `"${body}"`;
  }
  const n = Math.floor(rnd() * 4);
  const items = Array.from({ length: n }, () => randomText(rnd, depth + 1));
  if (r < 0.7) return `[${space()}${items.join(`${space()},${space()}`)}${space()}]`;
  const keys = ['payloadType', 'payload', 'signatures', 'a', 'payload', 'pay\\u006coad', '__proto__'];
  return `{${space()}${items.map((v) => `"${pick(keys)}"${space()}:${space()}${v}`).join(`,${space()}`)}${space()}}`;
}

describe('the JSON outline', () => {
  it.each([
    '{}',
    ' {"a":1} ',
    '{"payloadType":"t","payload":"cA==","signatures":[]}',
    '{"a":{"b":[1,{"c":"d"}]},"e":[],"f":{},"g":null,"h":-1.5e3}',
    '[1,2]',
    '"text"',
    '{"a":1,}',
    '{"a":1 "b":2}',
    '{"a"1}',
    '{"a":1}}',
    '{"a":1} x',
    '{"a":[1,2}',
    '{"a":"\u0009"}',
    '{"a":"\\q"}',
    '{"a":"\\u12g4"}',
    '{"a":01}',
    '{"a":.5}',
    '{"a":tru}',
    '',
    '   ',
    '\ufeff{"a":1}',
    '{"a":"x"}\ufeff',
  ])('agrees with JSON.parse on %j', (text) => {
    agrees(Buffer.from(text));
  });

  it('agrees with JSON.parse on invalid UTF-8, a BOM, and bytes outside strings', () => {
    for (const bad of [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
      agrees(Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bad), Buffer.from('"}')]));
    }
    agrees(Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x7b, 0x7d])); // two BOMs: the second is text
    agrees(Buffer.from('{"a":1}\u00a0'));
  });

  it('agrees with JSON.parse on long strings with a stop byte anywhere in them', () => {
    // Past 64 bytes the string is searched natively: each stop byte, at each distance.
    const stops = ['"', '\\n', '\\u0041', '\\', '\n', '\u0000', '\u001f', '\t', 'é'];
    for (const stop of stops) {
      for (const at of [0, 63, 64, 65, 200, 5000]) {
        agrees(Buffer.from(`{"payload":"${'A'.repeat(at)}${stop}${'B'.repeat(100)}","x":"${'C'.repeat(at)}"}`));
      }
    }
  });

  it('agrees with JSON.parse on 3,000 generated texts and their mutations', () => {
    const rnd = random(12);
    let valid = 0;
    for (let k = 0; k < 3000; k++) {
      const text = Buffer.from(randomText(rnd, 0));
      if (agrees(text)) valid++;
      // One mutation each: a truncation, a flipped byte, or a byte inserted.
      const m = Buffer.from(text);
      const at = Math.floor(rnd() * m.length);
      const r = rnd();
      if (r < 0.33) agrees(m.subarray(0, at));
      else if (r < 0.66) {
        m[at] = Math.floor(rnd() * 256);
        agrees(m);
      } else agrees(Buffer.concat([m.subarray(0, at), Buffer.from([Math.floor(rnd() * 128)]), m.subarray(at)]));
    }
    // Both answers are well represented, or the comparison would say little.
    expect(valid).toBeGreaterThan(600);
    expect(valid).toBeLessThan(2400);
  });

  it('keeps the last of a repeated top-level key, as JSON.parse does', () => {
    const bytes = Buffer.from('{"payload":"first","payload":"second","pay\\u006coad":["third"]}');
    const outline = outlineJson(bytes);
    expect(outline.valid && outline.object && outline.members.get('payload')?.kind).toBe('array');
    agrees(bytes);
  });

  it('walks deep nesting without recursion', () => {
    const depth = 200_000;
    // Values this deep are compared by kind only: the test's own deep equality would recurse.
    expect(agrees(Buffer.from(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`), false)).toBe(true);
    expect(agrees(Buffer.from(`{"a":${'['.repeat(depth)}${']'.repeat(depth - 1)}}`), false)).toBe(false);
  });
});
