/**
 * Structured logging in the JSON shape go-plugin hosts parse (hclog):
 * one object per stderr line with `@level`, `@message` (always a string),
 * `@timestamp` with exactly six fractional digits, optional `@module`, and
 * the fields as further keys. Any line the host cannot parse is printed raw,
 * and a non-string `@message` crashes a Go host, so the shape is strict here.
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

const LEVEL_RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

/** Keys the line itself owns; fields with these names are renamed, never applied. */
const RESERVED_KEYS = new Set(['@level', '@message', '@timestamp', '@module', '@caller']);

/**
 * Longest string (message or field) written in a line, in UTF-16 units; the
 * rest is cut with a note. A host reads stderr line by line, and a field that
 * echoes a 64 MiB request must not become a 64 MiB line.
 */
export const MAX_LOG_STRING = 8192;

export function truncateForLog(text: string, max = MAX_LOG_STRING): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}…[${text.length - max} more characters cut]`;
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

/** Parses a level name case-insensitively; undefined when it is not one. */
export function parseLogLevel(value: string): LogLevel | undefined {
  const lower = value.trim().toLowerCase();
  return isLogLevel(lower) ? lower : undefined;
}

export function levelEnabled(threshold: LogLevel, level: LogLevel): boolean {
  return LEVEL_RANK[level] >= LEVEL_RANK[threshold];
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/** `2026-01-02T15:04:05.000000Z`: UTC, exactly six fractional digits (hclog's layout). */
export function formatTimestamp(date: Date): string {
  const time = Number.isFinite(date.getTime()) ? date : new Date(0);
  return (
    `${pad(time.getUTCFullYear(), 4)}-${pad(time.getUTCMonth() + 1, 2)}-${pad(time.getUTCDate(), 2)}` +
    `T${pad(time.getUTCHours(), 2)}:${pad(time.getUTCMinutes(), 2)}:${pad(time.getUTCSeconds(), 2)}` +
    `.${pad(time.getUTCMilliseconds(), 3)}000Z`
  );
}

function errorMessage(error: Error): string {
  return typeof error.message === 'string' && error.message !== '' ? error.message : String(error.name ?? 'Error');
}

/** Turns a field value into something JSON.stringify writes without throwing or losing meaning. */
export function toJsonValue(value: unknown, seen: Set<object> = new Set()): unknown {
  switch (typeof value) {
    case 'string':
      return truncateForLog(value);
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value.toString();
    case 'undefined':
      return null;
    case 'symbol':
      return value.toString();
    case 'function':
      return `[function ${value.name || 'anonymous'}]`;
    default:
      break;
  }
  if (value === null) return null;
  if (value instanceof Error) return truncateForLog(errorMessage(value));
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.toISOString() : 'Invalid Date';
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  const object = value as object;
  if (seen.has(object)) return '[circular]';
  seen.add(object);
  try {
    if (Array.isArray(object)) return object.map((item) => toJsonValue(item, seen));
    if (object instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of object) out[String(k)] = toJsonValue(v, seen);
      return out;
    }
    if (object instanceof Set) return [...object].map((item) => toJsonValue(item, seen));
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(object)) {
      let item: unknown;
      try {
        item = (object as Record<string, unknown>)[key];
      } catch (error) {
        item = `[unreadable: ${error instanceof Error ? error.message : String(error)}]`;
      }
      if (item === undefined) continue;
      out[key] = toJsonValue(item, seen);
    }
    return out;
  } finally {
    seen.delete(object);
  }
}

function messageText(message: unknown): string {
  if (typeof message === 'string') return truncateForLog(message);
  if (message instanceof Error) return truncateForLog(errorMessage(message));
  try {
    return truncateForLog(String(message));
  } catch {
    return '[unprintable message]';
  }
}

/**
 * One hclog JSON line (no trailing newline) for a level, message and fields.
 * Pure: the same arguments always give the same line.
 */
export function formatLogLine(
  level: LogLevel,
  message: string,
  fields: LogFields | undefined,
  date: Date,
  module?: string,
): string {
  const line: Record<string, unknown> = {
    '@level': isLogLevel(level) ? level : 'info',
    '@message': messageText(message),
    '@timestamp': formatTimestamp(date),
  };
  if (module) line['@module'] = module;
  if (fields) {
    for (const key of Object.keys(fields)) {
      const value = fields[key];
      if (value === undefined) continue;
      let name = key;
      while (RESERVED_KEYS.has(name) || name in line) name = `_${name}`;
      line[name] = toJsonValue(value);
    }
  }
  try {
    return JSON.stringify(line);
  } catch {
    // toJsonValue should make this unreachable; never let logging throw.
    return JSON.stringify({ '@level': line['@level'], '@message': line['@message'], '@timestamp': line['@timestamp'] });
  }
}

/** The process logger: structurally a src/plugin Logger, plus trace and modules. */
export interface ProcessLogger {
  readonly level: LogLevel;
  trace(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  log(level: LogLevel, message: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  /** A logger writing the same lines with `@module` set (nested names join with "."). */
  named(module: string): ProcessLogger;
}

export interface LoggerOptions {
  level: LogLevel;
  /** Receives one complete line including the trailing "\n". Errors it throws are swallowed. */
  write: (line: string) => void;
  module?: string;
  now?: () => Date;
}

export function createLogger(options: LoggerOptions): ProcessLogger {
  const { level: threshold, write, module } = options;
  const now = options.now ?? (() => new Date());
  const log = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (!levelEnabled(threshold, level)) return;
    let line: string;
    try {
      line = formatLogLine(level, message, fields, now(), module);
    } catch {
      return;
    }
    try {
      write(`${line}\n`);
    } catch {
      // stderr closed (host gone): nothing useful left to do with the line.
    }
  };
  return {
    level: threshold,
    trace: (message, fields) => log('trace', message, fields),
    debug: (message, fields) => log('debug', message, fields),
    info: (message, fields) => log('info', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
    log,
    enabled: (level) => levelEnabled(threshold, level),
    named: (name) => createLogger({ ...options, module: module ? `${module}.${name}` : name }),
  };
}

/** Renders console-style arguments as one message string (for redirected console output). */
export function formatConsoleArgs(args: readonly unknown[]): string {
  return args
    .map((arg) => {
      if (typeof arg === 'string') return arg;
      if (arg instanceof Error) return arg.message;
      try {
        return JSON.stringify(toJsonValue(arg));
      } catch {
        return String(arg);
      }
    })
    .join(' ');
}
