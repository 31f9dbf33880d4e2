/**
 * skopeo as an independent reader: what the plugin pushed is checked with a
 * client that shares no code with it (containers/image, Go).
 *
 * Credentials go on the command line (--creds / --src-creds) because that is
 * what skopeo 1.9 offers besides auth files; every error this module throws
 * shows the command with those values replaced and scrubs the password from
 * skopeo's own output as well.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SkopeoCreds {
  username: string;
  password: string;
}

export interface SkopeoOptions {
  /**
   * false (default): plain HTTP registry (--tls-verify=false).
   * string: HTTPS verified against the CA files in this directory
   * (a --cert-dir: *.crt only, see TestCa.certDir).
   */
  tls?: string | false;
  /** Omitted: anonymous (--no-creds), so no ambient auth file is consulted. */
  creds?: SkopeoCreds;
  timeoutMs?: number;
}

export interface InspectResult {
  /** Manifest bytes exactly as served. */
  raw: Buffer;
  manifest: Record<string, unknown>;
  /** sha256 of raw. */
  digest: string;
}

export interface OciLayoutResult {
  dir: string;
  /** Parsed index.json of the layout. */
  index: { schemaVersion: number; manifests: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }> };
  /** Digest of the manifest skopeo wrote (first index entry). */
  manifestDigest: string;
}

export class SkopeoError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'SkopeoError';
  }
}

const CRED_FLAGS = new Set(['--creds', '--src-creds', '--dest-creds']);

/** The command line with credential values replaced, for messages. */
export function redactArgs(args: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf('=');
    if (eq > 0 && CRED_FLAGS.has(a.slice(0, eq))) out.push(`${a.slice(0, eq)}=***`);
    else if (CRED_FLAGS.has(a) && i + 1 < args.length) {
      out.push(a, '***');
      i++;
    } else out.push(a);
  }
  return `skopeo ${out.join(' ')}`;
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}

/** Runs skopeo; resolves stdout. Errors never contain the given secrets. */
export function runSkopeo(
  args: string[],
  opts: { secrets?: string[]; timeoutMs?: number } = {},
): Promise<Buffer> {
  const secrets = opts.secrets ?? [];
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn('skopeo', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      // Bounded: a confused skopeo retrying forever must not eat memory.
      if (err.length < 64 * 1024) err += d.toString();
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new SkopeoError(`${redactArgs(args)}: ${scrub(e.message, secrets)}`, null, ''));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) return resolve(Buffer.concat(out));
      const stderr = scrub(err.trim(), secrets);
      const why = timedOut ? `timed out after ${timeoutMs} ms` : `exit ${code}`;
      reject(new SkopeoError(`${redactArgs(args)} failed (${why}): ${stderr}`, code, stderr));
    });
  });
}

function dockerRef(ref: string): string {
  return ref.startsWith('docker://') ? ref : `docker://${ref}`;
}

function accessFlags(prefix: '' | 'src-', opts: SkopeoOptions): string[] {
  const flags: string[] = [];
  if (typeof opts.tls === 'string') flags.push(`--${prefix}tls-verify=true`, `--${prefix}cert-dir`, opts.tls);
  else flags.push(`--${prefix}tls-verify=false`);
  if (opts.creds) flags.push(`--${prefix}creds`, `${opts.creds.username}:${opts.creds.password}`);
  else flags.push(`--${prefix}no-creds`);
  return flags;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** `skopeo inspect --raw`: the manifest bytes the registry serves for ref. */
export async function inspectRaw(ref: string, opts: SkopeoOptions = {}): Promise<InspectResult> {
  const args = ['inspect', '--raw', ...accessFlags('', opts), dockerRef(ref)];
  const raw = await runSkopeo(args, { secrets: opts.creds ? [opts.creds.password] : [], timeoutMs: opts.timeoutMs });
  return { raw, manifest: JSON.parse(raw.toString('utf8')) as Record<string, unknown>, digest: sha256(raw) };
}

/**
 * `skopeo copy docker://ref oci:dir:tag`, keeping digests (no conversion), so
 * the layout holds byte-identical blobs and manifest.
 */
export async function copyToOciLayout(
  ref: string,
  dir: string,
  opts: SkopeoOptions & { tag?: string } = {},
): Promise<OciLayoutResult> {
  const args = [
    // No /etc/containers/policy.json is needed for a read-only verification copy.
    '--insecure-policy',
    'copy',
    '--quiet',
    '--preserve-digests',
    ...accessFlags('src-', opts),
    dockerRef(ref),
    `oci:${dir}:${opts.tag ?? 'latest'}`,
  ];
  await runSkopeo(args, { secrets: opts.creds ? [opts.creds.password] : [], timeoutMs: opts.timeoutMs });
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as OciLayoutResult['index'];
  const first = index.manifests[0];
  if (!first) throw new Error(`skopeo wrote no manifest into ${dir}`);
  return { dir, index, manifestDigest: first.digest };
}

/** Reads blobs/<alg>/<hex> from an OCI layout and checks it matches its digest. */
export async function readLayoutBlob(dir: string, digest: string): Promise<Buffer> {
  const m = /^(sha256|sha512):([a-f0-9]+)$/.exec(digest);
  if (!m) throw new Error(`unsupported digest ${digest}`);
  const data = await readFile(join(dir, 'blobs', m[1], m[2]));
  const actual = `${m[1]}:${createHash(m[1]).update(data).digest('hex')}`;
  if (actual !== digest) throw new Error(`layout blob ${digest} has content digest ${actual}`);
  return data;
}
