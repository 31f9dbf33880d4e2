/**
 * The plugin process as a go-plugin host sees it before connecting: its
 * stderr lines, anything on stdout after the handshake line, its exit, and
 * the wait for a handshake that is valid for what the host asked for.
 */
import type { ChildProcess } from 'node:child_process';
import { APP_PROTOCOL_VERSION, CORE_PROTOCOL_VERSION } from '../goplugin/constants';
import { parseHandshake, type ParsedHandshake } from '../goplugin/handshake';

export interface PluginExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class PluginLaunchError extends Error {
  constructor(
    message: string,
    readonly stderrLines: string[],
    readonly exit?: PluginExit,
  ) {
    super(stderrLines.length > 0 ? `${message}\nplugin stderr:\n${stderrLines.join('\n')}` : message);
    this.name = 'PluginLaunchError';
  }
}

export interface PluginOutput {
  /** Every stderr line so far. */
  stderrLines: string[];
  /** Anything written to stdout after the handshake line (should stay empty). */
  extraStdout: string[];
  /** The first stdout line; rejects when stdout closes before one. */
  handshakeLine: Promise<string>;
  exited: Promise<PluginExit>;
  readonly hasExited: boolean;
}

/** Starts reading a spawned plugin's stdout and stderr (both piped). */
export function watchPlugin(child: ChildProcess, onStderr?: (line: string) => void): PluginOutput {
  const stderrLines: string[] = [];
  const extraStdout: string[] = [];
  let hasExited = false;
  const exited = new Promise<PluginExit>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      resolve({ code, signal });
    });
  });
  const stderrSplitter = splitLines((line) => {
    stderrLines.push(line);
    onStderr?.(line);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => stderrSplitter.push(chunk));
  child.stderr!.on('end', () => stderrSplitter.flush());

  const handshakeLine = new Promise<string>((resolve, reject) => {
    let buffer = '';
    let done = false;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      if (done) {
        extraStdout.push(chunk);
        return;
      }
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline >= 0) {
        done = true;
        resolve(buffer.slice(0, newline));
        const rest = buffer.slice(newline + 1);
        if (rest !== '') extraStdout.push(rest);
      }
    });
    child.stdout!.on('end', () => {
      if (!done) reject(new Error(`stdout closed before a handshake line${buffer ? ` (got ${JSON.stringify(buffer)})` : ''}`));
    });
  });
  handshakeLine.catch(() => undefined);
  return {
    stderrLines,
    extraStdout,
    handshakeLine,
    exited,
    get hasExited() {
      return hasExited;
    },
  };
}

export interface HandshakeWait {
  executable: string;
  timeoutMs: number;
  /** Whether the host sent a client certificate (the plugin must then send one back). */
  autoMTLS: boolean;
}

/**
 * The plugin's handshake, checked against the protocols this host speaks.
 * On any failure the process is killed and a PluginLaunchError carries its stderr.
 */
export async function awaitHandshake(child: ChildProcess, output: PluginOutput, wait: HandshakeWait): Promise<ParsedHandshake> {
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new PluginLaunchError(`could not start ${wait.executable}: ${error.message}`, output.stderrLines)));
  });
  spawnError.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no handshake line within ${wait.timeoutMs} ms`)), wait.timeoutMs);
  });

  // After a failed start: wait (briefly) until the process is gone and its stderr read.
  const closed = new Promise<PluginExit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const exitBeforeHandshake = async (fallback: string): Promise<never> => {
    const exit = await Promise.race([closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000).unref())]);
    if (exit) throw new PluginLaunchError(`plugin exited (code ${exit.code}, signal ${exit.signal}) before its handshake`, output.stderrLines, exit);
    throw new PluginLaunchError(fallback, output.stderrLines);
  };

  try {
    const line = await Promise.race([
      output.handshakeLine.catch((error: Error) => exitBeforeHandshake(error.message)),
      spawnError,
      timeout,
    ]);
    return checkHandshake(parseHandshake(line), wait.autoMTLS);
  } catch (error) {
    if (!output.hasExited) child.kill('SIGKILL');
    child.stdout!.destroy();
    child.stderr!.destroy();
    if (error instanceof PluginLaunchError) throw error;
    throw new PluginLaunchError(error instanceof Error ? error.message : String(error), output.stderrLines);
  } finally {
    clearTimeout(timer);
  }
}

function checkHandshake(handshake: ParsedHandshake, autoMTLS: boolean): ParsedHandshake {
  if (handshake.coreVersion !== CORE_PROTOCOL_VERSION) {
    throw new Error(`plugin speaks go-plugin core protocol ${handshake.coreVersion}, want ${CORE_PROTOCOL_VERSION}`);
  }
  if (handshake.appVersion !== APP_PROTOCOL_VERSION) {
    throw new Error(`plugin speaks app protocol ${handshake.appVersion}, want ${APP_PROTOCOL_VERSION}`);
  }
  if (handshake.protocol !== 'grpc') throw new Error(`plugin protocol is ${handshake.protocol}, want grpc`);
  if (autoMTLS && !handshake.serverCertDer) throw new Error('AutoMTLS asked for but the handshake has no certificate');
  if (!autoMTLS && handshake.serverCertDer) throw new Error('the handshake has a certificate although none was asked for');
  return handshake;
}

function splitLines(onLine: (line: string) => void): { push(chunk: string): void; flush(): void } {
  let buffer = '';
  return {
    push(chunk) {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        onLine(buffer.slice(0, newline).replace(/\r$/, ''));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
    },
    flush() {
      if (buffer !== '') onLine(buffer);
      buffer = '';
    },
  };
}
