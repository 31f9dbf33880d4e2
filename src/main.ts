/**
 * Entry point of chainloop-plugin-oci-registry, a HashiCorp go-plugin (gRPC)
 * server that Chainloop's control plane launches as a subprocess.
 *
 * This is the only module that reads process.env, writes stdout and calls
 * process.exit: everything else gets what it needs passed in.
 */
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { FanoutServiceService } from './gen/api/fanout';
import { FILE_DESCRIPTOR_SET_BASE64 } from './gen/descriptor-set';
import { PLUGIN_VERSION } from './gen/embedded';
import { APP_PROTOCOL_VERSION, CORE_PROTOCOL_VERSION, PARENT_POLL_MS } from './goplugin/constants';
import { parseDebugListen, parsePluginEnv, readLogLevel } from './goplugin/env';
import { formatHandshake } from './goplugin/handshake';
import { guardCrashes, handleSignals, redirectConsole, sealStdout, watchParent } from './goplugin/lifecycle';
import { createLogger, formatConsoleArgs, formatLogLine, type LogLevel, type ProcessLogger } from './goplugin/log';
import { createBatchedWriter } from './goplugin/log-writer';
import { recycleMessageBuffer } from './goplugin/message-buffers';
import { startPluginServer, type ListenSpec, type PluginServer, type TlsSpec } from './goplugin/serve';
import { generateCertificate } from './goplugin/tls';
import { createFanoutServer, timeLimitsFromEnv, type FanoutServer } from './plugin/server';
import { HELP, NAME, parseArgs } from './cli-args';

function writeStream(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    try {
      stream.write(text, () => resolve());
    } catch {
      resolve();
    }
  });
}

function makeLogger(level: LogLevel): ProcessLogger {
  const stderr = createBatchedWriter((text) => process.stderr.write(text));
  // 'exit' runs for process.exit() and after a fatal error alike; pipe writes are synchronous then.
  process.on('exit', () => stderr.flush());
  return createLogger({ level, write: (line) => stderr.write(line) });
}

/** Everything that keeps stray output and crashes from reaching the host raw. */
function guardProcess(logger: ProcessLogger): void {
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  guardCrashes(process, logger);
  redirectConsole(console, logger);
  const grpcLog = logger.named('grpc');
  grpc.setLogger({ error: (...args: unknown[]) => grpcLog.warn(formatConsoleArgs(args)) });
}

function makeFanout(logger: ProcessLogger): FanoutServer | undefined {
  try {
    const limits = timeLimitsFromEnv(process.env);
    for (const name of limits.invalid) logger.warn(`${name} is not a positive number of milliseconds; using the default`, {});
    const { SSL_CERT_FILE, SSL_CERT_DIR, NODE_EXTRA_CA_CERTS } = process.env;
    return createFanoutServer({
      logger,
      timeouts: limits.timeouts,
      budgets: limits.budgets,
      trustEnv: { SSL_CERT_FILE, SSL_CERT_DIR, NODE_EXTRA_CA_CERTS },
      releaseEnvelope: recycleMessageBuffer,
    });
  } catch (error) {
    logger.error('could not create the fan-out server', { error });
    return undefined;
  }
}

async function serve(
  logger: ProcessLogger,
  listen: ListenSpec,
  tls: Promise<TlsSpec> | undefined,
): Promise<{ server: PluginServer } | { failed: true }> {
  const fanout = makeFanout(logger);
  if (!fanout) return { failed: true };
  try {
    const server = await startPluginServer({
      logger,
      services: [{ definition: FanoutServiceService, implementation: fanout.implementation }],
      onClose: () => fanout.close(),
      listen,
      tls,
      descriptorSetBase64: FILE_DESCRIPTOR_SET_BASE64,
      observeMessage: fanout.observeMessage,
    });
    process.on('exit', () => server.cleanupSync());
    return { server };
  } catch (error) {
    logger.error('could not start the gRPC server', { error });
    await fanout.close().catch(() => undefined);
    return { failed: true };
  }
}

