import { status as Code } from '@grpc/grpc-js';
import { AbortedError, AuthenticationError, RegistryError, RegistryUnreachableError, TagImmutableError } from '../../../src/oci';
import { PluginInputError, StageError, toPluginStatus, toServiceError } from '../../../src/plugin/errors';

describe('toPluginStatus', () => {
  it('maps input errors to INVALID_ARGUMENT and unreachable registries to UNAVAILABLE', () => {
    expect(toPluginStatus(new PluginInputError('no envelope')).code).toBe(Code.INVALID_ARGUMENT);
    expect(toPluginStatus(new RegistryUnreachableError('r.example', 'ECONNREFUSED', 'connection refused')).code).toBe(Code.UNAVAILABLE);
  });
  it('scrubs the call secrets and their base64 forms from the message', () => {
    const pw = 'S3cret-pw-42';
    const err = new AuthenticationError('r.example', `echoed ${pw} and ${Buffer.from(pw).toString('base64')}`);
    const s = toPluginStatus(err, [pw]);
    expect(s.message).not.toContain(pw);
    expect(s.message).not.toContain(Buffer.from(pw).toString('base64'));
  });
});

describe('toServiceError', () => {
  it('never hands grpc-js a message with a lone surrogate (encodeURI would throw)', () => {
    const out = toServiceError({ code: Code.INVALID_ARGUMENT, message: 'bad \ud800 input', internal: false });
    expect(out.details).toBe('bad \ufffd input');
    expect(() => encodeURI(out.details!)).not.toThrow();
  });
});

describe('registry answers map to meaningful codes', () => {
  const err = (status: number, extra: Partial<ConstructorParameters<typeof RegistryError>[0]> = {}) =>
    new RegistryError({ status, method: 'PUT', url: 'https://r.example/v2/a/manifests/latest', ...extra });

  it('never answers UNKNOWN, and always carries the status text', () => {
    for (let status = 100; status < 600; status++) {
      const s = toPluginStatus(err(status));
      expect({ status, code: Code[s.code] }).not.toEqual({ status, code: 'UNKNOWN' });
      expect(s.message).toMatch(new RegExp(`: ${status} [A-Z][A-Za-z' -]+`));
    }
  });

  it.each([
    [307, Code.FAILED_PRECONDITION, /redirect/],
    [308, Code.FAILED_PRECONDITION, /redirect/],
    [409, Code.FAILED_PRECONDITION, /409 Conflict/],
    [412, Code.FAILED_PRECONDITION, /412 Precondition Failed/],
    [405, Code.UNIMPLEMENTED, /does not support/],
    [413, Code.RESOURCE_EXHAUSTED, /413 Payload Too Large/],
    [503, Code.UNAVAILABLE, /503 Service Unavailable/],
    [505, Code.UNAVAILABLE, /505/],
    [200, Code.INTERNAL, /answered unexpectedly/],
  ])('%i -> %s', (status, code, text) => {
    const s = toPluginStatus(err(status));
    expect(Code[s.code]).toBe(Code[code]);
    expect(s.message).toMatch(text);
  });

  it('a Retry-After too long to wait for answers UNAVAILABLE with the reason and the wait', () => {
    const s = toPluginStatus(err(429, { retryAfterMs: 3_600_000, errors: [{ code: 'TOOMANYREQUESTS', message: 'pull rate limit' }] }));
    expect(s.code).toBe(Code.UNAVAILABLE);
    expect(s.message).toMatch(/TOOMANYREQUESTS: pull rate limit.*retry after 3600 s/);
  });

  it('an immutable tag holding other content is FAILED_PRECONDITION and says so', () => {
    const s = toPluginStatus(new TagImmutableError('r.example/a:latest', `sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`, 'PUT …: 412'));
    expect(s.code).toBe(Code.FAILED_PRECONDITION);
    expect(s.message).toMatch(/tag r\.example\/a:latest is immutable and holds sha256:1+, not sha256:2+/);
  });

  it('names the stage and the registry, and classifies by the cause', () => {
    const s = toPluginStatus(new StageError('blob upload', 'r.example', new AbortedError(true, 'operation deadline exceeded')));
    expect(s.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(s.message).toMatch(/^the registry did not finish .* \(during the blob upload at r\.example\)$/);
  });

  it("a signal's own reason (a DOMException) is a deadline or a cancellation, not an internal error", () => {
    const deadline = toPluginStatus(new StageError('blob upload', 'r.example', new DOMException("the plugin's 45 s budget for the call ran out", 'TimeoutError')));
    expect(deadline.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(deadline.internal).toBe(false);
    expect(deadline.message).toMatch(/budget for the call ran out.*\(during the blob upload at r\.example\)$/);
    expect(toPluginStatus(new DOMException('the call was cancelled by the host', 'AbortError')).code).toBe(Code.CANCELLED);
  });
});

