/**
 * A corpus of bad input through the gRPC interface of the BUILT executable.
 * Every case must be answered with the right code and a message a person can
 * read (no stack, no "undefined", no echo of megabytes or of control/bidi
 * characters), and the same process must go on answering Describe.
 *
 * Nothing here reaches a registry: where a call needs a registration, it
 * points at 127.0.0.1:1 (closed), so a validation gap shows up as UNAVAILABLE.
 */
import * as grpc from '@grpc/grpc-js';
import {
  AttachRequest,
  ExecuteRequest,
  RegisterRequest,
  ValidateAttachmentRequest,
  ValidateRegistrationRequest,
} from '../../src/gen/api/fanout';
import type { LaunchedPlugin } from '../../src/host/client';
import { codeName, describeWhen, haveExecutable, json, makeEnvelope, messageProblems, outcome, report, startPlugin, stopPlugin } from './support';

type Method = 'validateRegistration' | 'validateAttachment' | 'register' | 'attach' | 'execute';

interface Case {
  name: string;
  method: Method;
  /** Built lazily: some payloads are large. */
  request: () => unknown;
  expect: keyof typeof grpc.status | 'OK';
}

const MiB = 1024 * 1024;
const CLOSED = '127.0.0.1:1/robust/bad';
const creds = { url: '', username: 'robust-user', password: 'robust-Secr3t-bad' };
const goodRegistration = { configuration: json({ repository: CLOSED }), credentials: creds };
const envelope = makeEnvelope(7);

const reg = (o: unknown) => ({ username: 'u', password: 'p', ...(o as object) });
const raw = (text: string | Buffer) => (typeof text === 'string' ? Buffer.from(text, 'utf8') : text);

/** ValidateRegistration with a raw payload. */
const vr = (name: string, payload: Buffer, expect: Case['expect'] = 'INVALID_ARGUMENT'): Case => ({
  name: `ValidateRegistration: ${name}`,
  method: 'validateRegistration',
  request: () => ValidateRegistrationRequest.fromPartial({ jsonPayload: payload }),
  expect,
});
/** ValidateRegistration with a repository value (valid username/password). */
const repo = (name: string, repository: unknown, expect: Case['expect'] = 'INVALID_ARGUMENT'): Case =>
  vr(`repository ${name}`, json(reg({ repository })), expect);
const va = (name: string, payload: Buffer, expect: Case['expect'] = 'INVALID_ARGUMENT'): Case => ({
  name: `ValidateAttachment: ${name}`,
  method: 'validateAttachment',
  request: () => ValidateAttachmentRequest.fromPartial({ jsonPayload: payload }),
  expect,
});
const prefix = (name: string, p: unknown, expect: Case['expect'] = 'INVALID_ARGUMENT'): Case =>
  va(`prefix ${name}`, json({ prefix: p }), expect);
const ex = (name: string, request: () => unknown, expect: Case['expect'] = 'INVALID_ARGUMENT'): Case => ({
  name: `Execute: ${name}`,
  method: 'execute',
  request,
  expect,
});
const exec = (o: Partial<ExecuteRequest>) => () =>
  ExecuteRequest.fromPartial({ registrationInfo: goodRegistration, attachmentInfo: { configuration: json({}) }, envelope, ...o });

