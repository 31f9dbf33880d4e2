import { ExecuteRequest } from '../../../src/gen/api/fanout';
import type { StreamedUpload } from '../../../src/oci';
import { layerPrestager, PRESTAGE_MIN_BYTES, takePrestagedLayer } from '../../../src/plugin/layer-prestage';

/** Records what the sink does to the upload; only the methods the prestager calls. */
function fakeUpload() {
  const calls: string[] = [];
  const upload = {
    write: (b: Uint8Array) => calls.push(`write ${b.byteLength}`),
    end: () => calls.push('end'),
    cancel: (why?: string) => calls.push(`cancel${why ? ` ${why}` : ''}`),
  };
  return { calls, upload: upload as unknown as StreamedUpload };
}

function head(repository: string): Buffer {
  return Buffer.from(
    ExecuteRequest.encode(
      ExecuteRequest.fromPartial({
        registrationInfo: { configuration: Buffer.from(JSON.stringify({ repository })), credentials: { username: 'u', password: 'p', url: '' } },
        attachmentInfo: { configuration: Buffer.from('{"prefix":"x"}') },
      }),
    ).finish(),
  );
}

describe('the layer prestager', () => {
  afterEach(() => jest.useRealTimers());

  it('starts an upload only for envelopes of PRESTAGE_MIN_BYTES and more, with the settings sent before them', () => {
    const asked: Array<{ repository: string; prefix: string; length: number }> = [];
    const prestager = layerPrestager((input, length) => {
      asked.push({
        repository: JSON.parse(Buffer.from(input.registrationConfiguration!).toString()).repository,
        prefix: JSON.parse(Buffer.from(input.attachmentConfiguration!).toString()).prefix,
        length,
      });
      return fakeUpload().upload;
    });
    expect(prestager.start(head('reg/a'), PRESTAGE_MIN_BYTES - 1)).toBeUndefined();
    expect(prestager.start(head('reg/a'), PRESTAGE_MIN_BYTES)).toBeDefined();
    expect(asked).toEqual([{ repository: 'reg/a', prefix: 'x', length: PRESTAGE_MIN_BYTES }]);
  });

  it('leaves undecodable opening fields, and settings that allow no upload, to the handler', () => {
    const prestager = layerPrestager(() => undefined);
    expect(prestager.start(head('reg/a'), PRESTAGE_MIN_BYTES)).toBeUndefined();
    const never = layerPrestager(() => {
      throw new Error('must not be asked');
    });
    expect(never.start(Buffer.from([0x0a, 0x7f]), PRESTAGE_MIN_BYTES)).toBeUndefined();
  });

  it('hands the upload to the claim for exactly the envelope it was fed from, once', () => {
    const { calls, upload } = fakeUpload();
    const sink = layerPrestager(() => upload).start(head('reg/a'), PRESTAGE_MIN_BYTES)!;
    const message = Buffer.alloc(64);
    sink.write(message.subarray(10, 30));
    sink.end();
    sink.complete({ buffer: message.buffer, byteOffset: message.byteOffset + 10, byteLength: 20 });
    expect(takePrestagedLayer(message.subarray(10, 29))).toBeUndefined();
    expect(takePrestagedLayer(message.subarray(11, 31))).toBeUndefined();
    expect(takePrestagedLayer(Buffer.from(message.subarray(10, 30)))).toBeUndefined();
    expect(takePrestagedLayer(message.subarray(10, 30))).toBe(upload);
    expect(takePrestagedLayer(message.subarray(10, 30))).toBeUndefined();
    expect(calls).toEqual(['write 20', 'end']);
  });

  it('cancels an upload that is abandoned, replaced by the next message in the same buffer, or never claimed', () => {
    jest.useFakeTimers();
    const first = fakeUpload();
    const second = fakeUpload();
    const third = fakeUpload();
    const uploads = [first.upload, second.upload, third.upload];
    const prestager = layerPrestager(() => uploads.shift());
    const message = Buffer.alloc(64);
    const view = { buffer: message.buffer, byteOffset: message.byteOffset, byteLength: 64 };

    prestager.start(head('reg/a'), PRESTAGE_MIN_BYTES)!.complete(view);
    prestager.start(head('reg/a'), PRESTAGE_MIN_BYTES)!.complete(view);
    expect(first.calls).toEqual(['cancel']);
    jest.advanceTimersByTime(30_001);
    expect(second.calls).toEqual(['cancel no Execute claimed the streamed upload']);
    expect(takePrestagedLayer(message)).toBeUndefined();

    prestager.start(head('reg/a'), PRESTAGE_MIN_BYTES)!.abandon();
    expect(third.calls).toEqual(['cancel']);
  });
});
