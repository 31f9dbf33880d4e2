/**
 * The command line: what each argument asks for, and the help text. Pure;
 * main.ts acts on the result.
 */
import { PLUGIN_VERSION } from './gen/embedded';
import { MAGIC_COOKIE_KEY } from './goplugin/constants';

export const NAME = 'chainloop-plugin-oci-registry';

export const HELP = `${NAME} ${PLUGIN_VERSION}

A Chainloop fan-out plugin that stores attestations (the signed DSSE envelopes,
byte for byte; no materials) in an OCI registry, and can attach them to the
container images they name (OCI referrers, cosign .att).
Chainloop's control plane launches it as a HashiCorp go-plugin
subprocess and talks to it over gRPC; it is not meant to be run by hand.

To use it, place it where the control plane loads plugins from. The control
plane sets ${MAGIC_COOKIE_KEY} and the go-plugin variables; without them the
program refuses to start.

Usage:
  ${NAME}                            serve (only when launched by Chainloop)
  ${NAME} --debug-listen HOST:PORT   serve plaintext gRPC with reflection on a
                                     loopback address, for grpcurl sessions
  ${NAME} host [--help]              act as a go-plugin host (for testing)
  ${NAME} --version                  print the version
  ${NAME} --help                     print this help

Environment:
  CHAINLOOP_PLUGIN_LOG_LEVEL   trace, debug, info (default), warn or error
  SSL_CERT_FILE, SSL_CERT_DIR  extra CA certificates for registries, as in Go;
  NODE_EXTRA_CA_CERTS          /etc/ssl/certs and /etc/pki/tls/certs are read too
`;

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'serve' }
  | { kind: 'debug'; address: string }
  | { kind: 'host'; args: string[] }
  | { kind: 'usage-error'; message: string };

export function parseArgs(argv: readonly string[]): Command {
  if (argv[0] === 'host') return { kind: 'host', args: argv.slice(1) };
  let debug: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h' || arg === 'help') return { kind: 'help' };
    if (arg === '--version' || arg === '-v' || arg === 'version') return { kind: 'version' };
    if (arg === '--debug-listen') {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('-')) {
        return { kind: 'usage-error', message: '--debug-listen needs an address such as 127.0.0.1:50051' };
      }
      debug = value;
      i += 1;
    } else if (arg.startsWith('--debug-listen=')) {
      debug = arg.slice('--debug-listen='.length);
    } else {
      return { kind: 'usage-error', message: `unknown argument ${JSON.stringify(arg)}; run ${NAME} --help` };
    }
  }
  return debug === undefined ? { kind: 'serve' } : { kind: 'debug', address: debug };
}
