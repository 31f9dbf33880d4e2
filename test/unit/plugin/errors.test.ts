import { status as Code } from '@grpc/grpc-js';
import { AuthenticationError, RegistryUnreachableError } from '../../../src/oci';
import { PluginInputError, toPluginStatus, toServiceError } from '../../../src/plugin/errors';

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
