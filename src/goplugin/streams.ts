/** Keeps the server streams that stay open until shutdown, so shutdown can end them. */
export interface EndableCall {
  end(): void;
  on(event: 'cancelled' | 'close' | 'error' | 'finish', listener: (...args: unknown[]) => void): unknown;
}

export class OpenStreams<T extends EndableCall = EndableCall> {
  private readonly calls = new Set<T>();
  private closed = false;

  /** Tracks a call until it ends; a call arriving after close() is ended at once. */
  add(call: T): void {
    if (this.closed) {
      safeEnd(call);
      return;
    }
    this.calls.add(call);
    const forget = (): void => {
      this.calls.delete(call);
    };
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('error', forget);
    call.on('finish', forget);
  }

  delete(call: T): void {
    this.calls.delete(call);
  }

  get size(): number {
    return this.calls.size;
  }

  forEach(fn: (call: T) => void): void {
    for (const call of [...this.calls]) fn(call);
  }

  /** Ends every open stream with status OK and refuses new ones. */
  closeAll(): void {
    this.closed = true;
    for (const call of [...this.calls]) safeEnd(call);
    this.calls.clear();
  }
}

export function safeEnd(call: EndableCall): void {
  try {
    call.end();
  } catch {
    // already ended or cancelled
  }
}
