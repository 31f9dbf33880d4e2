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
import {
  APP_PROTOCOL_VERSION,
  CORE_PROTOCOL_VERSION,
  ENV,
  HEALTH_SERVICE_NAME,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
} from '../goplugin/constants';
import { parseHandshake, type ParsedHandshake } from '../goplugin/handshake';
import { generateCertificate, type GeneratedCertificate } from '../goplugin/tls';
import { connectPlugin, type PluginClients } from './plugin-clients';

export * from './plugin-clients';

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

export interface PluginExit {
  code: number | null;
  signal: NodeJS.Signals | null;
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

function splitLines(onLine: (line: string) => void): { push(chunk: string): void; flush(): void } {
  let buffer = '';
  return {
    push(chunk) {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        onLine(buffer.slice(0, newline).replace(/\r$/, ''));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
    },
    flush() {
      if (buffer !== '') onLine(buffer);
      buffer = '';
    },
  };
}

export class PluginLaunchError extends Error {
  constructor(
    message: string,
    readonly stderrLines: string[],
    readonly exit?: PluginExit,
  ) {
    super(stderrLines.length > 0 ? `${message}\nplugin stderr:\n${stderrLines.join('\n')}` : message);
    this.name = 'PluginLaunchError';
  }
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
  const stderrLines: string[] = [];
  const extraStdout: string[] = [];
  let hasExited = false;
  const exited = new Promise<PluginExit>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      resolve({ code, signal });
    });
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new PluginLaunchError(`could not start ${options.executable}: ${error.message}`, stderrLines)));
  });
  spawnError.catch(() => undefined);

  const stderrSplitter = splitLines((line) => {
    stderrLines.push(line);
    options.stderr?.(line);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => stderrSplitter.push(chunk));
  child.stderr!.on('end', () => stderrSplitter.flush());

  const handshakeLine = new Promise<string>((resolve, reject) => {
    let buffer = '';
    let done = false;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      if (done) {
        extraStdout.push(chunk);
        return;
      }
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline >= 0) {
        done = true;
        resolve(buffer.slice(0, newline));
        const rest = buffer.slice(newline + 1);
        if (rest !== '') extraStdout.push(rest);
      }
    });
    child.stdout!.on('end', () => {
      if (!done) reject(new Error(`stdout closed before a handshake line${buffer ? ` (got ${JSON.stringify(buffer)})` : ''}`));
    });
  });
  handshakeLine.catch(() => undefined);

  const timeoutMs = options.startTimeoutMs ?? 15_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no handshake line within ${timeoutMs} ms`)), timeoutMs);
  });

  // After a failed start: wait (briefly) until the process is gone and its stderr read.
  const closed = new Promise<PluginExit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const exitBeforeHandshake = async (fallback: string): Promise<never> => {
    const exit = await Promise.race([closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000).unref())]);
    if (exit) {
      throw new PluginLaunchError(
        `plugin exited (code ${exit.code}, signal ${exit.signal}) before its handshake`,
        stderrLines,
        exit,
      );
    }
    throw new PluginLaunchError(fallback, stderrLines);
  };

  let handshake: ParsedHandshake;
  try {
    const line = await Promise.race([
      handshakeLine.catch((error: Error) => exitBeforeHandshake(error.message)),
      spawnError,
      timeout,
    ]);
    handshake = parseHandshake(line);
    if (handshake.coreVersion !== CORE_PROTOCOL_VERSION) {
      throw new Error(`plugin speaks go-plugin core protocol ${handshake.coreVersion}, want ${CORE_PROTOCOL_VERSION}`);
    }
    if (handshake.appVersion !== APP_PROTOCOL_VERSION) {
      throw new Error(`plugin speaks app protocol ${handshake.appVersion}, want ${APP_PROTOCOL_VERSION}`);
    }
    if (handshake.protocol !== 'grpc') throw new Error(`plugin protocol is ${handshake.protocol}, want grpc`);
    if (autoMTLS && !handshake.serverCertDer) throw new Error('AutoMTLS asked for but the handshake has no certificate');
    if (!autoMTLS && handshake.serverCertDer) throw new Error('the handshake has a certificate although none was asked for');
  } catch (error) {
    if (!hasExited) child.kill('SIGKILL');
    child.stdout!.destroy();
    child.stderr!.destroy();
    if (error instanceof PluginLaunchError) throw error;
    throw new PluginLaunchError(error instanceof Error ? error.message : String(error), stderrLines);
  } finally {
    clearTimeout(timer);
  }

  const target =
    handshake.network === 'unix' ? `unix://${handshake.address}` : handshake.address;
  const clients = connectPlugin({ target, serverCertDer: handshake.serverCertDer, clientCertificate });

  const sideStreams: grpc.ClientReadableStream<unknown>[] = [];
  const closeAll = (): void => {
    for (const stream of sideStreams) stream.cancel();
    clients.close();
  };

  try {
    if (options.healthCheck ?? true) {
      const health = await clients.health.check({ service: HEALTH_SERVICE_NAME }, { deadlineMs: 10_000 });
      if (health.status !== ServingStatus.SERVING) throw new Error(`health of "plugin" is ${health.status}, want SERVING`);
    }
    if (options.openSideStreams ?? true) {
      const stdio = clients.client(GRPCStdioService, 'GRPCStdio') as unknown as Record<string, (...a: unknown[]) => grpc.ClientReadableStream<unknown>>;
      const stdioStream = stdio.streamStdio({});
      stdioStream.on('error', () => undefined);
      stdioStream.on('data', () => undefined);
      sideStreams.push(stdioStream);
      const broker = clients.client(GRPCBrokerService, 'GRPCBroker') as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, unknown>>;
      const brokerStream = broker.startStream();
      brokerStream.on('error', () => undefined);
      brokerStream.on('data', () => undefined);
      sideStreams.push(brokerStream as unknown as grpc.ClientReadableStream<unknown>);
    }
  } catch (error) {
    closeAll();
    if (!hasExited) child.kill('SIGKILL');
    throw new PluginLaunchError(
      `could not talk to the plugin: ${error instanceof Error ? error.message : String(error)}`,
      stderrLines,
    );
  }

  void exited.then(() => closeAll());

  const plugin: LaunchedPlugin = {
    ...clients,
    close: closeAll,
    pid: child.pid as number,
    child,
    handshake,
    clientCertificate,
    env,
    stderrLines,
    extraStdout,
    exited,
    get hasExited() {
      return hasExited;
    },
    async shutdown(shutdownOptions = {}) {
      const limit = shutdownOptions.timeoutMs ?? 2000;
      const started = Date.now();
      if (!hasExited) {
        try {
          await clients.controller.shutdown({}, { deadlineMs: limit });
        } catch (error) {
          // The connection may drop as the plugin exits; only a live plugin that refuses is an error.
          const code = (error as grpc.ServiceError).code;
          if (code !== grpc.status.UNAVAILABLE && code !== grpc.status.CANCELLED && !hasExited) {
            closeAll();
            throw error;
          }
        }
      }
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        exited.then(() => 'exited' as const),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), Math.max(0, limit - (Date.now() - started)));
        }),
      ]);
      clearTimeout(timer);
      closeAll();
      if (outcome === 'timeout') {
        child.kill('SIGKILL');
        throw new Error(`plugin did not exit within ${limit} ms of Shutdown; killed`);
      }
      return Date.now() - started;
    },
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!hasExited) child.kill(signal);
      if (signal === 'SIGKILL') closeAll();
    },
  };
  return plugin;
}
