import { status as Code, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import type {
  DescribeResponse,
  ExecuteRequest,
  FanoutServiceServer,
  RegisterResponse_Credentials,
} from '../gen/api/fanout';
import { PLUGIN_VERSION } from '../gen/embedded';
import {
  closeSharedDispatcher,
  configureTrust,
  credentialForms,
  DEFAULT_CALL_BUDGETS,
  executeBudgetMs,
  scrubSecrets,
  type CallBudgets,
  type Timeouts,
  type TrustEnv,
} from '../oci';
import { ATTACHMENT_SCHEMA_TEXT, REGISTRATION_SCHEMA_TEXT } from '../schema';
import { callSignal } from './call-signal';
import { observeEnvelopeDigest } from './envelope-digest';
import { layerPrestager } from './layer-prestage';
import { ClientPool } from './client-pool';
import { toPluginStatus, toServiceError } from './errors';
import type { Logger } from './logger';
import { OciRegistryPlugin, PLUGIN_DESCRIPTION, PLUGIN_ID } from './oci-registry';

/** The time bounds main reads from the environment. */
export { timeLimitsFromEnv } from '../oci';

export interface FanoutServer {
  implementation: FanoutServiceServer;
  /** For the gRPC server's message assembly: hashes large envelopes, and starts their upload, while they arrive. */
  observeMessage: (payload: Buffer) => ReturnType<typeof observeEnvelopeDigest>;
  close(): Promise<void>;
}

export interface FanoutServerOptions {
  logger: Logger;
  /** Registry client pool; tests pass one with fast retries. */
  clients?: ClientPool;
  /** Per-request bounds for the default pool (see TIME_LIMIT_ENV). */
  timeouts?: Timeouts;
  /** Overall time per Execute and Register. */
  budgets?: CallBudgets;
  /** SSL_CERT_FILE, SSL_CERT_DIR and NODE_EXTRA_CA_CERTS, for the registry trust store. */
  trustEnv?: TrustEnv;
  /**
   * Called with the envelope once its Execute has settled and nothing reads it
   * any more: the gRPC server may reuse the request's buffer (message-buffers.ts).
   */
  releaseEnvelope?: (envelope: Uint8Array) => void;
}

const encoder = new TextEncoder();
const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

/** api.FanoutService backed by the oci-registry plugin. */
export function createFanoutServer(options: FanoutServerOptions): FanoutServer {
  const { logger } = options;
  if (options.trustEnv) configureTrust(options.trustEnv, (message, fields) => logger.warn(message, fields));
  const clients =
    options.clients ??
    new ClientPool({
      logger: (level, message, fields) => logger[level](message, fields),
      traceRequests: logger.enabled?.('debug') ?? false,
      ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    });
  const budgets = options.budgets ?? DEFAULT_CALL_BUDGETS;
  const plugin = new OciRegistryPlugin(clients, logger);
  const prestager = layerPrestager((input, length) => plugin.startLayerUpload(input, length));
  // Built once: Describe must never fail (the host panics on a failed Describe).
  const description: DescribeResponse = {
    id: PLUGIN_ID,
    version: PLUGIN_VERSION,
    description: PLUGIN_DESCRIPTION,
    registrationJsonSchema: encoder.encode(REGISTRATION_SCHEMA_TEXT),
    attachmentJsonSchema: encoder.encode(ATTACHMENT_SCHEMA_TEXT),
    subscribedMaterials: [],
  };

  /** Runs a handler, converting whatever it throws into one user-safe status. */
  function unary<Req, Res>(
    method: string,
    secretsOf: (req: Req) => string[],
    handle: (req: Req, signal: AbortSignal) => Promise<Res> | Res,
    budgetMs?: number | ((req: Req) => number),
  ) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const { signal, dispose } = callSignal(call, typeof budgetMs === 'function' ? budgetMs(call.request) : budgetMs);
      Promise.resolve()
        .then(() => handle(call.request, signal))
        .then(
          (res) => callback(null, res),
          (err: unknown) => {
            const status = toPluginStatus(err, secretsOf(call.request));
            const fields = { method, code: status.code, error: status.message };
            // Rejected input is the caller's to fix (info); registry trouble is worth a warning;
            // anything unexpected is ours (error, with its cause).
            if (status.internal) logger.error('call failed', { ...fields, cause: internalCause(err, secretsOf(call.request)) });
            else if (status.code === Code.INVALID_ARGUMENT) logger.info('call rejected', fields);
            else logger.warn('call failed', fields);
            callback(toServiceError(status));
          },
        )
        .finally(dispose);
    };
  }

  const implementation: FanoutServiceServer = {
    describe: unary('Describe', none, () => description),
    string: unary('String', none, () => ({ value: `${PLUGIN_ID} fan-out plugin v${PLUGIN_VERSION}` })),
    isSubscribedTo: unary('IsSubscribedTo', none, () => ({ subscribed: false })),
    validateRegistration: unary('ValidateRegistration', (r) => secretsInPayload(r.jsonPayload), (req) => {
      plugin.checkRegistration(req.jsonPayload);
      return { valid: true, error: '' };
    }),
    validateAttachment: unary('ValidateAttachment', none, (req) => {
      plugin.checkAttachment(req.jsonPayload);
      return { valid: true, error: '' };
    }),
    register: unary('Register', (r) => secretsInPayload(r.payload), async (req, signal) => {
      const result = await plugin.register(req.payload, signal);
      const credentials: RegisterResponse_Credentials = { url: '', ...result.credentials };
      return { configuration: json(result.configuration), credentials };
    }, budgets.registerMs),
    attach: unary('Attach', (r) => secretsOfCredentials(r.registrationInfo?.credentials), (req) => ({
      configuration: json(plugin.attach(req.payload, req.registrationInfo?.configuration)),
    })),
    execute: unary('Execute', (r: ExecuteRequest) => secretsOfCredentials(r.registrationInfo?.credentials), async (req, signal) => {
      try {
        await plugin.execute(
          {
            registrationConfiguration: req.registrationInfo?.configuration,
            credentials: req.registrationInfo?.credentials,
            attachmentConfiguration: req.attachmentInfo?.configuration,
            envelope: req.envelope,
          },
          signal,
        );
      } finally {
        // Every upload of it has settled (pushBoth and the referrers wait for theirs).
        if (req.envelope) options.releaseEnvelope?.(req.envelope);
      }
      return {};
    }, (req) => executeBudgetMs(budgets, req.envelope?.byteLength ?? 0)),
  };

  return {
    implementation,
    observeMessage: (payload) => observeEnvelopeDigest(payload, prestager),
    // Connections are shared by every client of the process: close them last.
    close: async () => {
      await clients.close();
      await closeSharedDispatcher();
    },
  };
}

const none = (): string[] => [];

/** The password in every form it travels in (Basic auth, base64, form encoding). */
function secretsOfCredentials(c: { username?: string; password?: string } | undefined): string[] {
  if (!c?.password) return [];
  return credentialForms(c.username ?? '', c.password);
}

/** The password inside a registration payload, if it parses, so no message can echo it. */
function secretsInPayload(payload: Uint8Array): string[] {
  try {
    const v = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const { username, password } = v as Record<string, unknown>;
      if (typeof password === 'string') return secretsOfCredentials({ username: String(username ?? ''), password });
    }
  } catch {
    // Not JSON: nothing in it is a recognisable secret.
  }
  return [];
}

/** What an unexpected error was, for the logs only, still scrubbed of secrets. */
function internalCause(err: unknown, secrets: string[]): string {
  return scrubSecrets(err instanceof Error ? `${err.name}: ${err.message}` : String(err), secrets);
}
