import { TokenCache } from '../../../../src/oci/auth/token-cache';

function setup() {
  let now = 1_000_000;
  const cache = new TokenCache({ clock: () => now, defaultTtlMs: 60_000, marginMs: 5_000, retainMs: 600_000 });
  return { cache, advance: (ms: number) => (now += ms) };
}

describe('TokenCache', () => {
  it('reuses a token until expires_in minus the margin, then refetches', async () => {
    const { cache, advance } = setup();
    let n = 0;
    const fetch = async () => ({ token: `t${++n}`, expiresInMs: 300_000 });
    expect(await cache.get('k', fetch)).toEqual({ token: 't1', fresh: true });
    advance(294_999);
    expect(await cache.get('k', fetch)).toEqual({ token: 't1', fresh: false });
    advance(1);
    expect(await cache.get('k', fetch)).toEqual({ token: 't2', fresh: true });
  });

  it('defaults to 60 s when expires_in is absent', async () => {
    const { cache, advance } = setup();
    let n = 0;
    const fetch = async () => ({ token: `t${++n}` });
    await cache.get('k', fetch);
    advance(54_999);
    expect(cache.peek('k')).toBe('t1');
    advance(1);
    expect(cache.peek('k')).toBeUndefined();
  });

  it('shares one in-flight fetch among 10 concurrent callers', async () => {
    const { cache } = setup();
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const fetch = async () => {
      calls++;
      await gate;
      return { token: 'shared' };
    };
    const all = Promise.all(Array.from({ length: 10 }, () => cache.get('k', fetch)));
    release();
    const results = await all;
    expect(calls).toBe(1);
    expect(results.every((r) => r.token === 'shared' && r.fresh)).toBe(true);
  });

  it('does not cache failures', async () => {
    const { cache } = setup();
    let calls = 0;
    const failing = async () => {
      calls++;
      throw new Error('boom');
    };
    await expect(Promise.all([cache.get('k', failing), cache.get('k', failing)])).rejects.toThrow('boom');
    expect(calls).toBe(1);
    expect(await cache.get('k', async () => ({ token: 'ok' }))).toEqual({ token: 'ok', fresh: true });
  });

  it('keys are independent; invalidate only drops the matching token; clearHost drops a host', async () => {
    const { cache } = setup();
    await cache.get(TokenCache.key('h1', 's1'), async () => ({ token: 'a' }));
    await cache.get(TokenCache.key('h1', 's2'), async () => ({ token: 'b' }));
    await cache.get(TokenCache.key('h2', 's1'), async () => ({ token: 'c' }));
    cache.invalidate(TokenCache.key('h1', 's1'), 'other');
    expect(cache.peek(TokenCache.key('h1', 's1'))).toBe('a');
    cache.invalidate(TokenCache.key('h1', 's1'), 'a');
    expect(cache.peek(TokenCache.key('h1', 's1'))).toBeUndefined();
    cache.clearHost('h1');
    expect(cache.peek(TokenCache.key('h1', 's2'))).toBeUndefined();
    expect(cache.peek(TokenCache.key('h2', 's1'))).toBe('c');
    // Dropped tokens are no longer handed out, but error text is still scrubbed of them.
    expect(cache.tokens().sort()).toEqual(['a', 'b', 'c']);
  });

  it('stays bounded when every call asks for a new scope (a repository per attestation)', async () => {
    const { cache, advance } = setup();
    let most = 0;
    for (let i = 0; i < 20_000; i++) {
      await cache.get(TokenCache.key('h', `repository:a-${i}:pull,push`), async () => ({ token: `t${i}`, expiresInMs: 300_000 }));
      most = Math.max(most, cache.size);
      advance(100); // 10 new scopes a second
    }
    // Live for 295 s and scrubbed for 600 s more: about 9,000 tokens at 10 a second, and at most twice that between sweeps.
    expect(most).toBeLessThanOrEqual(2 * 9_000 + 64);
    expect(cache.size).toBeGreaterThanOrEqual(8_900);
    advance(900_000);
    // The next insert after a quiet spell sweeps.
    await cache.get(TokenCache.key('h', 'last'), async () => ({ token: 'last' }));
    expect(cache.size).toBe(1);
  });

  it('scrubs a token for retainMs after it expired, replaced or not, then forgets it', async () => {
    const { cache, advance } = setup();
    const key = TokenCache.key('h', 's');
    await cache.get(key, async () => ({ token: 'old', expiresInMs: 60_000 }));
    advance(55_000);
    expect((await cache.get(key, async () => ({ token: 'new', expiresInMs: 60_000 }))).token).toBe('new');
    expect(cache.tokens().sort()).toEqual(['new', 'old']);
    advance(599_999);
    await cache.get(TokenCache.key('h', 'a'), async () => ({ token: 'a' }));
    expect(cache.tokens()).toContain('old');
    advance(60_000);
    await cache.get(TokenCache.key('h', 'b'), async () => ({ token: 'b' }));
    expect(cache.tokens()).not.toContain('old');
  });
});
