/**
 * A blob uploaded while its bytes are still arriving: POST a session, then one
 * PATCH whose body is fed chunk by chunk (Content-Length and Content-Range
 * known up front), and, once the caller knows the digest, the closing PUT.
 * This is how a large envelope goes to the registry while the host is still
 * sending it, instead of after its last byte.
 *
 * The blob's final repository may not be known while it streams (the
 * per-attestation layout names it after the digest), so it streams into a
 * staging repository on the same registry and is then mounted across (no
 * bytes sent); where the registry declines the mount, it is uploaded from the
 * caller's copy as usual (ensureBlob). Any failure of the streamed part is
 * never the caller's failure: finish() then uploads the ordinary way.
 */
import { Readable } from 'node:stream';
import { blobExists } from './blob';
import { ensureBlob, type EnsureOutcome } from './blob-mount';
import { AbortedError, abortedFromSignal } from './errors';
import type { StreamedBody } from './http';
import type { Repository } from './reference';
import { discard } from './response';
import { withRetry } from './retry';
import { failure, nextLocation, retryContext, sendToUpload, startUpload, type Session, type UploadTarget } from './session';
import { commitUpload, pushBlob } from './upload';

export type StreamedOutcome = 'streamed' | EnsureOutcome;

/**
 * Adjacent views of one buffer are handed to the PATCH as one piece of up to
 * this size. Bytes arrive as 16 KiB HTTP/2 frames: passed on one by one, a
 * 64 MiB envelope made 4,096 stream pushes and socket writes, and cost the
 * plugin 50-110 ms of CPU instead of 30-40 ms (measured, in-process).
 */
export const STREAM_PIECE_BYTES = 1024 * 1024;

export class StreamedUpload {
  private readonly body = new Readable({ read: () => undefined });
  private readonly stop = new AbortController();
  private readonly sent: Promise<UploadTarget>;
  /** The session's latest Location, once the POST has answered. */
  private location: UploadTarget | undefined;
  private received = 0;
  /** Written bytes not yet handed to the body: adjacent views merged (no copy). */
  private piece: Uint8Array | undefined;
  private idle: NodeJS.Timeout | undefined;
  private settled = false;

  constructor(
    private readonly s: Session,
    /** Where the bytes stream to. */
    readonly staging: Repository,
    readonly length: number,
  ) {
    let opened = false;
    const once: StreamedBody = {
      length,
      open: () => {
        if (opened) throw new Error('a streamed body cannot be sent twice');
        opened = true;
        return this.body;
      },
    };
    this.sent = this.send(once);
    // Settled by finish() or cancel(); never an unhandled rejection meanwhile.
    this.sent.catch(() => undefined);
    this.body.on('error', () => undefined);
    this.armIdle();
  }

  /** The next bytes, in order. They are read later, in place: they must stay as they are until finish or cancel. */
  write(bytes: Uint8Array): void {
    if (this.settled || bytes.byteLength === 0) return;
    this.received += bytes.byteLength;
    if (this.received > this.length) return this.cancel('more bytes than announced');
    const p = this.piece;
    if (p && p.buffer === bytes.buffer && p.byteOffset + p.byteLength === bytes.byteOffset) {
      this.piece = new Uint8Array(p.buffer, p.byteOffset, p.byteLength + bytes.byteLength);
    } else {
      this.flushPiece();
      this.piece = bytes;
    }
    if (this.piece.byteLength >= STREAM_PIECE_BYTES) this.flushPiece();
    this.armIdle();
  }

  private flushPiece(): void {
    if (this.piece) this.body.push(this.piece);
    this.piece = undefined;
  }

  /** All bytes written: the PATCH can complete. */
  end(): void {
    if (this.settled) return;
    if (this.received !== this.length) return this.cancel('fewer bytes than announced');
    clearTimeout(this.idle);
    this.flushPiece();
    this.body.push(null);
  }

