import { createHash } from 'node:crypto';
import { RegistryClient, type ClientOptions, type Credentials } from '../oci';

/**
 * One RegistryClient per registry and credentials, so a warm plugin reuses
 * connections, the registry's auth challenge and cached tokens across calls.
 * Keys hold a hash of the password, never the password itself.
 */
export class ClientPool {
  private readonly clients = new Map<string, RegistryClient>();

  constructor(
    private readonly options: Omit<ClientOptions, 'credentials'> = {},
    private readonly maxClients = 32,
  ) {}

  get(registry: string, credentials: Credentials | undefined): RegistryClient {
    const key = poolKey(registry, credentials);
    let client = this.clients.get(key);
    if (client) {
      // Map keeps insertion order: re-insert to mark it recently used.
      this.clients.delete(key);
    } else {
      client = new RegistryClient({ ...this.options, credentials });
      this.evictOldest();
    }
    this.clients.set(key, client);
    return client;
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map((c) => c.close()));
  }

  private evictOldest(): void {
    while (this.clients.size >= this.maxClients) {
      const [oldestKey, oldest] = this.clients.entries().next().value as [string, RegistryClient];
      this.clients.delete(oldestKey);
      void oldest.close();
    }
  }
}

function poolKey(registry: string, credentials: Credentials | undefined): string {
  if (!credentials) return `${registry}\n`;
  const secret = createHash('sha256').update(credentials.password).digest('hex');
  return `${registry}\n${credentials.username}\n${secret}`;
}