const cases: Case[] = [
  // Malformed and non-object JSON.
  vr('empty payload', raw('')),
  vr('whitespace only', raw('  \n\t ')),
  vr('not JSON', raw('repository=ghcr.io/o/r')),
  vr('truncated JSON', raw('{"repository": "ghcr.io/o/r", "username": ')),
  vr('JSON null', raw('null')),
  vr('JSON array', raw('[]')),
  vr('JSON string', raw('"ghcr.io/o/r"')),
  vr('JSON number', raw('42')),
  vr('JSON true', raw('true')),
  vr('invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])),
  // A leading BOM is stripped by the UTF-8 decoder: accepting it is harmless leniency.
  vr('UTF-8 BOM before the object (accepted)', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(reg({ repository: 'ghcr.io/o/r' }))]), 'OK'),
  vr('deeply nested arrays (100k levels)', raw('['.repeat(100_000) + ']'.repeat(100_000))),
  vr('deeply nested object values (50k levels)', raw('{"repository":' + '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000) + '}')),
  // Missing, extra, wrong types, empty.
  vr('empty object', json({})),
  vr('missing password', json({ repository: 'ghcr.io/o/r', username: 'u' })),
  vr('missing username', json({ repository: 'ghcr.io/o/r', password: 'p' })),
  vr('missing repository', json({ username: 'u', password: 'p' })),
  vr('extra field', json(reg({ repository: 'ghcr.io/o/r', insecure: true }))),
  vr('extra field with a 1 MiB name', json(reg({ repository: 'ghcr.io/o/r', ['k'.repeat(MiB)]: 1 }))),
  vr('extra field named with an RTL override', json(reg({ repository: 'ghcr.io/o/r', 'evil\u202Egnp.exe': 1 }))),
  vr('extra field named with a lone surrogate (JSON \\ud800)', raw('{"repository":"ghcr.io/o/r","username":"u","password":"p","\\ud800":1}')),
  vr('__proto__ key', raw('{"__proto__":{"repository":"x"},"repository":"ghcr.io/o/r","username":"u","password":"p"}')),
  vr('repository is a number', json(reg({ repository: 5000 }))),
  vr('repository is null', json(reg({ repository: null }))),
  vr('username is a number', json({ repository: 'ghcr.io/o/r', username: 7, password: 'p' })),
  vr('password is an object', json({ repository: 'ghcr.io/o/r', username: 'u', password: { v: 'x' } })),
  vr('password is an array', json({ repository: 'ghcr.io/o/r', username: 'u', password: ['x'] })),
  vr('empty repository', json(reg({ repository: '' }))),
  vr('empty username', json({ repository: 'ghcr.io/o/r', username: '', password: 'p' })),
  vr('empty password', json({ repository: 'ghcr.io/o/r', username: 'u', password: '' })),
  // Long strings and odd characters.
  repo('of 1 MiB', 'a'.repeat(MiB)),
  repo('of 1 MiB with a host', `ghcr.io/${'a'.repeat(MiB)}`),
  repo('with a NUL byte', 'ghcr.io/org\u0000/repo'),
  repo('with an RTL override', 'ghcr.io/org/\u202Eoper'),
  repo('with an emoji', 'ghcr.io/org/\u{1F4E6}'),
  vr('repository with a lone surrogate (JSON \\ud800)', raw('{"repository":"ghcr.io/o/\\ud800","username":"u","password":"p"}')),
  vr('repository with a lone low surrogate (JSON \\udc00)', raw('{"repository":"ghcr.io/\\udc00/r","username":"u","password":"p"}')),
  repo('with a newline and a fake log line', 'ghcr.io/o/r\n{"@level":"error","@message":"forged"}'),
  // Repository syntax.
  repo('with https://', 'https://ghcr.io/org/repo'),
  repo('with oci://', 'oci://ghcr.io/org/repo'),
  repo('with an upper-case path', 'ghcr.io/Org/Repo'),
  repo('with a space inside', 'ghcr.io/org repo'),
  repo('with a leading space', ' ghcr.io/org/repo'),
  repo('with port 99999', 'ghcr.io:99999/org/repo'),
  repo('with port 0', 'ghcr.io:0/org/repo'),
  repo('with a non-numeric port', 'ghcr.io:http/org/repo'),
  repo('with an empty port', 'ghcr.io:/org/repo'),
  repo('with a valid IPv6 host (control)', '[::1]:5000/org/repo', 'OK'),
  repo('with a valid IPv6 host without port (control)', '[2001:db8::1]/org/repo', 'OK'),
  repo('with IPv6 missing "]"', '[::1:5000/org/repo'),
  repo('with IPv6 ":::1"', '[:::1]:5000/org/repo'),
  repo('with unbracketed IPv6', '::1:5000/org/repo'),
  repo('with an IPv6 zone id', '[fe80::1%eth0]:5000/org/repo'),
  repo('with garbage after the IPv6 "]"', '[::1]x/org/repo'),
  repo('with a tag', 'ghcr.io/org/repo:v1'),
  repo('with a digest', `ghcr.io/org/repo@sha256:${'a'.repeat(64)}`),
  repo('with no path', 'ghcr.io'),
  repo('with only a trailing slash', 'ghcr.io/'),
  repo('without a registry host', 'org/repo'),
  repo('with "//"', 'ghcr.io//org'),
  repo('ending with "/"', 'ghcr.io/org/'),
  repo('with a component starting with "-"', 'ghcr.io/org/-repo'),
  repo('with ".." components', 'localhost:5000/org/../x'),
  repo('longer than 255 characters', `ghcr.io/${'a'.repeat(300)}`),
  repo('with a host label starting with "-"', '-ghcr.io/org'),
  repo('with an empty host label', 'ghcr..io/org'),
  repo('with IPv4 256.1.1.1', '256.1.1.1/org'),
  repo('with credentials in it', 'user:pass@ghcr.io/org/repo'),
  // Attachment / prefix.
  va('empty payload', raw('')),
  va('not JSON', raw('prefix=x')),
  va('JSON array', raw('["x"]')),
  va('extra field', json({ prefix: 'ok', other: 1 })),
  va('empty object (control: default prefix)', json({}), 'OK'),
  prefix('empty', ''),
  prefix('a number', 123),
  prefix('upper case', 'Chainloop'),
  prefix('with a space', 'chain loop'),
  prefix('starting with "-"', '-chainloop'),
  prefix('with ".."', '../escape'),
  prefix('of 300 characters', 'p'.repeat(300)),
  prefix('of 1 MiB', 'p'.repeat(MiB)),
  prefix('with an emoji', 'chain\u{1F517}'),
  prefix('with a NUL byte', 'chain\u0000loop'),
  prefix('with an RTL override', 'chain\u202Eloop'),
  // Register / Attach fail before any network call.
  {
    name: 'Register: not JSON',
    method: 'register',
    request: () => RegisterRequest.fromPartial({ payload: raw('{oops') }),
    expect: 'INVALID_ARGUMENT',
  },
  {
    name: 'Register: repository with a scheme',
    method: 'register',
    request: () => RegisterRequest.fromPartial({ payload: json(reg({ repository: 'https://ghcr.io/o/r' })) }),
    expect: 'INVALID_ARGUMENT',
  },
  {
    name: 'Register: 1 MiB username on a closed registry (reaches the network: UNAVAILABLE)',
    method: 'register',
    request: () => RegisterRequest.fromPartial({ payload: json({ repository: CLOSED, username: 'u'.repeat(MiB), password: 'p' }) }),
    expect: 'UNAVAILABLE',
  },
  {
    name: 'Attach: registration configuration that is not ours (not JSON)',
    method: 'attach',
    request: () => AttachRequest.fromPartial({ payload: json({}), registrationInfo: { configuration: raw('bucket: x') } }),
    expect: 'INVALID_ARGUMENT',
  },
  {
    name: 'Attach: prefix invalid below the registered repository',
    method: 'attach',
    request: () => AttachRequest.fromPartial({ payload: json({ prefix: 'x'.repeat(240) }), registrationInfo: goodRegistration }),
    expect: 'INVALID_ARGUMENT',
  },
  // Execute.
  ex('no envelope', exec({ envelope: new Uint8Array() })),
  ex('envelope of one space', exec({ envelope: raw(' ') })),
  ex('non-JSON envelope', exec({ envelope: raw('-----BEGIN PGP MESSAGE-----') })),
  ex('JSON array envelope', exec({ envelope: raw('[{"payloadType":"x"}]') })),
  ex('JSON string envelope', exec({ envelope: raw('"envelope"') })),
  ex('envelope with invalid UTF-8', exec({ envelope: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]) })),
  ex('64 MiB non-JSON envelope', exec({ envelope: Buffer.alloc(64 * MiB, 0x41) })),
  ex('64 MiB envelope opening like JSON but truncated', exec({ envelope: Buffer.concat([raw('{"payload":"'), Buffer.alloc(64 * MiB, 0x41)]) })),
  ex('no registration info', exec({ registrationInfo: undefined })),
  ex('registration info without credentials', exec({ registrationInfo: { configuration: json({ repository: CLOSED }), credentials: undefined } })),
  ex('credentials with an empty password', exec({ registrationInfo: { ...goodRegistration, credentials: { ...creds, password: '' } } })),
  ex('credentials with an empty username', exec({ registrationInfo: { ...goodRegistration, credentials: { ...creds, username: '' } } })),
  ex('registration configuration not JSON', exec({ registrationInfo: { ...goodRegistration, configuration: raw('repository=x') } })),
  ex('registration configuration of another plugin', exec({ registrationInfo: { ...goodRegistration, configuration: json({ bucket: 'b', region: 'eu-west-1' }) } })),
  ex('registration configuration with a numeric repository', exec({ registrationInfo: { ...goodRegistration, configuration: json({ repository: 5 }) } })),
  ex('registration configuration with an invalid repository', exec({ registrationInfo: { ...goodRegistration, configuration: json({ repository: 'HTTPS://X/Y' }) } })),
  ex('registration configuration that is a JSON array', exec({ registrationInfo: { ...goodRegistration, configuration: raw('["127.0.0.1:1/x"]') } })),
  ex('attachment configuration not JSON', exec({ attachmentInfo: { configuration: raw('prefix: x') } })),
  ex('attachment configuration with an invalid prefix', exec({ attachmentInfo: { configuration: json({ prefix: 'BAD PREFIX' }) } })),
  ex('attachment configuration with a numeric prefix', exec({ attachmentInfo: { configuration: json({ prefix: 9 }) } })),
  ex('a valid request to a closed registry (control)', exec({}), 'UNAVAILABLE'),
];