  /**
   * Commits the streamed blob as `digest` and makes it present in `target`.
   * When the streamed part failed, uploads `data` (the same bytes) instead.
   * Afterwards nothing reads the written bytes any more.
   */
  async finish(target: Repository, digest: string, data: Uint8Array, signal?: AbortSignal): Promise<StreamedOutcome> {
    const elsewhere = target.apiHost !== this.staging.apiHost || target.path !== this.staging.path;
    const inTarget = elsewhere ? this.lookAhead(target, digest, signal) : undefined;
    let staged = false;
    try {
      if (this.settled) throw new Error('the streamed upload was cancelled');
      const session = await abortable(this.sent, signal);
      await commitUpload(this.s, this.staging, session, digest, signal);
      staged = true;
    } catch (err) {
      this.abandon(err instanceof Error ? err : new Error(String(err)));
      // The signal's own reason is a DOMException: typed here, so a deadline is reported as one.
      if (signal?.aborted) throw err instanceof AbortedError ? err : abortedFromSignal(signal);
      this.s.opts.logger('info', 'streaming the blob to the registry failed; uploading it from memory', {
        error: err instanceof Error ? err.message : String(err),
      });
    }
    this.release();
    // undefined: the early HEAD failed, so ask again the ordinary way.
    const present = inTarget ? await inTarget.catch(() => undefined) : undefined;
    if (present === true) return 'present';
    if (!staged) {
      await pushBlob(this.s, target, data, digest, signal);
      return 'uploaded';
    }
    if (!elsewhere) return 'streamed';
    return ensureBlob(this.s, target, digest, data, this.staging, signal, present);
  }

  /**
   * Sent as soon as the digest is known, usually while the PATCH is still
   * draining into the registry: whether `target` holds the blob already (a
   * re-delivery), and the mount's token. After the PATCH only the commit and
   * the mount are left, not four requests one after another; on a registry
   * 20-50 ms away that is two round trips less per large Execute.
   */
  private lookAhead(target: Repository, digest: string, signal?: AbortSignal): Promise<boolean> {
    // A failed fetch costs nothing: the mount fetches its token again.
    this.s.auth.prepare(target, 'pull,push', this.staging, signal).catch(() => undefined);
    const exists = blobExists(this.s, target, digest, signal);
    exists.catch(() => undefined); // settled later, or never needed when the upload fails
    return exists;
  }

  /** Stops the upload: nothing reads the written bytes after this returns. The session is deleted in the background. */
  cancel(why = 'cancelled'): void {
    this.abandon(new Error(why));
  }

  private abandon(reason: Error): void {
    if (this.settled) return;
    this.release(reason);
    // Once the PATCH has settled (aborted, if it was still sending), close the session it left.
    void this.sent.catch(() => undefined).then(() => this.location && this.deleteSession(this.location));
  }

  private release(reason?: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.idle);
    this.piece = undefined;
    if (reason) {
      this.stop.abort(reason);
      this.body.destroy(reason);
    }
  }

  private async send(body: StreamedBody): Promise<UploadTarget> {
    const signal = this.stop.signal;
    const session = await withRetry(() => startUpload(this.s, this.staging, signal), this.s.opts.retry, retryContext(this.s, 'blob upload start', signal));
    this.location = session;
    const res = await sendToUpload(
      this.s,
      this.staging,
      session,
      {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${this.length - 1}` },
        body,
      },
      signal,
    );
    if (res.status !== 202 && res.status !== 204) throw await failure(this.s, res);
    await discard(res);
    this.location = { ...session, ...nextLocation(res, session.registry) };
    return this.location;
  }

  /** A sender that stops sending must not leave the PATCH waiting forever. */
  private armIdle(): void {
    if (this.idle) this.idle.refresh();
    else {
      this.idle = setTimeout(() => this.cancel('the bytes stopped arriving'), this.s.opts.timeouts.bodyIdleMs);
      this.idle.unref();
    }
  }

  private async deleteSession(session: UploadTarget): Promise<void> {
    const res = await sendToUpload(this.s, this.staging, session, { method: 'DELETE' }, AbortSignal.timeout(this.s.opts.timeouts.headersMs)).catch(() => undefined);
    if (res) await discard(res).catch(() => undefined);
  }
}

function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
