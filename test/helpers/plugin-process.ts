/**
 * The built plugin executable, launched the way Chainloop's control plane
 * launches it (through src/host), for integration tests, the demo and benchmarks.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from '../../src/goplugin/constants';
import { launchPlugin, type LaunchedPlugin, type LaunchOptions } from '../../src/host/client';

export const REPO_ROOT = path.resolve(__dirname, '../..');
export const PLUGIN_BINARY = path.join(REPO_ROOT, 'dist/chainloop-plugin-oci-registry');
export const COOKIE_ENV = { [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE } as const;

/** The plain JS bundle, for `node` users (and profiling). */
export const PLUGIN_BUNDLE = `${PLUGIN_BINARY}.js`;

/**
 * Builds dist/ when the executable is missing (or when PLUGIN_REBUILD=1). Returns its path:
 * the single executable, with the Node.js runtime inside, exactly what users deploy.
 */
export function ensurePluginBuilt(): string {
  if (!existsSync(PLUGIN_BINARY) || process.env.PLUGIN_REBUILD === '1') {
    execFileSync('make', ['build'], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  return PLUGIN_BINARY;
}

/** Launches the built plugin as a go-plugin host would (AutoMTLS by default). */
export function launchBuiltPlugin(options: Omit<LaunchOptions, 'executable'> = {}): Promise<LaunchedPlugin> {
  return launchPlugin({ ...options, executable: ensurePluginBuilt() });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built executable to completion with exactly the given environment
 * (nothing inherited but PATH), killing it after timeoutMs.
 */
export function runBuiltPlugin(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<RunResult> {
  const executable = ensurePluginBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(executable, args, {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
