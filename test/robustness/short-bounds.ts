/**
 * Shared by the suites that emulate real registries' behaviour through the
 * built plugin (bounded-calls.test.ts, uploads.test.ts): time bounds
 * shortened through the documented environment variables so the suites stay
 * fast, and predicates for the requests a hook picks.
 */
import type { ProxyRequestInfo } from '../helpers/proxy';

export const RESPONSE_TIMEOUT_MS = 1000;
export const BODY_IDLE_MS = 2500;
export const BUDGET_MS = 8000;
/** undici's timers tick coarsely (about 1 s): bounds are asserted with that slack. */
export const TIMER_SLACK_MS = 1500;
export const SHORT_BOUNDS_ENV = {
  CHAINLOOP_PLUGIN_OCI_CONNECT_TIMEOUT_MS: '1000',
  CHAINLOOP_PLUGIN_OCI_RESPONSE_TIMEOUT_MS: String(RESPONSE_TIMEOUT_MS),
  CHAINLOOP_PLUGIN_OCI_BODY_IDLE_TIMEOUT_MS: String(BODY_IDLE_MS),
  CHAINLOOP_PLUGIN_OCI_EXECUTE_BUDGET_MS: String(BUDGET_MS),
  CHAINLOOP_PLUGIN_OCI_REGISTER_BUDGET_MS: String(BUDGET_MS),
};

/** `chainloop-<hex>` of the artifact a request belongs to (path or token scope). */
export const keyOf = (info: ProxyRequestInfo): string | undefined =>
  /(chainloop-[0-9a-f]{64})/.exec(`${info.path} ${decodeURIComponent(info.query)}`)?.[1];
export const isBlobPost = (i: ProxyRequestInfo): boolean => i.method === 'POST' && i.path.endsWith('/blobs/uploads/');
export const isBlobPut = (i: ProxyRequestInfo): boolean => i.method === 'PUT' && i.path.includes('/blobs/uploads/');
export const isManifestPut = (i: ProxyRequestInfo): boolean => i.method === 'PUT' && i.path.includes('/manifests/');
