/**
 * Starts a large envelope's layer upload while the request is still arriving.
 * The host sends the registration and attachment before the envelope (field
 * order), so by the envelope's first byte the plugin knows the registry, the
 * credentials and the layout; the bytes then stream to the registry as they
 * land (StreamedUpload), and Execute only has to commit them. Without it, a
 * 64 MiB Execute receives everything, then uploads everything.
 *
 * Execute claims the upload for exactly the envelope view it was fed from;
 * anything else (a rejected request, a request that never reaches its
 * handler) cancels it, so nothing is left streaming or half-uploaded.
 */
import { ExecuteRequest } from '../gen/api/fanout';
import type { StreamedUpload } from '../oci';
import type { EnvelopeSink, EnvelopeSinkFactory } from './envelope-digest';
import type { ExecuteInput } from './oci-registry';

/** Smaller envelopes arrive fast enough that a streamed upload (one request more) would not pay. */
export const PRESTAGE_MIN_BYTES = 16 * 1024 * 1024;
/** A completed request whose handler has not claimed its upload by then never will. */
const CLAIM_WITHIN_MS = 30_000;

interface Pending {
  byteOffset: number;
  byteLength: number;
  upload: StreamedUpload;
  timer: NodeJS.Timeout;
}

const pending = new WeakMap<ArrayBufferLike, Pending>();

/** The upload fed from exactly these bytes, if one is under way; the caller owns it from now on. */
export function takePrestagedLayer(envelope: Uint8Array): StreamedUpload | undefined {
  const p = pending.get(envelope.buffer);
  if (!p || p.byteOffset !== envelope.byteOffset || p.byteLength !== envelope.byteLength) return undefined;
  pending.delete(envelope.buffer);
  clearTimeout(p.timer);
  return p.upload;
}

/** What starts an upload for a request's settings; undefined when they do not allow one. */
export type StartLayerUpload = (input: Omit<ExecuteInput, 'envelope'>, length: number) => StreamedUpload | undefined;

export function layerPrestager(startUpload: StartLayerUpload): EnvelopeSinkFactory {
  return {
    start(head: Buffer, envelopeLength: number): EnvelopeSink | undefined {
      if (envelopeLength < PRESTAGE_MIN_BYTES) return undefined;
      let req: ExecuteRequest;
      try {
        req = ExecuteRequest.decode(head);
      } catch {
        return undefined; // not an ExecuteRequest's opening fields: leave it to the handler
      }
      const upload = startUpload(
        {
          registrationConfiguration: req.registrationInfo?.configuration,
          credentials: req.registrationInfo?.credentials,
          attachmentConfiguration: req.attachmentInfo?.configuration,
        },
        envelopeLength,
      );
      return upload ? sinkFor(upload) : undefined;
    },
  };
}

function sinkFor(upload: StreamedUpload): EnvelopeSink {
  return {
    write: (bytes) => upload.write(bytes),
    end: () => upload.end(),
    complete(envelope) {
      const previous = pending.get(envelope.buffer);
      if (previous) {
        clearTimeout(previous.timer);
        previous.upload.cancel();
      }
      const timer = setTimeout(() => {
        if (pending.get(envelope.buffer)?.upload === upload) pending.delete(envelope.buffer);
        upload.cancel('no Execute claimed the streamed upload');
      }, CLAIM_WITHIN_MS);
      timer.unref();
      pending.set(envelope.buffer, { byteOffset: envelope.byteOffset, byteLength: envelope.byteLength, upload, timer });
    },
    abandon: () => upload.cancel(),
  };
}