describeWhen(haveExecutable, 'needs `make build`')('bad input through gRPC', () => {
  let plugin: LaunchedPlugin;
  let pid: number;
  const problems: string[] = [];
  const started = Date.now();

  beforeAll(async () => {
    plugin = await startPlugin();
    pid = plugin.pid;
  });
  afterAll(async () => {
    const alive = plugin && !plugin.hasExited;
    await stopPlugin(plugin);
    report('bad-input', {
      cases: cases.length,
      badAnswers: problems.length,
      sameProcessAlive: alive,
      seconds: Math.round((Date.now() - started) / 1000),
    });
  });

  it.each(cases)('$name → $expect', async (c) => {
    const call = (plugin.fanout as unknown as Record<Method, (r: unknown, o?: object) => Promise<unknown>>)[c.method];
    const result = await outcome(call(c.request(), { deadlineMs: 8000 }));
    const got = result.ok ? 'OK' : codeName(result.code);
    const issues = result.ok ? [] : messageProblems(result.details);
    if (got !== c.expect || issues.length > 0) problems.push(c.name);
    // Still the same process, still answering.
    const described = await plugin.fanout.describe({}, { deadlineMs: 5000 });
    expect(described.id).toBe('oci-registry');
    expect(plugin.hasExited).toBe(false);
    expect(plugin.pid).toBe(pid);
    expect({ code: got, details: result.ok ? '' : result.details.slice(0, 300) }).toMatchObject({ code: c.expect });
    expect(issues).toEqual([]);
  });

  it(`covers at least 50 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
  });
});
