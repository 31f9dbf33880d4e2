import { EventEmitter } from 'node:events';
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { abortedFromSignal } from '../../../src/oci';
import { callSignal } from '../../../src/plugin/call-signal';

function fakeCall(deadline: number): ServerUnaryCall<unknown, unknown> {
  return Object.assign(new EventEmitter(), { getDeadline: () => deadline }) as unknown as ServerUnaryCall<unknown, unknown>;
}

const aborted = (signal: AbortSignal) => new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));

describe('callSignal', () => {
  it('without a host deadline, the plugin budget ends the call as a deadline that says so', async () => {
    const { signal, dispose } = callSignal(fakeCall(Infinity), 50);
    const t0 = Date.now();
    await aborted(signal);
    dispose();
    expect(Date.now() - t0).toBeLessThan(1000);
    const err = abortedFromSignal(signal);
    expect(err.deadline).toBe(true);
    expect(err.message).toBe("operation deadline exceeded (the plugin's 0.1 s budget for the call ran out)");
  });

  it('an earlier host deadline wins over the budget', async () => {
    const { signal, dispose } = callSignal(fakeCall(Date.now() + 30), 60_000);
    await aborted(signal);
    dispose();
    expect(abortedFromSignal(signal).message).toBe('operation deadline exceeded (the call deadline passed)');
  });

  it('a cancel by the host before either is a cancellation', () => {
    const call = fakeCall(Infinity);
    const { signal, dispose } = callSignal(call, 60_000);
    call.emit('cancelled');
    dispose();
    expect(abortedFromSignal(signal).deadline).toBe(false);
  });
});
