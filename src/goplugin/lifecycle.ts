/**
 * Process-level behaviour of a go-plugin server: signals (the host owns the
 * terminal, so SIGINT is ignored; SIGTERM stops cleanly), exiting when the host
 * dies, crash guards that log instead of printing stacks, and keeping stdout
 * reserved for the handshake line. main passes the process objects in.
 */
import { formatConsoleArgs, type ProcessLogger } from './log';

export interface ParentWatchOptions {
  getPpid: () => number;
  /**
   * The parent pid read as early as possible at start-up. Without it the first
   * poll's value is used, and a host that dies before the watch starts is missed.
   */
  initialPpid?: number;
  onParentGone: (previous: number, current: number) => void;
  intervalMs: number;
}

/** Polls the parent pid with an unref'd timer; calls onParentGone once when it changes. */
export function watchParent(options: ParentWatchOptions): () => void {
  const initial = options.initialPpid ?? options.getPpid();
  const timer = setInterval(() => {
    const current = options.getPpid();
    if (current !== initial) {
      clearInterval(timer);
      options.onParentGone(initial, current);
    }
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

type SignalProcess = Pick<NodeJS.Process, 'on' | 'off'>;

export interface SignalOptions {
  /** go-plugin mode: SIGINT is the terminal's, sent to the whole process group; the host decides. */
  ignoreSigint: boolean;
  onTerminate: (signal: NodeJS.Signals) => void;
  logger: ProcessLogger;
}

/** Installs SIGTERM/SIGINT/SIGHUP handling; returns an uninstaller. */
export function handleSignals(proc: SignalProcess, options: SignalOptions): () => void {
  const handlers: Array<[NodeJS.Signals, () => void]> = [];
  let interrupts = 0;
  const onSigint = (): void => {
    if (options.ignoreSigint) {
      interrupts += 1;
      options.logger.debug('ignoring SIGINT: the host decides when the plugin stops', { count: interrupts });
      return;
    }
    options.onTerminate('SIGINT');
  };
  handlers.push(['SIGINT', onSigint]);
  handlers.push(['SIGTERM', () => options.onTerminate('SIGTERM')]);
  handlers.push(['SIGHUP', () => options.onTerminate('SIGHUP')]);
  for (const [signal, handler] of handlers) proc.on(signal, handler);
  return () => {
    for (const [signal, handler] of handlers) proc.off(signal, handler);
  };
}

type CrashProcess = Pick<NodeJS.Process, 'on' | 'off'>;

/** Logs uncaught exceptions and unhandled rejections as error lines and keeps running. */
export function guardCrashes(proc: CrashProcess, logger: ProcessLogger): () => void {
  const describe = (value: unknown): Record<string, unknown> =>
    value instanceof Error
      ? { error: value.message, errorName: value.name, stack: value.stack ?? '' }
      : { error: String(value) };
  const onException = (error: unknown): void => logger.error('uncaught exception', describe(error));
  const onRejection = (reason: unknown): void => logger.error('unhandled promise rejection', describe(reason));
  proc.on('uncaughtException', onException);
  proc.on('unhandledRejection', onRejection);
  return () => {
    proc.off('uncaughtException', onException);
    proc.off('unhandledRejection', onRejection);
  };
}

type ConsoleLike = Pick<Console, 'log' | 'info' | 'debug' | 'warn' | 'error' | 'trace'>;

/** Sends console output to the logger so nothing reaches stdout or stderr raw. */
export function redirectConsole(target: ConsoleLike, logger: ProcessLogger): void {
  const console = logger.named('console');
  target.log = (...args: unknown[]) => console.info(formatConsoleArgs(args));
  target.info = (...args: unknown[]) => console.info(formatConsoleArgs(args));
  target.debug = (...args: unknown[]) => console.debug(formatConsoleArgs(args));
  target.trace = (...args: unknown[]) => console.trace(formatConsoleArgs(args));
  target.warn = (...args: unknown[]) => console.warn(formatConsoleArgs(args));
  target.error = (...args: unknown[]) => console.error(formatConsoleArgs(args));
}

type WritableLike = Pick<NodeJS.WriteStream, 'write'>;

/**
 * After the handshake nothing else may reach stdout: a host reads only its
 * first line and anything later is at best noise. Later writes become warn lines.
 */
export function sealStdout(stdout: WritableLike, logger: ProcessLogger): void {
  const log = logger.named('stdout');
  const write = (chunk: unknown, encodingOrCallback?: unknown, callback?: unknown): boolean => {
    const text =
      typeof chunk === 'string'
        ? chunk
        : chunk instanceof Uint8Array
          ? Buffer.from(chunk).toString('utf8')
          : String(chunk);
    log.warn('output to stdout diverted to the log', { text: text.replace(/\n$/, '') });
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  };
  (stdout as { write: unknown }).write = write;
}
