/**
 * `chainloop-plugin-oci-registry host ...`: acts as a go-plugin host for a
 * plugin executable (by default this very program) and prints the answers as
 * JSON, to try a plugin by hand the way the control plane would drive it.
 * Returns its output instead of printing: main owns stdout.
 */
import { readFile } from 'node:fs/promises';
import { parseRepository } from '../oci/reference';
import { launchPlugin, type LaunchedPlugin } from './client';
import { discover } from './discover';
import { formatPushReport, hostPush } from './push';

export interface HostCliContext {
  env: NodeJS.ProcessEnv;
  /** Path of the running program, used when --plugin is not given. */
  selfExecutable: string;
  /** Live stderr (plugin log lines are forwarded here with --verbose). */
  stderr: (text: string) => void;
  /** All of standard input, for --password-stdin. */
  readStdin?: () => Promise<string>;
}

export interface HostCliResult {
  exitCode: number;
  stdout?: string;
  stderr?: string;
}

export const HOST_HELP = `Usage: chainloop-plugin-oci-registry host [--plugin PATH] [--no-mtls] [--verbose] COMMAND

Launches the plugin like Chainloop's control plane does (go-plugin handshake,
AutoMTLS), runs one call and prints the answer as JSON.

Commands:
  describe                         FanoutService/Describe
  string                           FanoutService/String
  validate-registration JSON       FanoutService/ValidateRegistration
  validate-attachment JSON         FanoutService/ValidateAttachment
  is-subscribed-to MATERIAL_TYPE   FanoutService/IsSubscribedTo
  handshake                        print the parsed handshake line
  push --repository REPO --username USER (--password-stdin | --password PASS)
       --envelope FILE [--prefix PREFIX]
                                   Describe, validate, Register, Attach and Execute
                                   against a real registry, then read the artifact back
  discover IMAGE@sha256:DIGEST [--repository REPO]
       [--username USER (--password-stdin | --password PASS)]
                                   list the Chainloop attestations attached to that image:
                                   OCI referrers (API or sha256-<hex> index) and cosign's
                                   sha256-<hex>.att; --repository searches <repository>/<prefix>
                                   (referrersLocation=repository) instead of the image's repository
`;

const DISCOVER_USAGE =
  'host discover: usage: discover IMAGE@sha256:DIGEST [--repository REPO] [--username USER (--password-stdin | --password PASS)]\n';

/** `host discover`: reads the registry directly (no plugin process). */
async function runDiscover(args: string[], context: HostCliContext): Promise<HostCliResult> {
  const flags = new Map<string, string>();
  let image: string | undefined;
  let passwordFromStdin = false;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i];
    if (arg === '--password-stdin') passwordFromStdin = true;
    else if (/^--(repository|username|password)$/.test(arg) && args[i + 1] !== undefined) flags.set(arg.slice(2), args[++i]);
    else if (!arg.startsWith('--') && image === undefined) image = arg;
    else return { exitCode: 2, stderr: `host discover: unexpected argument ${JSON.stringify(arg)}\n${DISCOVER_USAGE}` };
  }
  let password = flags.get('password');
  if (passwordFromStdin) {
    if (!context.readStdin) return { exitCode: 2, stderr: 'host discover: standard input is not available\n' };
    password = (await context.readStdin()).replace(/\r?\n$/, '');
  }
  if (!image || (flags.has('username') && !password)) return { exitCode: 2, stderr: DISCOVER_USAGE };
  try {
    const report = await discover({ image, repository: flags.get('repository'), username: flags.get('username'), password });
    return { exitCode: 0, stdout: `${JSON.stringify(report, null, 2)}\n` };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { exitCode: 1, stderr: `host discover: ${password ? message.split(password).join('[redacted]') : message}\n` };
  }
}

const PUSH_USAGE =
  'host push: usage: push --repository REPO --username USER (--password-stdin | --password PASS) --envelope FILE [--prefix PREFIX]\n';

