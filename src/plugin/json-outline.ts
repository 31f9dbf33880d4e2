/**
 * Checks that bytes are one JSON text, as `JSON.parse` over a fatal UTF-8
 * TextDecoder would, and reads the top-level object's members as byte spans.
 * For a 1 MiB DSSE envelope that decode and parse built two strings of about
 * the envelope's size (the text and the payload) and were a third of the
 * plugin's CPU per Execute; this walks the bytes once and builds none.
 *
 * UTF-8 validity is checked separately (buffer.isUtf8), so the walk only
 * needs to know that bytes ≥ 0x80 occur inside strings.
 */
import { isAscii, isUtf8 } from 'node:buffer';

export type MemberKind = 'object' | 'array' | 'string' | 'number' | 'literal';

export interface MemberSpan {
  kind: MemberKind;
  /** The value's bytes: for a string, its quotes included. */
  start: number;
  end: number;
  /** A string with backslash escapes (its bytes are not its value). */
  escaped: boolean;
}

export type JsonOutline =
  | { valid: false }
  | { valid: true; object: false }
  /** Top-level members by key; a repeated key keeps its last value, as JSON.parse does. */
  | { valid: true; object: true; members: Map<string, MemberSpan> };

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const IN_OBJECT = 1;
const IN_ARRAY = 2;

export function outlineJson(bytes: Buffer): JsonOutline {
  if (!isUtf8(bytes)) return { valid: false };
  const members = new Map<string, MemberSpan>();
  const n = bytes.length;
  // TextDecoder drops one leading byte-order mark.
  let i = n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const stack = new ContainerStack();
  const topIsObject = bytes[skipSpace(bytes, i)] === OPEN_OBJECT;
  let finder: StopFinder | undefined;
  const stops = (): StopFinder => (finder ??= new StopFinder(bytes));
  let memberKey: string | undefined;
  let memberStart = 0;

  value: for (;;) {
    i = skipSpace(bytes, i);
    const c = bytes[i];
    const start = i;
    let kind: MemberKind;
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      i = skipSpace(bytes, i + 1);
      if (bytes[i] === (c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i++;
        kind = c === OPEN_OBJECT ? 'object' : 'array';
      } else {
        stack.push(c === OPEN_OBJECT ? IN_OBJECT : IN_ARRAY);
        if (stack.depth === 2) memberStart = start;
        if (c === OPEN_OBJECT) {
          i = readKey(bytes, i);
          if (i < 0) return { valid: false };
        }
        continue value;
      }
    } else if (c === QUOTE) {
      i = skipString(bytes, i, stops);
      kind = 'string';
    } else if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) {
      i = skipNumber(bytes, i);
      kind = 'number';
    } else {
      i = skipLiteral(bytes, i);
      kind = 'literal';
    }
    if (i < 0) return { valid: false };
    if (stack.depth === 1) record(kind, start, i);

    // After a value: commas, closing brackets, or the end of the text.
    for (;;) {
      i = skipSpace(bytes, i);
      if (stack.depth === 0) return i !== n ? { valid: false } : topIsObject ? { valid: true, object: true, members } : { valid: true, object: false };
      const inside = stack.top();
      const ch = bytes[i];
      if (ch === 0x2c /* , */) {
        i = skipSpace(bytes, i + 1);
        if (inside === IN_OBJECT) {
          i = readKey(bytes, i);
          if (i < 0) return { valid: false };
        }
        continue value;
      }
      if (ch !== (inside === IN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) return { valid: false };
      stack.pop();
      i++;
      if (stack.depth === 1) record(inside === IN_OBJECT ? 'object' : 'array', memberStart, i);
    }
  }

  /** Called right after the value's last byte: for a string, lastStringEscaped is still its own. */
  function record(kind: MemberKind, start: number, end: number): void {
    if (memberKey !== undefined) members.set(memberKey, { kind, start, end, escaped: kind === 'string' && lastStringEscaped });
    memberKey = undefined;
  }

  /** A key, the colon after it, and the space before the value; -1 when malformed. */
  function readKey(b: Buffer, at: number): number {
    if (b[at] !== QUOTE) return -1;
    const end = skipString(b, at, stops);
    if (end < 0) return -1;
    // Only the top object's keys are wanted; deeper ones are just checked.
    if (stack.depth === 1) memberKey = stringValue(b, { kind: 'string', start: at, end, escaped: lastStringEscaped });
    const colon = skipSpace(b, end);
    return b[colon] === 0x3a ? colon + 1 : -1;
  }
}

