/**
 * How grpc-js puts a received message together. Its StreamDecoder keeps every
 * HTTP/2 DATA chunk (8-16 KiB each) until the last one arrives, then copies
 * them all into one buffer: for a 64 MiB envelope, ~65 ms of copying (and
 * page faults) after the last byte, while the call waits, with the chunks and
 * the copy both in memory at that moment. Here the buffer is allocated once
 * the 5-byte gRPC prefix has given the length, and each chunk is copied in as
 * it arrives, while the sender is still sending, then dropped. The output is
 * the same framed message (prefix included) grpc-js expects.
 *
 * grpc-js has no option for this, so write() of its decoder is replaced,
 * process-wide (the plugin process runs no gRPC client), once.
 */
import { StreamDecoder } from '@grpc/grpc-js/build/src/stream-decoder';
import { acquireMessageBuffer } from './message-buffers';

const PREFIX_BYTES = 5;

/** Sees one message's protobuf bytes as they arrive (the plugin's envelope digest). */
export interface MessageObserver {
  /** The next bytes, as views of the message buffer (stable until the message is handed back). */
  chunk(bytes: Buffer): void;
  /** The whole protobuf message (after the 5-byte prefix), as the decoder will see it. */
  done(payload: Buffer): void;
}

/**
 * Asked once per uncompressed message, with the buffer its protobuf bytes will
 * fill. That buffer may have held an earlier message (message-buffers.ts):
 * whatever a factory knew of it is stale from this call on. Undefined: not observed.
 */
export type MessageObserverFactory = (payload: Buffer) => MessageObserver | undefined;

let observerFactory: MessageObserverFactory | undefined;

/** Sets (or clears) the observer factory for every message assembled from now on. */
export function observeAssembledMessages(factory: MessageObserverFactory | undefined): void {
  observerFactory = factory;
}

interface Assembly {
  /** Prefix bytes seen so far (< 5: still reading the prefix). */
  prefixRead: number;
  prefix: Buffer;
  /** The framed message being filled, once its length is known. */
  message: Buffer | undefined;
  filled: number;
  observer: MessageObserver | undefined;
}

const state = Symbol('messageAssembly');
type Decoder = { [state]?: Assembly; maxReadMessageLength: number };

/** One step of assembly: consumes `data` and returns the complete framed messages it finished. */
export function assembleMessages(decoder: Decoder, data: Buffer): Buffer[] {
  const a = (decoder[state] ??= { prefixRead: 0, prefix: Buffer.alloc(PREFIX_BYTES), message: undefined, filled: 0, observer: undefined });
  const done: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    if (a.message === undefined) {
      const n = Math.min(PREFIX_BYTES - a.prefixRead, data.length - at);
      data.copy(a.prefix, a.prefixRead, at, at + n);
      a.prefixRead += n;
      at += n;
      if (a.prefixRead < PREFIX_BYTES) break;
      const size = a.prefix.readUInt32BE(1);
      const max = decoder.maxReadMessageLength;
      if (max !== -1 && size > max) throw new Error(`Received message larger than max (${size} vs ${max})`);
      a.message = acquireMessageBuffer(PREFIX_BYTES + size);
      a.prefix.copy(a.message, 0);
      a.filled = PREFIX_BYTES;
      // Compressed messages (flag 1) are not protobuf until inflated: not observed.
      a.observer = a.prefix[0] === 0 ? observerFactory?.(a.message.subarray(PREFIX_BYTES)) : undefined;
    } else {
      const n = Math.min(a.message.length - a.filled, data.length - at);
      data.copy(a.message, a.filled, at, at + n);
      // The copy, not the chunk: observers may keep views of it (the socket's memory is reused).
      a.observer?.chunk(a.message.subarray(a.filled, a.filled + n));
      a.filled += n;
      at += n;
    }
    if (a.message.length === a.filled) {
      a.observer?.done(a.message.subarray(PREFIX_BYTES));
      a.observer = undefined;
      done.push(a.message);
      a.message = undefined;
      a.prefixRead = 0;
    }
  }
  return done;
}

let installed: boolean | undefined;

/**
 * Makes grpc-js assemble messages as they arrive. Returns false (and changes
 * nothing) when grpc-js's decoder is not the shape this was written for.
 */
export function installIncrementalMessageAssembly(): boolean {
  if (installed !== undefined) return installed;
  const proto = (StreamDecoder as unknown as { prototype?: { write?: unknown } } | undefined)?.prototype;
  const probe = typeof StreamDecoder === 'function' ? (new StreamDecoder(-1) as unknown as Partial<Decoder>) : undefined;
  installed = typeof proto?.write === 'function' && probe?.maxReadMessageLength === -1;
  if (installed) {
    proto!.write = function write(this: Decoder, data: Buffer): Buffer[] {
      return assembleMessages(this, data);
    };
  }
  return installed;
}
