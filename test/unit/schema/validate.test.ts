import { SchemaValidationError, validateAttachment, validateRegistration } from '../../../src/schema';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

function problemOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SchemaValidationError);
    return (err as Error).message;
  }
  throw new Error('expected a SchemaValidationError');
}

describe('registration schema', () => {
  it('accepts a complete registration', () => {
    const ok = { repository: 'ghcr.io/org/repo', username: 'u', password: 'p' };
    expect(validateRegistration(enc(ok))).toEqual(ok);
  });

  it('names every missing property at once', () => {
    expect(problemOf(() => validateRegistration(enc({})))).toBe(
      "missing properties: 'repository', 'username', 'password'",
    );
  });

  it('names one missing property in the singular', () => {
    expect(problemOf(() => validateRegistration(enc({ repository: 'r/x', username: 'u' })))).toBe(
      "missing property: 'password'",
    );
  });

  it('names an unexpected property', () => {
    const msg = problemOf(() => validateRegistration(enc({ repository: 'a/b', username: 'u', password: 'p', foo: 1 })));
    expect(msg).toBe("property 'foo' not allowed");
  });

  it('says which property is empty, and never echoes values', () => {
    const msg = problemOf(() => validateRegistration(enc({ repository: 'a/b', username: 'u', password: '' })));
    expect(msg).toBe("'password' must not be empty");
  });

  it('says which property has the wrong type', () => {
    expect(problemOf(() => validateRegistration(enc({ repository: 5, username: 'u', password: 'p' })))).toBe(
      "'repository' must be a string",
    );
  });

  it.each([
    ['not json', 'the payload is not valid JSON'],
    ['', 'the payload is empty: expected a JSON object'],
    ['[]', 'the payload must be a JSON object, not an array'],
    ['null', 'the payload must be a JSON object, not null'],
    ['"x"', 'the payload must be a JSON object, not a string'],
    ['42', 'the payload must be a JSON object, not a number'],
  ])('rejects %j cleanly', (payload, expected) => {
    expect(problemOf(() => validateRegistration(enc(payload)))).toContain(expected);
  });

  it('rejects invalid UTF-8', () => {
    expect(problemOf(() => validateRegistration(new Uint8Array([0x7b, 0xff, 0x7d])))).toBe(
      'the payload is not valid UTF-8 text',
    );
  });

  it('does not quote the payload when JSON is malformed', () => {
    const msg = problemOf(() => validateRegistration(enc('{"password":"hunter2-secret"')));
    expect(msg).not.toContain('hunter2');
  });
});

describe('attachment schema', () => {
  it('accepts an empty object and a prefix', () => {
    expect(validateAttachment(enc({}))).toEqual({});
    expect(validateAttachment(enc({ prefix: 'custom' }))).toEqual({ prefix: 'custom' });
  });

  it('rejects an empty prefix and extra properties together', () => {
    expect(problemOf(() => validateAttachment(enc({ prefix: '', bar: true })))).toBe(
      "property 'bar' not allowed; 'prefix' must not be empty",
    );
  });
});
