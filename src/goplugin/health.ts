/**
 * grpc.health.v1.Health. go-plugin hosts Check the service "plugin" right
 * after connecting and refuse the plugin unless it is SERVING.
 */
import { status as grpcStatus, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthServer,
} from '../gen/grpc/health/v1/health';
import { OpenStreams } from './streams';

export { ServingStatus };

type WatchCall = ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

export class HealthRegistry {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new OpenStreams<WatchCall>();

  set(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    this.watchers.forEach((call) => {
      if (call.request.service === service) writeStatus(call, status);
    });
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Marks every known service NOT_SERVING (sent to watchers). */
  setAllNotServing(): void {
    for (const service of [...this.statuses.keys()]) this.set(service, ServingStatus.NOT_SERVING);
  }

  watch(call: WatchCall): void {
    this.watchers.add(call);
    writeStatus(call, this.statuses.get(call.request.service) ?? ServingStatus.SERVICE_UNKNOWN);
  }

  /** Ends every Watch stream (at shutdown). */
  closeWatchers(): void {
    this.watchers.closeAll();
  }
}

function writeStatus(call: WatchCall, status: ServingStatus): void {
  try {
    if (!call.cancelled) call.write({ status });
  } catch {
    // stream already gone
  }
}

export function createHealthService(registry: HealthRegistry): HealthServer {
  return {
    check(call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) {
      const status = registry.get(call.request.service);
      if (status === undefined) {
        callback({ code: grpcStatus.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
        return;
      }
      callback(null, { status });
    },
    watch(call: WatchCall) {
      registry.watch(call);
    },
  };
}
