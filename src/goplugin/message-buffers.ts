/**
 * Buffers for large received messages, reused instead of allocated afresh.
 * A new 64 MiB buffer is new memory: each of its 16,384 pages faults on first
 * touch, and on a VM that made copying a 64 MiB request into it take 25–180 ms
 * against 6 ms into a buffer already touched, on the very path the request
 * arrives by. A buffer comes back here only when the handler that owns the
 * message says it is done with it (recycleMessageBuffer); a message nobody
 * hands back is garbage-collected like any other, so forgetting is safe and
 * only a handback can reuse memory.
 *
 * The pool is small and leaves: a few buffers, a bounded total, emptied when
 * no large message has come for a while, so an idle plugin goes back to its
 * idle footprint.
 */

/** Smaller messages are cheap to allocate: not pooled. */
export const POOLED_MIN_BYTES = 1024 * 1024;
/** Larger ones are rare enough that keeping one resident is not worth it. */
export const POOLED_MAX_BYTES = 128 * 1024 * 1024;
const POOL_MAX_BUFFERS = 8;
const POOL_MAX_TOTAL_BYTES = 192 * 1024 * 1024;
/** With no large message for this long, the pool lets its buffers go. */
export const POOL_IDLE_MS = 15_000;

const free: ArrayBuffer[] = [];
/** Buffers handed out for a message and not yet handed back. */
const lent = new WeakSet<ArrayBufferLike>();
let idleTimer: NodeJS.Timeout | undefined;

/** A buffer of exactly `bytes` for one message: reused when the pool has one that fits. */
export function acquireMessageBuffer(bytes: number): Buffer {
  if (bytes < POOLED_MIN_BYTES || bytes > POOLED_MAX_BYTES) return Buffer.allocUnsafe(bytes);
  touch();
  // The smallest free buffer that fits, so a small message does not take the big one.
  let best = -1;
  for (let i = 0; i < free.length; i++) {
    if (free[i]!.byteLength >= bytes && (best === -1 || free[i]!.byteLength < free[best]!.byteLength)) best = i;
  }
  const backing = best === -1 ? new ArrayBuffer(bytes) : free.splice(best, 1)[0]!;
  lent.add(backing);
  return Buffer.from(backing, 0, bytes);
}

/**
 * The handler is done with the message these bytes are part of: nothing may
 * read them after this. A view of any other memory is ignored, as is a second
 * handback of the same message.
 */
export function recycleMessageBuffer(view: Uint8Array | undefined): void {
  const backing = view?.buffer;
  if (!backing || !lent.has(backing)) return;
  lent.delete(backing);
  free.push(backing as ArrayBuffer);
  // Keep the largest buffers within the bounds.
  free.sort((a, b) => b.byteLength - a.byteLength);
  let total = free.reduce((sum, b) => sum + b.byteLength, 0);
  while (free.length > POOL_MAX_BUFFERS || total > POOL_MAX_TOTAL_BYTES) total -= free.pop()!.byteLength;
  touch();
}

/** Bytes held by the pool now (for tests and the bench's notes). */
export function pooledBytes(): number {
  return free.reduce((sum, b) => sum + b.byteLength, 0);
}

/** Empties the pool (the idle timer's job; tests call it too). */
export function drainMessageBuffers(): void {
  free.length = 0;
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
}

function touch(): void {
  if (idleTimer) idleTimer.refresh();
  else {
    idleTimer = setTimeout(drainMessageBuffers, POOL_IDLE_MS);
    idleTimer.unref();
  }
}
