/**
 * The FLOOR: the minimal HTTP sequence that stores one attestation, sent by
 * a bare undici client with keep-alive and nothing else (no gRPC, no
 * plugin, no retries, no challenge handling):
 *
 *   [token GET with Basic credentials, Bearer mode only]
 *   POST blobs/uploads/ + PUT ?digest=   (config)   } concurrently
 *   POST blobs/uploads/ + PUT ?digest=   (layer)    }
 *   PUT manifests/latest
 *
 * Like a warm client it already knows the registry's auth scheme and realm,
 * and fetches one token per new repository.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { buildArtifact, MANIFEST_MEDIA_TYPE } from './artifact';
import type { BenchRegistry } from './registry';

export interface FloorOptions {
  /** Per-origin connection limit; undefined = undici's default (unlimited). */
  connections?: number;
}

export class Floor {
  private readonly agent: Agent;
  private readonly base: string;
  private readonly basic: string | undefined;
  private readonly realm: URL | undefined;
  private readonly service: string | undefined;

  constructor(private readonly registry: BenchRegistry, options: FloorOptions = {}) {
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      ...(options.connections !== undefined ? { connections: options.connections } : {}),
    });
    this.base = registry.reg.url;
    const auth = registry.mode !== 'anonymous';
    this.basic = auth ? `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}` : undefined;
    const ts = registry.reg.tokenServer;
    this.realm = ts ? new URL(ts.realm) : undefined;
    this.service = ts?.service;
  }

  /** Pushes `envelope` to `<repository path>/<prefix>-<sha256 hex>:latest`. Returns the request count. */
  async push(envelope: Uint8Array, prefix = 'floor'): Promise<number> {
    const art = buildArtifact(envelope);
    const path = `bench/${prefix}-${art.hex}`;
    let authorization: string | undefined;
    let sent = 0;
    if (this.realm) {
      const url = new URL(this.realm);
      if (this.service) url.searchParams.set('service', this.service);
      url.searchParams.set('scope', `repository:${path}:pull,push`);
      const res = await this.send('GET', url, { authorization: this.basic! });
      sent++;
      const body = (await res.body.json()) as { token?: string; access_token?: string };
      if (res.statusCode !== 200) throw new Error(`floor: token GET answered ${res.statusCode}`);
      authorization = `Bearer ${body.token ?? body.access_token}`;
    } else if (this.basic && this.registry.mode === 'basic') {
      authorization = this.basic;
    }
    const auth: Record<string, string> = authorization ? { authorization } : {};

    const blob = async (bytes: Uint8Array, digest: string): Promise<void> => {
      const post = await this.send('POST', new URL(`/v2/${path}/blobs/uploads/`, this.base), auth);
      await post.body.dump();
      if (post.statusCode !== 202) throw new Error(`floor: upload POST answered ${post.statusCode}`);
      const location = new URL(String(post.headers.location), this.base);
      location.searchParams.append('digest', digest);
      const put = await this.send('PUT', location, { ...auth, 'content-type': 'application/octet-stream' }, bytes);
      await put.body.dump();
      if (put.statusCode !== 201) throw new Error(`floor: blob PUT answered ${put.statusCode}`);
    };
    await Promise.all([blob(art.config.bytes, art.config.digest), blob(art.layer.bytes, art.layer.digest)]);
    sent += 4;
    const put = await this.send(
      'PUT',
      new URL(`/v2/${path}/manifests/latest`, this.base),
      { ...auth, 'content-type': MANIFEST_MEDIA_TYPE },
      art.manifest,
    );
    await put.body.dump();
    sent++;
    if (put.statusCode !== 201) throw new Error(`floor: manifest PUT answered ${put.statusCode}`);
    return sent;
  }

  private send(method: Dispatcher.HttpMethod, url: URL, headers: Record<string, string>, body?: Uint8Array): Promise<Dispatcher.ResponseData> {
    return request(url, {
      method,
      headers: body ? { ...headers, 'content-length': String(body.byteLength) } : headers,
      body,
      dispatcher: this.agent,
    });
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
