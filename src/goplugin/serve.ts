/**
 * The gRPC server a go-plugin host talks to: the application's services plus
 * health, go-plugin's controller/stdio/broker and server reflection, on a
 * private unix socket (or loopback TCP in debug mode), with optional mutual TLS.
 */
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthService } from '../gen/grpc/health/v1/health';
import { GRPCBrokerService, GRPCControllerService, GRPCStdioService } from '../gen/plugin/go_plugin';
import { ServerReflectionService as ReflectionV1Service } from '../gen/grpc/reflection/v1/reflection';
import { ServerReflectionService as ReflectionV1AlphaService } from '../gen/grpc/reflection/v1alpha/reflection';
import {
  HEALTH_SERVICE_NAME,
  MAX_UNIX_SOCKET_PATH_BYTES,
  SHUTDOWN_GRACE_MS,
  UNLIMITED_MESSAGE_OPTIONS,
} from './constants';
import { createBrokerService, createControllerService, createStdioService } from './controller';
import { createHealthService, HealthRegistry, ServingStatus } from './health';
import { widenServerReceiveWindows } from './http2-window';
import { installIncrementalMessageAssembly, observeAssembledMessages, type MessageObserverFactory } from './message-assembly';
import type { ProcessLogger } from './log';
import { createReflectionService, DescriptorIndex } from './reflection';
import { OpenStreams } from './streams';

