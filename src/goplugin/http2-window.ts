/**
 * HTTP/2 receive windows of the plugin's gRPC server. Node (and so grpc-js)
 * opens each connection and each stream with HTTP/2's default 64 KiB window,
 * and grpc-js has no option to change either. The host's whole request (the
 * envelope, up to 2 GiB) flows toward the plugin, so with 64 KiB in flight
 * the sender stalls for a window update every 64 KiB: about 1,000 round trips
 * through both event loops for a 64 MiB envelope. grpc-go's client does not
 * grow the windows of the peer it sends to (its BDP estimate only sizes its
 * own receive window), so the plugin has to advertise large ones itself.
 *
 * The windows don't raise the plugin's memory: grpc-js reads every request
 * into memory whole before the handler runs, whatever the window.
 */
import type { Http2SecureServer, Http2Server, ServerHttp2Session } from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/** Per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
export const STREAM_RECEIVE_WINDOW = 32 * 1024 * 1024;
/** Per-connection receive window (WINDOW_UPDATE on stream 0); room for several large streams at once. */
export const CONNECTION_RECEIVE_WINDOW = 128 * 1024 * 1024;
/** Largest DATA frame a peer may send (SETTINGS_MAX_FRAME_SIZE); fewer frames, fewer 'data' events. */
export const MAX_FRAME_SIZE = 1024 * 1024;

type AnyHttp2Server = Http2Server | Http2SecureServer;

/** Advertises the large windows on one session; safe to call on a session that is already closing. */
export function widenReceiveWindows(session: ServerHttp2Session): void {
  if (session.destroyed || session.closed) return;
  try {
    session.settings({ initialWindowSize: STREAM_RECEIVE_WINDOW, maxFrameSize: MAX_FRAME_SIZE });
    session.setLocalWindowSize(CONNECTION_RECEIVE_WINDOW);
  } catch {
    // A session torn down between the check and the call: nothing to widen.
  }
}

/**
 * Hooks every HTTP/2 server grpc-js created for `server` (call after bindAsync,
 * before any client can connect). grpc-js keeps them in a private map; returns
 * false when that map is not found (a grpc-js that changed its internals), in
 * which case the server still works, with the default windows.
 */
export function widenServerReceiveWindows(server: grpc.Server): boolean {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return false;
  let hooked = 0;
  for (const candidate of servers.keys()) {
    const http2Server = candidate as AnyHttp2Server;
    if (typeof http2Server?.on !== 'function') continue;
    http2Server.on('session', widenReceiveWindows);
    hooked++;
  }
  return hooked > 0;
}
