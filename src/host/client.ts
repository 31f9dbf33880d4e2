/**
 * A small go-plugin HOST in TypeScript: launches a plugin executable the way
 * Chainloop's Go control plane does (magic cookie, PLUGIN_* variables,
 * AutoMTLS client certificate), reads the handshake line, and connects with
 * grpc-js. Used by the integration tests, the demo and the benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus as ServingStatus } from '../gen/grpc/health/v1/health';
import { GRPCBrokerService, GRPCStdioService } from '../gen/plugin/go_plugin';
import { APP_PROTOCOL_VERSION, ENV, HEALTH_SERVICE_NAME, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from '../goplugin/constants';
import type { ParsedHandshake } from '../goplugin/handshake';
import { generateCertificate, type GeneratedCertificate } from '../goplugin/tls';
import { connectPlugin, type PluginClients } from './plugin-clients';
import { awaitHandshake, PluginLaunchError, watchPlugin, type PluginExit, type PluginOutput } from './plugin-process';

export * from './plugin-clients';
export { PluginLaunchError, type PluginExit } from './plugin-process';

export interface LaunchOptions {
  executable: string;
  args?: string[];
  /** Added to (or, with undefined values, removed from) the inherited environment and the go-plugin defaults. */
  env?: Record<string, string | undefined>;
  /** Inherit process.env (default true). */
  inheritEnv?: boolean;
  /** Send PLUGIN_CLIENT_CERT and connect with mutual TLS (default true). */
  autoMTLS?: boolean;
  /** Use this client certificate instead of a fresh one. */
  clientCertificate?: GeneratedCertificate;
  cwd?: string;
  /** Called with every stderr line as it arrives. */
  stderr?: (line: string) => void;
  /** How long to wait for the handshake line (default 15 s). */
  startTimeoutMs?: number;
  /** Check health service "plugin" is SERVING after connecting, like go-plugin (default true). */
  healthCheck?: boolean;
  /** Open GRPCStdio/StreamStdio and GRPCBroker/StartStream like a go-plugin host does on connect (default true). */
  openSideStreams?: boolean;
}

export interface LaunchedPlugin extends PluginClients {
  pid: number;
  child: ChildProcess;
  handshake: ParsedHandshake;
  /** The client certificate sent as PLUGIN_CLIENT_CERT (when autoMTLS). */
  clientCertificate: GeneratedCertificate | undefined;
  /** The environment the plugin was started with. */
  env: NodeJS.ProcessEnv;
  /** Every stderr line so far. */
  stderrLines: string[];
  /** Anything written to stdout after the handshake line (should stay empty). */
  extraStdout: string[];
  exited: Promise<PluginExit>;
  /** Whether the process has exited. */
  readonly hasExited: boolean;
  /**
   * GRPCController/Shutdown, then waits for the process to exit (within
   * timeoutMs, default 2000 like go-plugin, else SIGKILL and reject).
   * Resolves with the milliseconds from the call to the exit.
   */
  shutdown(options?: { timeoutMs?: number }): Promise<number>;
  /** Sends a signal (default SIGKILL) and closes the clients. */
  kill(signal?: NodeJS.Signals): void;
}

