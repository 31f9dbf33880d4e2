/**
 * The transient faults real registries and their paths show, as test-proxy
 * actions: shared by the capped fault suite (faults.test.ts) and the
 * uncapped fault-mix suite (fault-mix.test.ts).
 */
import type { ProxyAction, ProxyRequestInfo } from '../helpers/proxy';

export type FaultKind = '500' | '502' | '503' | '504' | '429' | '429-ra1' | 'reset-request' | 'reset-response' | 'slow';
export const FAILING_KINDS: FaultKind[] = ['500', '502', '503', '504', '429', '429-ra1', 'reset-request', 'reset-response'];

/** The artifact a request belongs to, from its path or a token request's scope. */
export function artifactKey(info: ProxyRequestInfo): string | undefined {
  const m = /(chainloop-test|chainloop-[0-9a-f]{64}|[a-z0-9-]+-[0-9a-f]{64})/.exec(`${info.path} ${decodeURIComponent(info.query)}`);
  return m?.[1];
}

export function faultAction(kind: FaultKind): ProxyAction {
  const body = (code: string) => JSON.stringify({ errors: [{ code, message: `injected ${kind}` }] });
  switch (kind) {
    case '429':
      return { kind: 'respond', status: 429, retryAfter: 0, body: body('TOOMANYREQUESTS') };
    case '429-ra1':
      return { kind: 'respond', status: 429, retryAfter: 1, body: body('TOOMANYREQUESTS') };
    case 'reset-request':
      // Headers read, body possibly half sent: the connection dies under the client.
      return { kind: 'reset', delayMs: Math.floor(Math.random() * 20) };
    case 'reset-response':
      return { kind: 'reset-mid-response', afterBytes: 0 };
    case 'slow':
      return { kind: 'forward', delayMs: 50 + Math.floor(Math.random() * 400) };
    default:
      return { kind: 'respond', status: Number(kind), body: body('UNAVAILABLE') };
  }
}

