/**
 * The token server of token-server.ts in a process of its own. A real
 * client's token request crosses to another process (a wake-up, a context
 * switch); one served by the client's own event loop does not. The
 * benchmark's floor and peers run in the benchmark process, so their token
 * requests must not be answered there while the plugin's cross over.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TokenRequestRecord, TokenServer, TokenServerOptions, TokenUser } from './token-server';

/** Users as they cross IPC: a RegExp becomes its source and flags. */
export type PortableUsers = Record<string, { password: string; actions: string[]; repositories?: { source: string; flags: string } }>;

export function toPortableUsers(users: Record<string, TokenUser>): PortableUsers {
  const out: PortableUsers = {};
  for (const [name, u] of Object.entries(users)) {
    out[name] = { password: u.password, actions: u.actions, ...(u.repositories ? { repositories: { source: u.repositories.source, flags: u.repositories.flags } } : {}) };
  }
  return out;
}

/** The inverse of toPortableUsers, in the child. */
export function fromPortableUsers(portable: PortableUsers): Record<string, TokenUser> {
  const out: Record<string, TokenUser> = {};
  for (const [name, u] of Object.entries(portable)) {
    out[name] = { password: u.password, actions: u.actions, ...(u.repositories ? { repositories: new RegExp(u.repositories.source, u.repositories.flags) } : {}) };
  }
  return out;
}

export type ParentMessage =
  | { type: 'start'; options: Omit<TokenServerOptions, 'users' | 'onAnswered'> & { users: PortableUsers } }
  | { type: 'close' };

type Info = Pick<TokenServer, 'realm' | 'url' | 'service' | 'issuer' | 'certPath' | 'certPem'>;
export type ChildMessage =
  | { type: 'started'; info: Info }
  | { type: 'failed'; error: string }
  | { type: 'answered'; record: TokenRequestRecord };

/** test/helpers under jest, .tmp/run-ts when bundled by scripts/run-ts.js: the root is two up from both. */
const REPO_ROOT = resolve(__dirname, '../..');
let childEntry: string | undefined;

/**
 * The child's entry bundled once per process (it is TypeScript; the caller
 * may be jest or a bundle), written under a temporary name and renamed, so
 * processes building it at the same time never start a half-written file.
 */
function bundledChildEntry(): string {
  if (childEntry && existsSync(childEntry)) return childEntry;
  const outdir = join(REPO_ROOT, '.tmp/token-server');
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, 'child.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const built = (require('esbuild') as typeof import('esbuild')).buildSync({
    entryPoints: [join(REPO_ROOT, 'test/helpers/token-server-child.ts')],
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
    packages: 'external',
  });
  const partial = `${outfile}.${process.pid}.partial`;
  writeFileSync(partial, built.outputFiles[0]!.contents);
  renameSync(partial, outfile);
  childEntry = outfile;
  return outfile;
}

export async function startTokenServerProcess(options: TokenServerOptions = {}): Promise<TokenServer> {
  const { users = {}, onAnswered, ...rest } = options;
  const child: ChildProcess = fork(bundledChildEntry(), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
  const requests: TokenRequestRecord[] = [];
  const send = (m: ParentMessage): void => {
    if (child.connected) child.send(m);
  };
  const info = await new Promise<Info>((resolveInfo, reject) => {
    const timer = setTimeout(() => reject(new Error('the token server process did not start in 15 s')), 15_000);
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'answered') {
        requests.push(m.record);
        onAnswered?.(m.record);
      } else if (m.type === 'started') {
        clearTimeout(timer);
        resolveInfo(m.info);
      } else {
        clearTimeout(timer);
        reject(new Error(`the token server process failed: ${m.error}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the token server process exited (${code}) before it started`));
    });
    send({ type: 'start', options: { ...rest, users: toPortableUsers(users) } });
  }).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw e;
  });
  let closed: Promise<void> | undefined;
  return {
    ...info,
    users,
    requests,
    // Over IPC these could reach the child after the caller's next token request: not offered.
    failNext: () => {
      throw new Error('failNext needs the in-process token server (startTokenServer)');
    },
    setExpiresIn: () => {
      throw new Error('setExpiresIn needs the in-process token server (startTokenServer)');
    },
    close() {
      closed ??= new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        send({ type: 'close' });
      });
      return closed;
    },
  };
}