/** A string member's value (the outline has checked it). */
export function stringValue(bytes: Buffer, span: MemberSpan): string {
  if (span.escaped) return JSON.parse(bytes.toString('utf8', span.start, span.end)) as string;
  // ASCII (base64, media types) copies straight into a one-byte string.
  const inner = bytes.subarray(span.start + 1, span.end - 1);
  return inner.toString(isAscii(inner) ? 'latin1' : 'utf8');
}

/** Open containers, a byte each: deeply nested input costs its depth in bytes, not in array slots. */
class ContainerStack {
  depth = 0;
  private kinds = new Uint8Array(64);

  push(kind: number): void {
    if (this.depth === this.kinds.length) {
      const grown = new Uint8Array(this.kinds.length * 2);
      grown.set(this.kinds);
      this.kinds = grown;
    }
    this.kinds[this.depth++] = kind;
  }

  pop(): void {
    this.depth--;
  }

  top(): number {
    return this.kinds[this.depth - 1]!;
  }
}

let lastStringEscaped = false;

/** Stretches of a string longer than this are searched natively (memchr) rather than byte by byte. */
const SHORT_STRETCH = 64;
/** What ends a stretch of string content: a quote, a backslash, or a control byte (0x00–0x1f). */
const STOP_BYTES = [QUOTE, BACKSLASH, ...Array.from({ length: 0x20 }, (_, v) => v)];

/**
 * The next position of each stop byte at or after a point, found with
 * Buffer#indexOf and remembered: positions only move forward, so each byte
 * value costs one pass over the text in all, however many strings there are.
 */
class StopFinder {
  private readonly next = new Int32Array(STOP_BYTES.length).fill(-2);
  constructor(private readonly bytes: Buffer) {}

  /** The first stop byte at or after `from`, or the text's length. */
  first(from: number): number {
    let best = this.bytes.length;
    for (let k = 0; k < STOP_BYTES.length; k++) {
      let at = this.next[k]!;
      if (at !== -1 && at < from) this.next[k] = at = this.bytes.indexOf(STOP_BYTES[k]!, from);
      if (at !== -1 && at < best) best = at;
    }
    return best;
  }
}

/** Index after the closing quote, or -1. */
function skipString(b: Buffer, at: number, stops: () => StopFinder): number {
  const n = b.length;
  let j = at + 1;
  lastStringEscaped = false;
  for (;;) {
    const short = Math.min(n, j + SHORT_STRETCH);
    while (j < short) {
      const c = b[j]!;
      if (c === QUOTE || c === BACKSLASH || c < 0x20) break;
      j++;
    }
    // Most of a DSSE envelope is one base64 string: past the short stretch, search natively.
    if (j === short && j < n) j = stops().first(j);
    if (j >= n) return -1;
    const c = b[j]!;
    if (c === QUOTE) return j + 1;
    if (c < 0x20) return -1;
    lastStringEscaped = true;
    const e = b[j + 1];
    if (e === 0x75 /* u */) {
      for (let k = j + 2; k < j + 6; k++) if (!isHex(b[k])) return -1;
      j += 6;
    } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
      j += 2;
    } else return -1;
  }
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;

/** -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
function skipNumber(b: Buffer, at: number): number {
  let j = at;
  if (b[j] === 0x2d) j++;
  if (b[j] === 0x30) j++;
  else if (isDigit(b[j])) while (isDigit(b[j])) j++;
  else return -1;
  if (b[j] === 0x2e) {
    j++;
    if (!isDigit(b[j])) return -1;
    while (isDigit(b[j])) j++;
  }
  if (b[j] === 0x65 || b[j] === 0x45) {
    j++;
    if (b[j] === 0x2b || b[j] === 0x2d) j++;
    if (!isDigit(b[j])) return -1;
    while (isDigit(b[j])) j++;
  }
  return j;
}

const LITERALS = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')];

function skipLiteral(b: Buffer, at: number): number {
  for (const word of LITERALS) {
    if (b[at] === word[0] && b.length - at >= word.length && b.compare(word, 0, word.length, at, at + word.length) === 0) return at + word.length;
  }
  return -1;
}

/** JSON's whitespace: space, tab, line feed, carriage return. */
export function isJsonSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(b: Buffer, at: number): number {
  let j = at;
  while (isJsonSpace(b[j])) j++;
  return j;
}
