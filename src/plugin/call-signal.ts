import type { ServerUnaryCall } from '@grpc/grpc-js';

/**
 * An AbortSignal that fires when the caller cancels or the call's deadline
 * passes, so registry work stops (and its sockets close) with the call. The
 * deadline aborts with a TimeoutError, as AbortSignal.timeout() does, which is
 * how the registry client tells a deadline from a cancellation.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function callSignal(call: ServerUnaryCall<unknown, unknown>): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onCancel = () => controller.abort(new DOMException('the call was cancelled by the host', 'AbortError'));
  call.on('cancelled', onCancel);
  let timer: NodeJS.Timeout | undefined;
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(at)) {
    const abortAtDeadline = () => controller.abort(new DOMException('the call deadline passed', 'TimeoutError'));
    const ms = at - Date.now();
    if (ms <= 0) abortAtDeadline();
    // setTimeout fires at once past 2^31-1 ms; a deadline that far out is no deadline.
    else if (ms <= MAX_TIMER_MS) timer = setTimeout(abortAtDeadline, ms);
  }
  return {
    signal: controller.signal,
    dispose: () => {
      if (timer) clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
    },
  };
}
