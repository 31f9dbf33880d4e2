/**
 * go-plugin's side services: GRPCController (the host's way to end the
 * plugin), GRPCStdio (output streaming; we log to stderr instead, so the
 * stream stays silent) and GRPCBroker (we broker nothing; the stream idles).
 * The open streams end when the server shuts down.
 */
import type { ServerDuplexStream, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import type { Empty as GoogleEmpty } from '../gen/google/protobuf/empty';
import type {
  ConnInfo,
  Empty,
  GRPCBrokerServer,
  GRPCControllerServer,
  GRPCStdioServer,
  StdioData,
} from '../gen/plugin/go_plugin';
import { OpenStreams } from './streams';

/** Replies to Shutdown first, then asks the process to shut down. */
export function createControllerService(onShutdown: () => void): GRPCControllerServer {
  return {
    shutdown(_call: ServerUnaryCall<Empty, Empty>, callback: sendUnaryData<Empty>) {
      callback(null, {});
      // Let the reply reach the socket before the server starts closing.
      setImmediate(onShutdown);
    },
  };
}

export function createStdioService(open: OpenStreams): GRPCStdioServer {
  return {
    streamStdio(call: ServerWritableStream<GoogleEmpty, StdioData>) {
      open.add(call);
    },
  };
}

export function createBrokerService(open: OpenStreams): GRPCBrokerServer {
  return {
    startStream(call: ServerDuplexStream<ConnInfo, ConnInfo>) {
      open.add(call);
      call.on('data', () => {
        // Nothing is brokered: announcements from the host are ignored.
      });
      call.on('end', () => {
        open.delete(call);
        try {
          call.end();
        } catch {
          // already closed
        }
      });
    },
  };
}
