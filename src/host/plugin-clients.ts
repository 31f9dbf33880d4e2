/**
 * The host's side of a go-plugin connection: grpc-js clients for the plugin's
 * services, made with the channel options and AutoMTLS credentials a go-plugin
 * host uses, and promise-returning unary calls with a deadline. Launching the
 * plugin process is client.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { FanoutServiceService } from '../gen/api/fanout';
import { HealthService } from '../gen/grpc/health/v1/health';
import { GRPCControllerService } from '../gen/plugin/go_plugin';
import { NO_CHANNELZ, UNLIMITED_MESSAGE_OPTIONS } from '../goplugin/constants';
import type { GeneratedCertificate } from '../goplugin/tls';

export interface CallOptions {
  /** Per-call deadline; default 60 s. */
  deadlineMs?: number;
  metadata?: grpc.Metadata;
}

type UnaryMethodNames<S> = {
  [K in keyof S]: S[K] extends { requestStream: false; responseStream: false } ? K : never;
}[keyof S];

type RequestOf<M> = M extends { requestSerialize: (value: infer Req) => Buffer } ? Req : never;
type ResponseOf<M> = M extends { responseDeserialize: (value: Buffer) => infer Res } ? Res : never;

/** Promise-returning unary methods of a ts-proto grpc-js service definition, plus the raw grpc-js client. */
export type PromiseClient<S> = {
  [K in UnaryMethodNames<S>]: (request: RequestOf<S[K]>, options?: CallOptions) => Promise<ResponseOf<S[K]>>;
} & { readonly raw: grpc.Client };

const DEFAULT_DEADLINE_MS = 60_000;

/** Calls one unary method of a generic client and settles with its answer or its grpc ServiceError. */
export function unaryCall<Req, Res>(
  client: grpc.Client,
  method: string,
  request: Req,
  options: CallOptions = {},
): Promise<Res> {
  const fn = (client as unknown as Record<string, unknown>)[method];
  if (typeof fn !== 'function') return Promise.reject(new Error(`client has no method ${method}`));
  const deadline = new Date(Date.now() + (options.deadlineMs ?? DEFAULT_DEADLINE_MS));
  return new Promise<Res>((resolve, reject) => {
    (fn as (...args: unknown[]) => unknown).call(
      client,
      request,
      options.metadata ?? new grpc.Metadata(),
      { deadline },
      (error: grpc.ServiceError | null, response: Res) => (error ? reject(error) : resolve(response)),
    );
  });
}

/** Wraps a grpc-js client made from a ts-proto service definition into a PromiseClient. */
export function promiseClient<S extends grpc.ServiceDefinition>(definition: S, client: grpc.Client): PromiseClient<S> {
  const out: Record<string, unknown> = { raw: client };
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream || method.responseStream) continue;
    out[name] = (request: unknown, options?: CallOptions) => unaryCall(client, name, request, options);
  }
  return out as PromiseClient<S>;
}

export interface ConnectOptions {
  /** `unix:///path` or `host:port`. */
  target: string;
  /** DER server certificate from the handshake; absent means plaintext. */
  serverCertDer?: Uint8Array;
  clientCertificate?: GeneratedCertificate;
}

function derToPem(der: Uint8Array): string {
  const body = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${body.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** Channel options a go-plugin host uses: unlimited messages, TLS name `localhost`. */
export function hostChannelOptions(tls: boolean): grpc.ChannelOptions {
  return {
    ...UNLIMITED_MESSAGE_OPTIONS,
    ...NO_CHANNELZ,
    ...(tls ? { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' } : {}),
  };
}

/**
 * Credentials pinning the plugin's certificate as the only root, presenting the
 * host's client certificate (when given).
 */
export function hostCredentials(options: Omit<ConnectOptions, 'target'>): grpc.ChannelCredentials {
  if (!options.serverCertDer) return grpc.credentials.createInsecure();
  const client = options.clientCertificate;
  return grpc.credentials.createSsl(
    Buffer.from(derToPem(options.serverCertDer)),
    client ? Buffer.from(client.keyPem) : null,
    client ? Buffer.from(client.certPem) : null,
  );
}

export interface PluginClients {
  target: string;
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
  fanout: PromiseClient<typeof FanoutServiceService>;
  health: PromiseClient<typeof HealthService>;
  controller: PromiseClient<typeof GRPCControllerService>;
  /** A raw grpc-js client for any ts-proto service definition, on the same target and credentials. */
  client(definition: grpc.ServiceDefinition, name?: string): grpc.Client;
  /** Closes every client made here. */
  close(): void;
}

/** Makes clients for the standard services of a go-plugin server. */
export function connectPlugin(options: ConnectOptions): PluginClients {
  const credentials = hostCredentials(options);
  const channelOptions = hostChannelOptions(options.serverCertDer !== undefined);
  const made: grpc.Client[] = [];
  const client = (definition: grpc.ServiceDefinition, name = 'Service'): grpc.Client => {
    const Ctor = grpc.makeGenericClientConstructor(definition as grpc.ServiceDefinition, name);
    const instance = new Ctor(options.target, credentials, channelOptions);
    made.push(instance);
    return instance;
  };
  return {
    target: options.target,
    credentials,
    channelOptions,
    fanout: promiseClient(FanoutServiceService, client(FanoutServiceService, 'FanoutService')),
    health: promiseClient(HealthService, client(HealthService, 'Health')),
    controller: promiseClient(GRPCControllerService, client(GRPCControllerService, 'GRPCController')),
    client,
    close: () => {
      for (const instance of made) instance.close();
    },
  };
}
