import type { ServerUnaryCall } from '@grpc/grpc-js';

const MAX_TIMER_MS = 2 ** 31 - 1;
const DEADLINE_SLACK_MS = 5;

/**
 * An AbortSignal that fires when the caller cancels, the call's deadline
 * passes or the plugin's own budget for the call (`budgetMs`) runs out, so
 * that no call depends on the host to end it, so registry work stops (and its sockets close) with the call. The
 * deadline aborts with a TimeoutError, as AbortSignal.timeout() does, which is
 * how the registry client tells a deadline from a cancellation.
 */
export function callSignal(call: ServerUnaryCall<unknown, unknown>, budgetMs?: number): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const deadline = call.getDeadline();
  const hostAt = deadline instanceof Date ? deadline.getTime() : deadline;
  const budgetAt = budgetMs !== undefined ? Date.now() + budgetMs : Infinity;
  const ours = budgetAt < hostAt;
  const at = Math.min(hostAt, budgetAt);
  const why = ours ? `the plugin's ${Math.round((budgetMs ?? 0) / 100) / 10} s budget for the call ran out` : 'the call deadline passed';
  const abortAtDeadline = () => controller.abort(new DOMException(why, 'TimeoutError'));
  // grpc-js enforces deadlines itself and reports them as a cancellation,
  // usually a moment before our own timer: tell the two apart by the clock.
  const onCancel = () =>
    Date.now() >= hostAt - DEADLINE_SLACK_MS
      ? abortAtDeadline()
      : controller.abort(new DOMException('the call was cancelled by the host', 'AbortError'));
  call.on('cancelled', onCancel);
  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(at)) {
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