/** `host push`: the whole registration and delivery, as the control plane runs it. */
async function runPush(args: string[], context: HostCliContext, executable: string, verbose: boolean): Promise<HostCliResult> {
  const flags = new Map<string, string>();
  let passwordFromStdin = false;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i];
    if (arg === '--password-stdin') passwordFromStdin = true;
    else if (/^--(repository|username|password|envelope|prefix)$/.test(arg) && args[i + 1] !== undefined) flags.set(arg.slice(2), args[++i]);
    else return { exitCode: 2, stderr: `host push: unexpected argument ${JSON.stringify(arg)}\n${PUSH_USAGE}` };
  }
  let password = flags.get('password');
  if (passwordFromStdin) {
    if (!context.readStdin) return { exitCode: 2, stderr: 'host push: standard input is not available\n' };
    // One trailing newline is the terminal's, not the password's.
    password = (await context.readStdin()).replace(/\r?\n$/, '');
  }
  const repository = flags.get('repository');
  const username = flags.get('username');
  const envelopePath = flags.get('envelope');
  if (!repository || !username || !password || !envelopePath) return { exitCode: 2, stderr: PUSH_USAGE };
  try {
    const envelope = await readFile(envelopePath);
    const report = await hostPush({
      executable,
      repository,
      username,
      password,
      envelope,
      prefix: flags.get('prefix'),
      progress: (line) => context.stderr(`${line}\n`),
      pluginLog: verbose ? (line) => context.stderr(`${line}\n`) : undefined,
    });
    // The push succeeded, so the repository parses; loopback registries are the plain-HTTP ones.
    const plainHttp = parseRepository(repository).scheme === 'http';
    return { exitCode: 0, stdout: formatPushReport(report, plainHttp) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { exitCode: 1, stderr: `host push: ${message.split(password).join('[redacted]')}\n` };
  }
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

function parseJsonText(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

async function run(plugin: LaunchedPlugin, command: string, args: string[]): Promise<unknown> {
  switch (command) {
    case 'describe': {
      const answer = await plugin.fanout.describe({});
      return {
        id: answer.id,
        version: answer.version,
        description: answer.description,
        registrationJsonSchema: parseJsonText(text(answer.registrationJsonSchema)),
        attachmentJsonSchema: parseJsonText(text(answer.attachmentJsonSchema)),
        subscribedMaterials: answer.subscribedMaterials,
      };
    }
    case 'string':
      return plugin.fanout.string({});
    case 'validate-registration':
      return plugin.fanout.validateRegistration({ jsonPayload: Buffer.from(args[0] ?? '{}') });
    case 'validate-attachment':
      return plugin.fanout.validateAttachment({ jsonPayload: Buffer.from(args[0] ?? '{}') });
    case 'is-subscribed-to':
      return plugin.fanout.isSubscribedTo({ materialType: args[0] ?? '' });
    case 'handshake': {
      const { serverCertDer: _der, ...rest } = plugin.handshake;
      return rest;
    }
    default:
      throw new Error(`unknown host command ${JSON.stringify(command)}`);
  }
}

export async function runHostCli(argv: readonly string[], context: HostCliContext): Promise<HostCliResult> {
  let executable = context.selfExecutable;
  let autoMTLS = true;
  let verbose = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return { exitCode: 0, stdout: HOST_HELP };
    if (arg === '--plugin') executable = argv[++i] ?? '';
    else if (arg.startsWith('--plugin=')) executable = arg.slice('--plugin='.length);
    else if (arg === '--no-mtls') autoMTLS = false;
    else if (arg === '--verbose') verbose = true;
    else rest.push(arg);
  }
  const [command, ...args] = rest;
  if (!command) return { exitCode: 2, stderr: HOST_HELP };
  if (!executable) return { exitCode: 2, stderr: 'host: no plugin executable (use --plugin PATH)\n' };
  if (command === 'push') return runPush(args, context, executable, verbose);
  if (command === 'discover') return runDiscover(args, context);

  let plugin: LaunchedPlugin | undefined;
  try {
    plugin = await launchPlugin({
      executable,
      env: {},
      autoMTLS,
      stderr: verbose ? (line) => context.stderr(`${line}\n`) : undefined,
    });
    const answer = await run(plugin, command, args);
    await plugin.shutdown({ timeoutMs: 5000 });
    return { exitCode: 0, stdout: `${JSON.stringify(answer, null, 2)}\n` };
  } catch (error) {
    if (plugin) {
      await plugin.shutdown({ timeoutMs: 5000 }).catch(() => plugin?.kill());
    }
    return { exitCode: 1, stderr: `host: ${error instanceof Error ? error.message : String(error)}\n` };
  }
}