async function runPlugin(): Promise<number> {
  // Read first: a host that dies while we start up must still be noticed.
  const initialPpid = process.ppid;
  const parsed = parsePluginEnv(process.env, os.tmpdir());
  if (!parsed.ok && parsed.error.forHumans) {
    await writeStream(process.stderr, `${parsed.error.message}\n`);
    return 1;
  }
  const logger = makeLogger(parsed.ok ? parsed.config.logLevel : readLogLevel(process.env).level);
  guardProcess(logger);
  if (!parsed.ok) {
    logger.error(parsed.error.message, { kind: parsed.error.kind });
    return 1;
  }
  const config = parsed.config;
  if (config.invalidLogLevel !== undefined) {
    logger.warn('CHAINLOOP_PLUGIN_LOG_LEVEL is not a level (trace, debug, info, warn, error); using info', {
      value: config.invalidLogLevel,
    });
  }
  if (config.invalidProtocolVersions.length > 0) {
    logger.warn('ignoring PLUGIN_PROTOCOL_VERSIONS entries that are not numbers', {
      entries: config.invalidProtocolVersions,
    });
  }

  // The host owns the terminal: Ctrl-C reaches it, and it stops us through Shutdown.
  const signals = stopOnSignals(logger, { ignoreSigint: true });

  // The key pair is made on libuv's thread pool while the server is set up here.
  const clientCaPem = config.clientCertPem;
  const certificate = clientCaPem === undefined ? undefined : generateCertificate();
  certificate?.catch(() => undefined); // a failure is reported where the server awaits it
  const tls = certificate?.then((cert): TlsSpec => ({ clientCaPem: clientCaPem!, certPem: cert.certPem, keyPem: cert.keyPem }));

  const started = await serve(logger, { network: 'unix', parentDir: config.socketParentDir }, tls);
  if ('failed' in started) return 1;
  const certDer = certificate ? (await certificate).certDer : undefined;
  const server = started.server;
  if (await signals.serving(server)) return 0;

  await writeStream(
    process.stdout,
    formatHandshake({
      coreVersion: CORE_PROTOCOL_VERSION,
      appVersion: APP_PROTOCOL_VERSION,
      network: 'unix',
      address: server.address,
      protocol: 'grpc',
      serverCertDer: certDer,
      multiplex: config.multiplexAsked ? false : undefined,
    }),
  );
  sealStdout(process.stdout, logger);
  logger.debug('plugin serving', { address: server.address, mtls: tls !== undefined, version: PLUGIN_VERSION });

  watchParent({
    getPpid: () => process.ppid,
    initialPpid,
    intervalMs: PARENT_POLL_MS,
    onParentGone: (previous, current) => {
      logger.info('the host process is gone; shutting down', { previousParent: previous, parent: current });
      void server.stop('host process exited');
    },
  });

  await server.stopped;
  return 0;
}

/**
 * SIGTERM (and SIGINT unless ignored) stops the server; a signal that comes
 * while the server is still starting stops it as soon as it exists.
 * serving() reports whether that already happened.
 */
function stopOnSignals(logger: ProcessLogger, options: { ignoreSigint: boolean }): { serving(server: PluginServer): Promise<boolean> } {
  let server: PluginServer | undefined;
  let terminated: NodeJS.Signals | undefined;
  handleSignals(process, {
    ignoreSigint: options.ignoreSigint,
    logger,
    onTerminate: (signal) => {
      terminated = signal;
      logger.debug('terminating on signal', { signal });
      void server?.stop(`received ${signal}`);
    },
  });
  return {
    async serving(started) {
      server = started;
      if (!terminated) return false;
      await started.stop(`received ${terminated}`);
      return true;
    },
  };
}

async function runDebug(address: string): Promise<number> {
  const { level, invalid } = readLogLevel(process.env);
  const logger = makeLogger(level);
  guardProcess(logger);
  if (invalid !== undefined) logger.warn('CHAINLOOP_PLUGIN_LOG_LEVEL is not a level; using info', { value: invalid });
  const listen = parseDebugListen(address);
  if (!listen.ok) {
    logger.error(listen.message);
    return 1;
  }
  const signals = stopOnSignals(logger, { ignoreSigint: false });
  const started = await serve(logger, { network: 'tcp', ...listen.address }, undefined);
  if ('failed' in started) return 1;
  const server = started.server;
  if (await signals.serving(server)) return 0;
  logger.info('debug server listening (plaintext gRPC with reflection; no handshake, loopback only)', {
    address: server.address,
    example: `grpcurl -plaintext ${server.address} list`,
  });
  await server.stopped;
  return 0;
}

async function runHost(args: string[]): Promise<number> {
  const { runHostCli } = await import('./host/cli');
  const result = await runHostCli(args, {
    env: process.env,
    selfExecutable: process.argv[1] ?? '',
    stderr: (text: string) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  });
  if (result.stdout) await writeStream(process.stdout, result.stdout);
  if (result.stderr) await writeStream(process.stderr, result.stderr);
  return result.exitCode;
}

async function main(argv: readonly string[]): Promise<number> {
  const command = parseArgs(argv);
  switch (command.kind) {
    case 'help':
      await writeStream(process.stdout, HELP);
      return 0;
    case 'version':
      await writeStream(process.stdout, `${NAME} ${PLUGIN_VERSION}\n`);
      return 0;
    case 'usage-error':
      await writeStream(process.stderr, `${command.message}\n`);
      return 2;
    case 'debug':
      return runDebug(command.address);
    case 'host':
      return runHost(command.args);
    case 'serve':
      return runPlugin();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${formatLogLine('error', `fatal: ${message}`, undefined, new Date())}\n`);
    process.exit(1);
  },
);
