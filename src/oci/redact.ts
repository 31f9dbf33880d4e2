/**
 * URL redaction for errors and logs. Upload locations carry opaque state
 * (`_state` in distribution, signed storage URLs carry signatures), so only
 * an allow-list of query parameters survives; userinfo never does.
 */

const HARMLESS_QUERY = new Set(['digest', 'n', 'last', 'service', 'scope', 'mount', 'from']);

export function redactUrl(input: string | URL): string {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    return '<invalid url>';
  }
  const kept = new URLSearchParams();
  let dropped = false;
  for (const [k, v] of url.searchParams) {
    if (HARMLESS_QUERY.has(k)) kept.append(k, v);
    else dropped = true;
  }
  const query = kept.toString();
  const suffix = query ? `?${query}${dropped ? '&…' : ''}` : dropped ? '?…' : '';
  // Rebuild from parts so username/password and fragments are never included.
  return `${url.protocol}//${url.host}${url.pathname}${suffix}`;
}

/** Values redactUrl would drop; error bodies echoing them are scrubbed too. */
export function droppedQueryValues(url: URL): string[] {
  return [...url.searchParams].filter(([k]) => !HARMLESS_QUERY.has(k)).map(([, v]) => v);
}

/**
 * Replaces any occurrence of a known secret in text that came from a remote
 * peer (error bodies can echo request data). Short strings are skipped so
 * that a trivial password cannot blank out unrelated words.
 */
export function scrubSecrets(text: string, secrets: Iterable<string>): string {
  let out = text;
  // Longest first, so a secret containing another is replaced whole.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s && s.length >= 4 && out.includes(s)) out = out.split(s).join('<redacted>');
  }
  return out;
}

/** Shortest secret fragment treated as a leak. */
const MIN_FRAGMENT = 4;

/**
 * scrubSecrets, then cut to `max` characters. Scrubbing comes first so a cut
 * can't split a secret and let its start through; a text that ends in the
 * first characters of a secret (cut here or by the peer that echoed it)
 * loses that tail too.
 */
export function scrubAndCut(text: string, max: number, secrets: Iterable<string>): string {
  const list = [...secrets].filter((s) => s.length >= MIN_FRAGMENT);
  let out = dropSecretTail(scrubSecrets(text, list), list);
  if (out.length > max) out = dropSecretTail(out.slice(0, max), list);
  return out;
}

/** Removes a trailing fragment (>= MIN_FRAGMENT characters) that begins some secret. */
function dropSecretTail(text: string, secrets: readonly string[]): string {
  let cut = text.length;
  for (const secret of secrets) {
    // A fragment starts with the secret's first MIN_FRAGMENT characters, so only
    // their occurrences in the tail are tried; the first that fits is the longest.
    const head = secret.slice(0, MIN_FRAGMENT);
    const last = text.length - MIN_FRAGMENT;
    for (let i = text.indexOf(head, Math.max(0, text.length - secret.length + 1)); i !== -1 && i <= last; i = text.indexOf(head, i + 1)) {
      if (secret.startsWith(text.slice(i))) {
        cut = Math.min(cut, i);
        break;
      }
    }
  }
  return cut === text.length ? text : `${text.slice(0, cut)}<redacted>`;
}

/**
 * The forms in which credentials travel on the wire (Basic auth is
 * base64(user:password); token requests carry the password form-encoded), so
 * a registry echoing a request header or body can't leak them either.
 */
export function credentialForms(username: string, password: string): string[] {
  const pair = `${username}:${password}`;
  const b64 = (text: string, enc: 'base64' | 'base64url'): string => Buffer.from(text, 'utf8').toString(enc);
  const forms = [password, pair, b64(pair, 'base64'), b64(pair, 'base64url'), b64(password, 'base64'), b64(password, 'base64url')];
  forms.push(encodeURIComponent(password), new URLSearchParams({ p: password }).toString().slice(2));
  return [...new Set(forms)];
}
