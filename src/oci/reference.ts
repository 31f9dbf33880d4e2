import { isIPv4, isIPv6 } from 'node:net';
import { InvalidReferenceError } from './errors';

/** A registry plus repository path, without tag or digest. */
export interface Repository {
  /** host[:port] as written by the user, host lower-cased. */
  readonly registry: string;
  /** host[:port] to send API requests to (Docker Hub aliases map to registry-1.docker.io). */
  readonly apiHost: string;
  /** Repository path, e.g. "org/repo". */
  readonly path: string;
  /** 'http' only for loopback registries, meaning plain HTTP is allowed: the
   * transport still tries TLS first (see loopback-scheme.ts). */
  readonly scheme: 'https' | 'http';
  toString(): string;
}

// Distribution spec path component.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const PORT = /^[0-9]{1,5}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const MAX_NAME_LENGTH = 255;
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io']);
const DOCKER_HUB_API = 'registry-1.docker.io';

class RepositoryRef implements Repository {
  constructor(
    readonly registry: string,
    readonly apiHost: string,
    readonly path: string,
    readonly scheme: 'https' | 'http',
  ) {}

  toString(): string {
    return `${this.registry}/${this.path}`;
  }
}

/**
 * Parses "registry/path" into a Repository.
 *
 * Grammar (after oras-go v2 registry/reference.go, without tag/digest):
 *
 *   repository := registry "/" path
 *   registry   := host [ ":" port ]
 *   host       := domain | ipv4 | "[" ipv6 "]"
 *   domain     := label ( "." label )*        label := [a-z0-9]([a-z0-9-]*[a-z0-9])?
 *   port       := 1..65535 (decimal)
 *   path       := component ( "/" component )*
 *   component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *
 * The first segment must look like a registry host (contain "." or ":" or
 * be "localhost"); Docker-style implicit "docker.io/" is not applied, so
 * "myrepo/foo" is rejected. The host is case-insensitive and lower-cased;
 * the path must already be lower case. Total length is at most 255.
 */
export function parseRepository(input: string): Repository {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(input, reason);
  };
  if (typeof input !== 'string' || input.length === 0) fail('it is empty');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) {
    fail('it must not include a URL scheme; drop the "scheme://" prefix (e.g. ghcr.io/org/repo)');
  }
  if (/\s/.test(input)) fail('it must not contain spaces');
  if (input.includes('@')) fail('the repository must not include a digest ("@sha256:..."); give the repository only');

  const slash = input.indexOf('/');
  if (slash < 0) fail('it has no repository path; expected registry/path, e.g. ghcr.io/org/repo');
  const first = input.slice(0, slash);
  let rest = input.slice(slash + 1);

  if (!looksLikeHost(first)) {
    fail(`"${first}" is not a registry host; include the registry host, e.g. ghcr.io/${input}`);
  }
  const registry = parseRegistry(first, fail);

  if (rest.length === 0) fail('it has no repository path; expected registry/path, e.g. ghcr.io/org/repo');
  if (rest.endsWith('/')) fail('it must not end with "/"');
  const lastSlash = rest.lastIndexOf('/');
  if (rest.slice(lastSlash + 1).includes(':')) {
    fail('the repository must not include a tag (":tag"); give the repository only');
  }
  rest = validatePath(rest, fail);

  return build(registry, rest, fail);
}

/** Returns the repository `${parent.path}/${name}` on the same registry. */
export function childRepository(parent: Repository, name: string): Repository {
  const input = `${parent.toString()}/${name}`;
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(input, reason);
  };
  if (name.length === 0) fail('child repository name is empty');
  if (name.startsWith('/') || name.endsWith('/')) fail('child repository name must not start or end with "/"');
  const path = validatePath(`${parent.path}/${name}`, fail);
  return build({ registry: parent.registry, apiHost: parent.apiHost, scheme: parent.scheme }, path, fail);
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

interface RegistryParts {
  registry: string;
  apiHost: string;
  scheme: 'https' | 'http';
}

function build(reg: RegistryParts, path: string, fail: (r: string) => never): Repository {
  const name = `${reg.registry}/${path}`;
  if (name.length > MAX_NAME_LENGTH) fail(`the name is ${name.length} characters long; the maximum is ${MAX_NAME_LENGTH}`);
  return Object.freeze(new RepositoryRef(reg.registry, reg.apiHost, path, reg.scheme));
}

function looksLikeHost(segment: string): boolean {
  return segment.includes('.') || segment.includes(':') || segment.startsWith('[') || segment.toLowerCase() === 'localhost';
}

function parseRegistry(raw: string, fail: (r: string) => never): RegistryParts {
  const lower = raw.toLowerCase();
  let host: string;
  let port: string | undefined;
  let loopback: boolean;

  if (lower.startsWith('[')) {
    const close = lower.indexOf(']');
    if (close < 0) fail(`malformed IPv6 address in "${raw}": missing "]"`);
    const inner = lower.slice(1, close);
    // node:net accepts zone ids (fe80::1%eth0) but URLs and Host headers can't carry them.
    if (inner.includes('%')) fail(`IPv6 zone ids ("%..." in "${inner}") are not supported in a registry address`);
    if (!isIPv6(inner)) fail(`malformed IPv6 address "${inner}"`);
    const after = lower.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) fail(`unexpected "${after}" after IPv6 address`);
      port = after.slice(1);
    }
    host = lower.slice(0, close + 1);
    loopback = new URL(`http://${host}/`).hostname === '[::1]';
  } else {
    const parts = lower.split(':');
    if (parts.length > 2) fail(`"${raw}" has more than one ":"; IPv6 addresses must be written in brackets, e.g. [::1]:5000`);
    host = parts[0] ?? '';
    port = parts[1];
    if (host === '') fail('the registry host is empty');
    if (/^[0-9.]+$/.test(host)) {
      if (!isIPv4(host)) fail(`malformed IPv4 address "${host}"`);
      loopback = host.startsWith('127.');
    } else {
      for (const label of host.split('.')) {
        if (!LABEL.test(label)) fail(`"${host}" is not a valid registry host name`);
      }
      loopback = host === 'localhost';
    }
  }
  if (port !== undefined) {
    if (!PORT.test(port)) fail(`port "${port}" is not a number between 1 and 65535`);
    const n = Number(port);
    if (n < 1 || n > 65535) fail(`port "${port}" is not a number between 1 and 65535`);
  }
  const registry = port !== undefined ? `${host}:${port}` : host;
  const apiHost = DOCKER_HUB_ALIASES.has(registry) ? DOCKER_HUB_API : registry;
  return { registry, apiHost, scheme: loopback ? 'http' : 'https' };
}

function validatePath(path: string, fail: (r: string) => never): string {
  if (path !== path.toLowerCase()) fail('the repository path must be lower case');
  for (const component of path.split('/')) {
    if (component === '') fail('the repository path has an empty component ("//")');
    if (!COMPONENT.test(component)) {
      fail(`path component "${component}" is invalid; use lower-case letters, digits and single separators (".", "_", "__", "-")`);
    }
  }
  return path;
}
