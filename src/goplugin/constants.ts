/**
 * Fixed values of the go-plugin handshake as Chainloop's control plane uses it.
 * Changing any of them makes the host refuse the plugin.
 */

/** The environment variable Chainloop sets to prove it launched the plugin. */
export const MAGIC_COOKIE_KEY = 'CHAINLOOP_PLUGIN';
export const MAGIC_COOKIE_VALUE = 'e575e823-335c-4e3b-8bfd-acceef0ae074';

/** go-plugin's own wire protocol version (first handshake field). */
export const CORE_PROTOCOL_VERSION = 1;
/** Chainloop's fan-out plugin API version (second handshake field). */
export const APP_PROTOCOL_VERSION = 0;

/** The name go-plugin hosts ask the health service about. */
export const HEALTH_SERVICE_NAME = 'plugin';

/** Longest unix socket path we accept: sun_path is 104 bytes on macOS, 108 on Linux, NUL included. */
export const MAX_UNIX_SOCKET_PATH_BYTES = 103;

/** How long shutdown may wait for in-flight calls before cancelling them. */
export const SHUTDOWN_GRACE_MS = 1500;

/** How often the parent process id is checked. */
export const PARENT_POLL_MS = 1000;

/** Environment variable names read by the plugin (main passes process.env in). */
export const ENV = {
  protocolVersions: 'PLUGIN_PROTOCOL_VERSIONS',
  unixSocketDir: 'PLUGIN_UNIX_SOCKET_DIR',
  clientCert: 'PLUGIN_CLIENT_CERT',
  multiplexGrpc: 'PLUGIN_MULTIPLEX_GRPC',
  minPort: 'PLUGIN_MIN_PORT',
  maxPort: 'PLUGIN_MAX_PORT',
  logLevel: 'CHAINLOOP_PLUGIN_LOG_LEVEL',
} as const;

/** grpc-js options that lift the 4 MiB default: the host sends up to 2 GiB. */
export const UNLIMITED_MESSAGE_OPTIONS = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
} as const;

/**
 * grpc-js keeps channelz statistics for every call unless told not to; the
 * host client serves no channelz, so it is per-call CPU for nothing. Not for
 * the plugin's server: see serve.ts.
 */
export const NO_CHANNELZ = { 'grpc.enable_channelz': 0 } as const;
