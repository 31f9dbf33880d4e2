/**
 * The logging the plugin layer needs. main passes the process logger in; the
 * plugin never writes to stdout/stderr itself, and never passes a secret.
 */
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Whether a level is logged; lets callers skip building costly fields. */
  enabled?(level: 'trace' | 'debug' | 'info' | 'warn' | 'error'): boolean;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
