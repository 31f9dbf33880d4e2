/**
 * Decides whether credentials may be sent to a token realm. Sending Basic
 * credentials over plain http exposes them to anyone on the path, and a
 * registry on https advertising an http realm is either misconfigured or
 * being tampered with. Plain http is tolerated only when the registry itself
 * is plain-http loopback (a local test registry), where nothing better exists.
 */

export interface RealmDecision {
  /** Credentials may accompany the token request. */
  sendCredentials: boolean;
  /** Set when the realm is not acceptable for credentials; explains why. */
  refusal?: string;
}

export function decideRealmCredentials(
  realm: URL,
  registryScheme: 'https' | 'http',
  hasCredentials: boolean,
): RealmDecision {
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
    return { sendCredentials: false, refusal: `token realm uses unsupported scheme ${realm.protocol}` };
  }
  if (!hasCredentials) return { sendCredentials: false };
  if (realm.protocol === 'https:' || registryScheme === 'http') return { sendCredentials: true };
  return {
    sendCredentials: false,
    refusal: `refusing to send credentials to token realm ${realm.host} over plain http`,
  };
}
