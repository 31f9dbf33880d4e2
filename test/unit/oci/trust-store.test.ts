import * as fs from 'node:fs';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  configureTrust,
  GO_CERT_DIRECTORIES,
  GO_CERT_FILES,
  loadTrustStore,
  trustedSecureContext,
  type TrustFs,
} from '../../../src/oci/trust-store';
import { createSelfSignedCert } from '../../helpers/tls-ca';

/** A file system rooted in a temp directory (absolute paths map below it), counting reads. */
function rootedFs(root: string): TrustFs & { reads: string[] } {
  const inRoot = (p: string): string => (p.startsWith(root) ? p : path.join(root, p));
  const reads: string[] = [];
  return {
    reads,
    readFileSync(file, encoding) {
      reads.push(file.slice(root.length));
      return fs.readFileSync(inRoot(file), encoding);
    },
    readdirSync: (dir, options) => fs.readdirSync(inRoot(dir), options),
    realpathSync: (file) => fs.realpathSync(inRoot(file)),
  };
}

let root: string;
let pems: string[];
let bundledRoot: string;
const warnings: Array<{ message: string; fields: Record<string, unknown> }> = [];
const warn = (message: string, fields: Record<string, unknown>): void => void warnings.push({ message, fields });

function put(rel: string, text: string): string {
  const file = path.join(root, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return rel;
}

beforeAll(async () => {
  pems = await Promise.all(['one', 'two', 'three', 'four'].map(async (cn) => (await createSelfSignedCert(cn)).certPem));
  bundledRoot = (await createSelfSignedCert('bundled')).certPem;
});
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'trust-'));
  warnings.length = 0;
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const load = (env = {}, fsys = rootedFs(root)) => ({ store: loadTrustStore(env, warn, fsys, [bundledRoot]), fsys });

test('bundled roots come first, then the first readable Go bundle, and later bundles are not read', () => {
  put(GO_CERT_FILES[1], pems[0]);
  put(GO_CERT_FILES[2], pems[1]);
  const { store, fsys } = load();
  expect(store.certificates).toEqual([bundledRoot, pems[0].trim()]);
  expect(fsys.reads).toEqual([GO_CERT_FILES[1]]);
  expect(warnings).toEqual([]);
});

test('SSL_CERT_FILE replaces the bundle list', () => {
  put(GO_CERT_FILES[2], pems[0]); // /etc/ssl/ca-bundle.pem: in no default directory
  put('/custom/bundle.pem', pems[1] + pems[2]);
  const { store, fsys } = load({ SSL_CERT_FILE: '/custom/bundle.pem' });
  expect(store.certificates).toEqual([bundledRoot, pems[1].trim(), pems[2].trim()]);
  expect(fsys.reads).toEqual(['/custom/bundle.pem']);
});

test('every file of /etc/pki/tls/certs is trusted (where the Helm chart mounts customCAs)', () => {
  put('/etc/pki/tls/certs/registry-ca.pem', pems[0]);
  put('/etc/pki/tls/certs/other.crt', pems[1]);
  const { store } = load();
  expect(store.certificates).toEqual([bundledRoot, pems[1].trim(), pems[0].trim()]);
  expect(GO_CERT_DIRECTORIES).toContain('/etc/pki/tls/certs');
});

test('SSL_CERT_DIR (colon-separated) replaces the default directories', () => {
  put('/etc/pki/tls/certs/ignored.pem', pems[0]);
  put('/a/one.pem', pems[1]);
  put('/b/two.pem', pems[2]);
  const { store, fsys } = load({ SSL_CERT_DIR: '/a:/b' });
  expect(store.certificates).toEqual([bundledRoot, pems[1].trim(), pems[2].trim()]);
  expect(fsys.reads).toEqual(['/a/one.pem', '/b/two.pem']);
});

test('NODE_EXTRA_CA_CERTS is kept, since a custom secure context would drop it', () => {
  put('/extra.pem', pems[3]);
  const { store } = load({ NODE_EXTRA_CA_CERTS: '/extra.pem' });
  expect(store.certificates).toEqual([bundledRoot, pems[3].trim()]);
});

test('a bad file is skipped with one warning that names it; good files still count', () => {
  put('/etc/pki/tls/certs/garbage.pem', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
  put('/etc/pki/tls/certs/notes.txt', 'no certificates here');
  put('/etc/pki/tls/certs/good.pem', pems[0]);
  const { store } = load();
  expect(store.certificates).toEqual([bundledRoot, pems[0].trim()]);
  expect(warnings).toHaveLength(2);
  expect(warnings.map((w) => w.fields.file).sort()).toEqual(['/etc/pki/tls/certs/garbage.pem', '/etc/pki/tls/certs/notes.txt']);
});

test('a file that cannot be read gets a warning; a missing one does not', () => {
  put('/etc/pki/tls/certs/locked.pem', pems[0]);
  const fsys = rootedFs(root);
  const read = fsys.readFileSync;
  fsys.readFileSync = (file, encoding) => {
    if (file.endsWith('locked.pem')) throw Object.assign(new Error('denied'), { code: 'EACCES' });
    return read(file, encoding);
  };
  const { store } = load({ NODE_EXTRA_CA_CERTS: '/missing.pem' }, fsys);
  expect(store.certificates).toEqual([bundledRoot]);
  expect(warnings).toEqual([
    { message: 'skipping a CA certificate file that cannot be read', fields: expect.objectContaining({ file: '/etc/pki/tls/certs/locked.pem', reason: 'EACCES' }) },
  ]);
});

test('the context trusts exactly the certificates kept', () => {
  put('/etc/pki/tls/certs/a.pem', pems[0]);
  const { store } = load();
  expect(store.context).toBeDefined();
  expect(store.certificates).toHaveLength(2);
});

test('nothing is read twice: the bundle inside /etc/ssl/certs, links to read files, duplicate certificates', () => {
  put(GO_CERT_FILES[0], pems[0] + pems[1]); // /etc/ssl/certs/ca-certificates.crt, also a directory entry
  put('/usr/share/ca/one.crt', pems[0]);
  symlinkSync(path.join(root, '/usr/share/ca/one.crt'), path.join(root, '/etc/ssl/certs/one.pem'));
  symlinkSync('one.pem', path.join(root, '/etc/ssl/certs/abcd1234.0')); // the c_rehash link
  const { store, fsys } = load({ NODE_EXTRA_CA_CERTS: GO_CERT_FILES[0] });
  expect(fsys.reads).toEqual([GO_CERT_FILES[0], '/usr/share/ca/one.crt']);
  expect(store.filesRead).toHaveLength(2);
  expect(store.certificates).toEqual([bundledRoot, pems[0].trim(), pems[1].trim()]);
  expect(warnings).toEqual([]);
});

test('the process-wide context is built once, on first use, from the configured environment', () => {
  const bundle = path.join(root, 'bundle.pem');
  writeFileSync(bundle, 'not a certificate');
  mkdirSync(path.join(root, 'empty'));
  configureTrust({ SSL_CERT_FILE: bundle, SSL_CERT_DIR: path.join(root, 'empty') }, warn);
  expect(warnings).toEqual([]); // nothing is read when configured
  const first = trustedSecureContext();
  expect(trustedSecureContext()).toBe(first);
  expect(warnings.map((w) => w.fields.file)).toEqual([bundle]); // read (and warned about) once
  configureTrust({}, () => undefined);
});