export interface ServiceRegistration {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

export type ListenSpec = { network: 'unix'; parentDir: string } | { network: 'tcp'; host: string; port: number };

export interface TlsSpec {
  /** PEM certificate(s) a client must present a certificate signed by (the host's own). */
  clientCaPem: string;
  certPem: string;
  keyPem: string;
}

export interface ServeOptions {
  logger: ProcessLogger;
  /** The application's services (the fan-out service). */
  services: ServiceRegistration[];
  /** Called once at shutdown, bounded by the grace period (the fan-out server's close). */
  onClose?: () => Promise<void>;
  listen: ListenSpec;
  /** A promise, so that the certificate can be made while the server is set up. */
  tls?: TlsSpec | Promise<TlsSpec>;
  /** Base64 FileDescriptorSet for reflection. */
  descriptorSetBase64: string;
  shutdownGraceMs?: number;
  /** Sees each large request's bytes as they arrive (the fan-out server hashes the envelope on the way in). */
  observeMessage?: MessageObserverFactory;
}

export interface PluginServer {
  network: 'unix' | 'tcp';
  /** Socket path, or HOST:PORT for tcp. */
  address: string;
  /** The private folder holding the socket (unix only). */
  socketDir: string | undefined;
  /** Full names of every registered service. */
  serviceNames: string[];
  /** Settles with the reason once the server has stopped and the socket folder is gone. */
  stopped: Promise<string>;
  /** Stops gracefully (in-flight calls get the grace period, then are cancelled). Idempotent. */
  stop(reason: string): Promise<void>;
  /** Removes the socket folder synchronously (last resort on process exit). */
  cleanupSync(): void;
}

/**
 * Longest grpc status message sent, in bytes. It travels in an HTTP/2 trailer,
 * and one larger than the peer's header-list limit never arrives: the host's
 * call then hangs until its deadline instead of failing.
 */
export const MAX_STATUS_DETAILS_BYTES = 4096;

export function capStatusDetails(details: string, max = MAX_STATUS_DETAILS_BYTES): string {
  if (Buffer.byteLength(details) <= max) return details;
  const note = ' …[cut]';
  let cut = Buffer.from(details).subarray(0, max - Buffer.byteLength(note)).toString('utf8');
  if (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1); // a character split in half
  return `${cut}${note}`;
}

function capErrorText(error: NonNullable<Parameters<grpc.sendUnaryData<unknown>>[0]>): typeof error {
  const long = (text: unknown): text is string =>
    typeof text === 'string' && Buffer.byteLength(text) > MAX_STATUS_DETAILS_BYTES;
  const record = error as { details?: unknown; message?: unknown };
  if (!long(record.details) && !long(record.message)) return error;
  const capped: Record<string, unknown> = {};
  if (long(record.details)) capped.details = capStatusDetails(record.details);
  if (long(record.message)) capped.message = capStatusDetails(record.message);
  if (error instanceof Error) {
    try {
      return Object.assign(error, capped);
    } catch {
      // a frozen error: fall through to a plain copy
    }
  }
  return { ...(error as object), code: (error as { code?: number }).code, ...capped } as typeof error;
}

/** Wraps unary handlers so an error's status message never exceeds MAX_STATUS_DETAILS_BYTES. */
export function withCappedStatusDetails(
  definition: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
): grpc.UntypedServiceImplementation {
  const wrapped: grpc.UntypedServiceImplementation = { ...implementation };
  for (const [name, method] of Object.entries(definition)) {
    const handler = implementation[name];
    if (method.requestStream || method.responseStream || typeof handler !== 'function') continue;
    const unary = handler as grpc.handleUnaryCall<unknown, unknown>;
    wrapped[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      unary(call, (error, value, trailer, flags) => {
        callback(error ? capErrorText(error) : error, value, trailer, flags);
      })) as grpc.handleUnaryCall<unknown, unknown>;
  }
  return wrapped;
}

/** `/pkg.Service/Method` paths → `pkg.Service`. */
export function serviceNameOf(definition: grpc.ServiceDefinition): string {
  const first = Object.values(definition)[0];
  if (!first) throw new Error('service definition has no methods');
  return first.path.split('/')[1];
}

export class SocketPathTooLongError extends Error {
  constructor(readonly socketPath: string) {
    super(
      `the unix socket path ${JSON.stringify(socketPath)} is ${Buffer.byteLength(socketPath)} bytes, ` +
        `longer than the ${MAX_UNIX_SOCKET_PATH_BYTES} bytes a socket path may have; ` +
        'point PLUGIN_UNIX_SOCKET_DIR (or TMPDIR) at a shorter folder',
    );
    this.name = 'SocketPathTooLongError';
  }
}

function bind(server: grpc.Server, target: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(target, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}

function delay(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
}

export async function startPluginServer(options: ServeOptions): Promise<PluginServer> {
  const { logger } = options;
  const graceMs = options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS;
  // Channelz stays on here: grpc-js 1.14 tracks sessions for forceShutdown() only
  // with channelz enabled, and Shutdown must cancel in-flight calls.
  if (installIncrementalMessageAssembly()) observeAssembledMessages(options.observeMessage);
  else logger.warn('grpc-js decoder not recognised: large envelopes are assembled after their last byte');
  const server = new grpc.Server({ ...UNLIMITED_MESSAGE_OPTIONS });

  const health = new HealthRegistry();
  const idleStreams = new OpenStreams();
  const reflectionStreams = new OpenStreams();
  // Decoded on the first reflection request (grpcurl), not on every launch: startup time is on the host's path.
  let index: DescriptorIndex | undefined;
  const descriptors = (): DescriptorIndex => (index ??= DescriptorIndex.fromBase64(options.descriptorSetBase64));

  let stopPromise: Promise<void> | undefined;
  let resolveStopped!: (reason: string) => void;
  const stopped = new Promise<string>((resolve) => {
    resolveStopped = resolve;
  });

  const serviceNames: string[] = [];
  const add = (definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void => {
    server.addService(definition, implementation);
    serviceNames.push(serviceNameOf(definition));
  };

  for (const service of options.services) {
    add(service.definition, withCappedStatusDetails(service.definition, service.implementation));
  }
  add(HealthService, createHealthService(health));
  add(
    GRPCControllerService,
    createControllerService(() => {
      logger.debug('shutdown requested by the host');
      void stop('shutdown requested by the host');
    }),
  );
  add(GRPCStdioService, createStdioService(idleStreams));
  add(GRPCBrokerService, createBrokerService(idleStreams));
  const reflection = createReflectionService(descriptors, () => serviceNames, reflectionStreams);
  add(ReflectionV1Service, reflection);
  add(ReflectionV1AlphaService, reflection);

  let socketDir: string | undefined;
  let address: string;
  const cleanupSync = (): void => {
    if (socketDir) {
      try {
        rmSync(socketDir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  };

  try {
    const listen = options.listen;
    // Both settle before going on, so a made directory is never left behind.
    const [tls, dir] = await Promise.allSettled([
      options.tls,
      listen.network === 'unix' ? mkdtemp(path.join(path.resolve(listen.parentDir), 'plugin-')) : undefined,
    ]);
    if (dir.status === 'fulfilled') socketDir = dir.value;
    if (dir.status === 'rejected') throw dir.reason;
    if (tls.status === 'rejected') throw tls.reason;
    const spec = tls.value;
    const credentials = spec
      ? grpc.ServerCredentials.createSsl(
          Buffer.from(spec.clientCaPem),
          [{ private_key: Buffer.from(spec.keyPem), cert_chain: Buffer.from(spec.certPem) }],
          true,
        )
      : grpc.ServerCredentials.createInsecure();
    if (listen.network === 'unix') {
      const unixDir = socketDir as string;
      await chmod(unixDir, 0o700);
      address = path.join(unixDir, 'plugin.sock');
      if (Buffer.byteLength(address) > MAX_UNIX_SOCKET_PATH_BYTES) throw new SocketPathTooLongError(address);
      await bind(server, `unix:${address}`, credentials);
    } else {
      const { host, port } = listen;
      const hostPart = host.includes(':') ? `[${host}]` : host;
      const bound = await bind(server, `${hostPart}:${port}`, credentials);
      address = `${hostPart}:${bound}`;
    }
  } catch (error) {
    server.forceShutdown();
    if (socketDir) await rm(socketDir, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }

  if (!widenServerReceiveWindows(server)) {
    logger.warn('could not widen the HTTP/2 receive windows: large envelopes will arrive slowly');
  }
  health.set(HEALTH_SERVICE_NAME, ServingStatus.SERVING);
  health.set('', ServingStatus.SERVING);

  async function doStop(reason: string): Promise<void> {
    const started = Date.now();
    logger.debug('stopping the gRPC server', { reason });
    health.setAllNotServing();
    health.closeWatchers();
    idleStreams.closeAll();
    reflectionStreams.closeAll();

    const drained = new Promise<'drained'>((resolve) => server.tryShutdown(() => resolve('drained')));
    const closed = (options.onClose ? options.onClose() : Promise.resolve()).then(
      () => 'closed' as const,
      (error: unknown) => {
        logger.error('closing the fan-out server failed', { error });
        return 'closed' as const;
      },
    );
    const outcome = await Promise.race([Promise.all([drained, closed]), delay(graceMs)]);
    if (outcome === 'timeout') {
      logger.warn('in-flight calls did not finish in time; cancelling them', { graceMs });
      server.forceShutdown();
    }
    if (socketDir) await rm(socketDir, { recursive: true, force: true }).catch(() => cleanupSync());
    logger.debug('gRPC server stopped', { reason, ms: Date.now() - started });
    resolveStopped(reason);
  }

  function stop(reason: string): Promise<void> {
    stopPromise ??= doStop(reason);
    return stopPromise;
  }

  return {
    network: options.listen.network,
    address,
    socketDir,
    serviceNames: [...serviceNames],
    stopped,
    stop,
    cleanupSync,
  };
}
