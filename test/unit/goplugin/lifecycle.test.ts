import { EventEmitter } from 'node:events';
import { guardCrashes, handleSignals, redirectConsole, sealStdout, watchParent } from '../../../src/goplugin/lifecycle';
import { createLogger } from '../../../src/goplugin/log';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'trace', write: (line) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('watchParent', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('calls back once when the parent pid changes', () => {
    let ppid = 100;
    const onGone = jest.fn();
    watchParent({ getPpid: () => ppid, intervalMs: 1000, onParentGone: onGone });
    jest.advanceTimersByTime(3000);
    expect(onGone).not.toHaveBeenCalled();
    ppid = 1;
    jest.advanceTimersByTime(1000);
    expect(onGone).toHaveBeenCalledWith(100, 1);
    ppid = 2;
    jest.advanceTimersByTime(5000);
    expect(onGone).toHaveBeenCalledTimes(1);
  });

  it('notices a parent that died before the watch started', () => {
    const onGone = jest.fn();
    watchParent({ getPpid: () => 1, initialPpid: 100, intervalMs: 1000, onParentGone: onGone });
    jest.advanceTimersByTime(1000);
    expect(onGone).toHaveBeenCalledWith(100, 1);
  });

  it('can be stopped', () => {
    let ppid = 100;
    const onGone = jest.fn();
    const stop = watchParent({ getPpid: () => ppid, intervalMs: 1000, onParentGone: onGone });
    stop();
    ppid = 1;
    jest.advanceTimersByTime(5000);
    expect(onGone).not.toHaveBeenCalled();
  });
});

describe('handleSignals', () => {
  it('ignores SIGINT in plugin mode and terminates on SIGTERM', () => {
    const proc = new EventEmitter();
    const onTerminate = jest.fn();
    const { logger } = capture();
    const uninstall = handleSignals(proc as never, { ignoreSigint: true, onTerminate, logger });
    proc.emit('SIGINT');
    expect(onTerminate).not.toHaveBeenCalled();
    proc.emit('SIGTERM');
    expect(onTerminate).toHaveBeenCalledWith('SIGTERM');
    uninstall();
    expect(proc.listenerCount('SIGTERM')).toBe(0);
  });

  it('terminates on SIGINT in debug mode', () => {
    const proc = new EventEmitter();
    const onTerminate = jest.fn();
    handleSignals(proc as never, { ignoreSigint: false, onTerminate, logger: capture().logger });
    proc.emit('SIGINT');
    expect(onTerminate).toHaveBeenCalledWith('SIGINT');
  });
});

describe('guardCrashes', () => {
  it('logs uncaught errors and rejections as error lines', () => {
    const proc = new EventEmitter();
    const { logger, lines } = capture();
    guardCrashes(proc as never, logger);
    proc.emit('uncaughtException', new Error('kaboom'));
    proc.emit('unhandledRejection', 'just a string');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ '@level': 'error', '@message': 'uncaught exception', error: 'kaboom' });
    expect(lines[1]).toMatchObject({ '@level': 'error', '@message': 'unhandled promise rejection', error: 'just a string' });
  });
});

describe('redirectConsole and sealStdout', () => {
  it('turns console calls into log lines', () => {
    const target = { log() {}, info() {}, debug() {}, warn() {}, error() {}, trace() {} } as unknown as Console;
    const { logger, lines } = capture();
    redirectConsole(target, logger);
    target.log('hello', 1);
    target.error(new Error('bad'));
    expect(lines[0]).toMatchObject({ '@level': 'info', '@message': 'hello 1', '@module': 'console' });
    expect(lines[1]).toMatchObject({ '@level': 'error', '@message': 'bad' });
  });

  it('diverts later stdout writes to the log', () => {
    const written: string[] = [];
    const stream = { write: (chunk: string) => written.push(chunk) } as unknown as NodeJS.WriteStream;
    const { logger, lines } = capture();
    sealStdout(stream, logger);
    const done = jest.fn();
    stream.write('stray\n', done);
    expect(written).toEqual([]);
    expect(lines[0]).toMatchObject({ '@level': 'warn', '@module': 'stdout', text: 'stray' });
  });
});
