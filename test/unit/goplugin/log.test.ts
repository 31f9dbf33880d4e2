import type { Logger } from '../../../src/plugin/logger';
import {
  createLogger,
  formatConsoleArgs,
  formatLogLine,
  formatTimestamp,
  type ProcessLogger,
} from '../../../src/goplugin/log';

const HCLOG_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const date = new Date(Date.UTC(2026, 0, 2, 15, 4, 5, 7));

describe('formatTimestamp', () => {
  it('writes exactly six fractional digits in UTC', () => {
    expect(formatTimestamp(date)).toBe('2026-01-02T15:04:05.007000Z');
    expect(formatTimestamp(new Date())).toMatch(HCLOG_TIMESTAMP);
  });

  it('never throws on an invalid date', () => {
    expect(formatTimestamp(new Date(NaN))).toMatch(HCLOG_TIMESTAMP);
  });
});

describe('formatLogLine', () => {
  it('writes the hclog keys first and fields after', () => {
    const line = formatLogLine('info', 'hello', { a: 1, b: 'two' }, date);
    expect(line).toBe(
      '{"@level":"info","@message":"hello","@timestamp":"2026-01-02T15:04:05.007000Z","a":1,"b":"two"}',
    );
    expect(line).not.toContain('\n');
  });

  it('adds @module when named', () => {
    expect(JSON.parse(formatLogLine('debug', 'm', undefined, date, 'grpc'))['@module']).toBe('grpc');
  });

  it('always writes @message as a string', () => {
    for (const message of [42, null, undefined, { a: 1 }, new Error('boom')] as unknown[]) {
      const parsed = JSON.parse(formatLogLine('warn', message as string, undefined, date));
      expect(typeof parsed['@message']).toBe('string');
    }
    expect(JSON.parse(formatLogLine('warn', new Error('boom') as unknown as string, undefined, date))['@message']).toBe('boom');
  });

  it('never lets fields override the reserved keys', () => {
    const parsed = JSON.parse(
      formatLogLine('info', 'real', { '@level': 'error', '@message': 7, '@timestamp': 'x', '@module': 'y' }, date),
    );
    expect(parsed['@level']).toBe('info');
    expect(parsed['@message']).toBe('real');
    expect(parsed['@timestamp']).toBe('2026-01-02T15:04:05.007000Z');
    expect(parsed['@module']).toBeUndefined();
    expect(parsed['_@level']).toBe('error');
    expect(parsed['_@message']).toBe(7);
  });

  it('turns errors into their message and keeps every value JSON-safe', () => {
    const circular: Record<string, unknown> = { name: 'c' };
    circular.self = circular;
    const parsed = JSON.parse(
      formatLogLine(
        'error',
        'x',
        {
          error: new Error('went wrong'),
          nested: { inner: new TypeError('bad type') },
          big: 10n,
          nan: NaN,
          bytes: new Uint8Array(3),
          circular,
          skipped: undefined,
          fn: function named() {},
          when: new Date(0),
        },
        date,
      ),
    );
    expect(parsed.error).toBe('went wrong');
    expect(parsed.nested).toEqual({ inner: 'bad type' });
    expect(parsed.big).toBe('10');
    expect(parsed.nan).toBe('NaN');
    expect(parsed.bytes).toBe('[3 bytes]');
    expect(parsed.circular).toEqual({ name: 'c', self: '[circular]' });
    expect('skipped' in parsed).toBe(false);
    expect(parsed.fn).toBe('[function named]');
    expect(parsed.when).toBe('1970-01-01T00:00:00.000Z');
  });

  it('escapes line breaks so one entry stays one line', () => {
    const line = formatLogLine('info', 'a\nb', { f: 'c\r\nd' }, date);
    expect(line.split('\n')).toHaveLength(1);
    expect(JSON.parse(line)['@message']).toBe('a\nb');
  });
});

describe('createLogger', () => {
  function capture(level: 'trace' | 'debug' | 'info' | 'warn' | 'error') {
    const lines: string[] = [];
    const logger = createLogger({ level, write: (line) => lines.push(line), now: () => date });
    return { logger, lines };
  }

  it('filters below the level', () => {
    const { logger, lines } = capture('warn');
    logger.trace('t');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(lines.map((l) => JSON.parse(l)['@level'])).toEqual(['warn', 'error']);
    expect(logger.enabled('info')).toBe(false);
    expect(logger.enabled('error')).toBe(true);
  });

  it('writes every level at trace, each as one newline-terminated line', () => {
    const { logger, lines } = capture('trace');
    for (const level of ['trace', 'debug', 'info', 'warn', 'error'] as const) logger[level](level, { level });
    expect(lines).toHaveLength(5);
    for (const line of lines) {
      expect(line.endsWith('\n')).toBe(true);
      const parsed = JSON.parse(line);
      expect(parsed['@timestamp']).toMatch(HCLOG_TIMESTAMP);
      expect(parsed.level).toBe(parsed['@level']);
    }
  });

  it('names modules and nests them', () => {
    const { logger, lines } = capture('info');
    logger.named('a').named('b').info('x');
    expect(JSON.parse(lines[0])['@module']).toBe('a.b');
  });

  it('swallows write failures', () => {
    const logger = createLogger({
      level: 'info',
      write: () => {
        throw new Error('EPIPE');
      },
    });
    expect(() => logger.error('x')).not.toThrow();
  });

  it('satisfies the plugin layer Logger interface', () => {
    const { logger } = capture('info');
    const asPluginLogger: Logger = logger satisfies ProcessLogger;
    expect(typeof asPluginLogger.info).toBe('function');
  });
});

describe('formatConsoleArgs', () => {
  it('joins console arguments into one string', () => {
    expect(formatConsoleArgs(['a', 1, { b: 2 }, new Error('e')])).toBe('a 1 {"b":2} e');
  });
});
