/**
 * User input as it may appear in an error message or a log line. Leaf module:
 * the schema, registry and plugin layers all quote what users typed.
 */

/** Control, format and bidi characters and surrogates: shown escaped so a message reads as it is. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]/g;

/** A surrogate without its partner: not encodable as UTF-8. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Unprintable characters escaped and length capped, so a huge or hostile
 * value can't flood a status trailer or a log line (gRPC trailers of
 * megabytes never reach the client).
 */
export function safeText(text: string, max = 100): string {
  const cut = text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters)` : text;
  return cut.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `"value"`, made safe with safeText. */
export function quoteInput(text: string, max = 100): string {
  return `"${safeText(text, max)}"`;
}

/**
 * Replaces lone surrogates with U+FFFD. grpc-js percent-encodes the status
 * message with encodeURI, which throws on them and leaves the call unanswered.
 */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\ufffd');
}
