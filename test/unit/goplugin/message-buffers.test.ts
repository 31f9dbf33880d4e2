import {
  acquireMessageBuffer,
  drainMessageBuffers,
  pooledBytes,
  POOLED_MAX_BYTES,
  POOLED_MIN_BYTES,
  recycleMessageBuffer,
} from '../../../src/goplugin/message-buffers';

const MiB = 1024 * 1024;

describe('the buffers of large received messages', () => {
  afterEach(drainMessageBuffers);

  it('are reused only once their handler hands them back', () => {
    const first = acquireMessageBuffer(4 * MiB);
    expect(first.length).toBe(4 * MiB);
    const second = acquireMessageBuffer(4 * MiB);
    expect(second.buffer).not.toBe(first.buffer);
    recycleMessageBuffer(first.subarray(100, 200));
    expect(pooledBytes()).toBe(4 * MiB);
    const third = acquireMessageBuffer(3 * MiB);
    expect(third.buffer).toBe(first.buffer);
    expect(third.length).toBe(3 * MiB);
    expect(pooledBytes()).toBe(0);
  });

  it('ignore a second handback, and views of memory they never lent', () => {
    const lent = acquireMessageBuffer(2 * MiB);
    recycleMessageBuffer(lent);
    recycleMessageBuffer(lent);
    expect(pooledBytes()).toBe(2 * MiB);
    recycleMessageBuffer(Buffer.allocUnsafe(2 * MiB));
    recycleMessageBuffer(new Uint8Array(8));
    recycleMessageBuffer(undefined);
    expect(pooledBytes()).toBe(2 * MiB);
    // Taken again, it is lent again: one handback each time.
    const again = acquireMessageBuffer(2 * MiB);
    expect(again.buffer).toBe(lent.buffer);
    expect(acquireMessageBuffer(2 * MiB).buffer).not.toBe(lent.buffer);
  });

  it('give a small message the smallest buffer that fits', () => {
    const big = acquireMessageBuffer(16 * MiB);
    const small = acquireMessageBuffer(2 * MiB);
    recycleMessageBuffer(big);
    recycleMessageBuffer(small);
    expect(acquireMessageBuffer(MiB + 1).buffer).toBe(small.buffer);
    expect(acquireMessageBuffer(3 * MiB).buffer).toBe(big.buffer);
  });

  it('are not pooled when small or very large, and the pool stays within its bounds', () => {
    const small = acquireMessageBuffer(POOLED_MIN_BYTES - 1);
    recycleMessageBuffer(small);
    expect(pooledBytes()).toBe(0);
    const huge = acquireMessageBuffer(POOLED_MAX_BYTES + 1);
    recycleMessageBuffer(huge);
    expect(pooledBytes()).toBe(0);
    const many = Array.from({ length: 12 }, () => acquireMessageBuffer(32 * MiB));
    for (const b of many) recycleMessageBuffer(b);
    expect(pooledBytes()).toBeLessThanOrEqual(192 * MiB);
    expect(pooledBytes()).toBeGreaterThan(0);
  });

  it('are let go when no large message comes for a while', () => {
    jest.useFakeTimers();
    try {
      drainMessageBuffers();
      recycleMessageBuffer(acquireMessageBuffer(2 * MiB));
      expect(pooledBytes()).toBe(2 * MiB);
      jest.advanceTimersByTime(14_000);
      expect(pooledBytes()).toBe(2 * MiB);
      jest.advanceTimersByTime(2_000);
      expect(pooledBytes()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});
