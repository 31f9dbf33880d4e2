/**
 * Where log lines leave the process. Lines are written after the current
 * event-loop turn, joined into one write: a log line never delays the gRPC
 * answer it describes (stderr to a pipe is a synchronous write on Linux, and
 * the host wakes up to parse every line), and lines from one busy turn share
 * one syscall. flush() writes what is pending at once, for process exit.
 */
export interface BatchedWriter {
  write(line: string): void;
  flush(): void;
}

/** Pending text above this many UTF-16 units is written at once, not at the end of the turn. */
const MAX_PENDING = 256 * 1024;

export function createBatchedWriter(
  write: (text: string) => void,
  schedule: (flush: () => void) => void = (flush) => setImmediate(flush),
): BatchedWriter {
  let pending: string[] = [];
  let size = 0;
  let scheduled = false;
  const flush = (): void => {
    if (pending.length === 0) return;
    const text = pending.length === 1 ? pending[0]! : pending.join('');
    pending = [];
    size = 0;
    try {
      write(text);
    } catch {
      // stderr closed (host gone): nothing useful left to do with the lines.
    }
  };
  return {
    write(line) {
      pending.push(line);
      size += line.length;
      if (size >= MAX_PENDING) return flush();
      if (scheduled) return;
      scheduled = true;
      schedule(() => {
        scheduled = false;
        flush();
      });
    },
    flush,
  };
}