/** The environment a go-plugin host gives the plugin. */
export function pluginEnvironment(options: {
  base?: NodeJS.ProcessEnv;
  clientCertPem?: string;
  overrides?: Record<string, string | undefined>;
}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...(options.base ?? {}),
    [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
    [ENV.protocolVersions]: String(APP_PROTOCOL_VERSION),
    [ENV.minPort]: '10000',
    [ENV.maxPort]: '25000',
  };
  if (options.clientCertPem !== undefined) env[ENV.clientCert] = options.clientCertPem;
  else delete env[ENV.clientCert];
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export async function launchPlugin(options: LaunchOptions): Promise<LaunchedPlugin> {
  const autoMTLS = options.autoMTLS ?? true;
  const clientCertificate = autoMTLS ? (options.clientCertificate ?? (await generateCertificate())) : undefined;
  const env = pluginEnvironment({
    base: options.inheritEnv === false ? {} : process.env,
    clientCertPem: clientCertificate?.certPem,
    overrides: options.env,
  });

  const child = spawn(options.executable, options.args ?? [], {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Both attach their listeners before anything is awaited: no event of the child is missed.
  const output = watchPlugin(child, options.stderr);
  const handshake = await awaitHandshake(child, output, {
    executable: options.executable,
    timeoutMs: options.startTimeoutMs ?? 15_000,
    autoMTLS,
  });

  const target = handshake.network === 'unix' ? `unix://${handshake.address}` : handshake.address;
  const clients = connectPlugin({ target, serverCertDer: handshake.serverCertDer, clientCertificate });
  const sideStreams: { cancel(): void }[] = [];
  const closeAll = (): void => {
    for (const stream of sideStreams) stream.cancel();
    clients.close();
  };

  try {
    if (options.healthCheck ?? true) {
      const health = await clients.health.check({ service: HEALTH_SERVICE_NAME }, { deadlineMs: 10_000 });
      if (health.status !== ServingStatus.SERVING) throw new Error(`health of "plugin" is ${health.status}, want SERVING`);
    }
    if (options.openSideStreams ?? true) sideStreams.push(...openSideStreams(clients));
  } catch (error) {
    closeAll();
    if (!output.hasExited) child.kill('SIGKILL');
    throw new PluginLaunchError(`could not talk to the plugin: ${error instanceof Error ? error.message : String(error)}`, output.stderrLines);
  }

  void output.exited.then(() => closeAll());

  return {
    ...clients,
    close: closeAll,
    pid: child.pid as number,
    child,
    handshake,
    clientCertificate,
    env,
    stderrLines: output.stderrLines,
    extraStdout: output.extraStdout,
    exited: output.exited,
    get hasExited() {
      return output.hasExited;
    },
    shutdown: (shutdownOptions = {}) => shutdownPlugin(clients, child, output, closeAll, shutdownOptions.timeoutMs ?? 2000),
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!output.hasExited) child.kill(signal);
      if (signal === 'SIGKILL') closeAll();
    },
  };
}

/** GRPCStdio/StreamStdio and GRPCBroker/StartStream, opened and drained as a go-plugin host does on connect. */
function openSideStreams(clients: PluginClients): { cancel(): void }[] {
  const stdio = clients.client(GRPCStdioService, 'GRPCStdio') as unknown as Record<string, (...a: unknown[]) => grpc.ClientReadableStream<unknown>>;
  const stdioStream = stdio.streamStdio({});
  const broker = clients.client(GRPCBrokerService, 'GRPCBroker') as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, unknown>>;
  const brokerStream = broker.startStream();
  for (const stream of [stdioStream, brokerStream]) {
    stream.on('error', () => undefined);
    stream.on('data', () => undefined);
  }
  return [stdioStream, brokerStream];
}

/** GRPCController/Shutdown, then the wait for the exit; SIGKILL past `limitMs`. Resolves with the ms it took. */
async function shutdownPlugin(clients: PluginClients, child: ChildProcess, output: PluginOutput, closeAll: () => void, limitMs: number): Promise<number> {
  const started = Date.now();
  if (!output.hasExited) {
    try {
      await clients.controller.shutdown({}, { deadlineMs: limitMs });
    } catch (error) {
      // The connection may drop as the plugin exits; only a live plugin that refuses is an error.
      const code = (error as grpc.ServiceError).code;
      if (code !== grpc.status.UNAVAILABLE && code !== grpc.status.CANCELLED && !output.hasExited) {
        closeAll();
        throw error;
      }
    }
  }
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    output.exited.then(() => 'exited' as const),
    new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, limitMs - (Date.now() - started)));
    }),
  ]);
  clearTimeout(timer);
  closeAll();
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    throw new Error(`plugin did not exit within ${limitMs} ms of Shutdown; killed`);
  }
  return Date.now() - started;
}
