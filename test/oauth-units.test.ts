/**
 * The small parts of OAuth sign-in, alone: the verified-token cache (bounded, each entry until its
 * token's expiry), reading mapping facts from the claims the major IdPs send, and first-match
 * mapping to agents.
 */
import { describe, expect, it } from 'vitest';
import { describeFacts, mapToAgent, tokenFacts } from '../src/identity/claims-mapping.js';
import { TokenCache } from '../src/identity/token-cache.js';

describe('the verified-token cache', () => {
  it('keeps an entry until its expiry, never past it', () => {
    let now = 1_000;
    const cache = new TokenCache<string>(10, () => now);
    cache.set('t1', 'agent-a', 2_000);
    expect(cache.get('t1')).toBe('agent-a');
    now = 2_000;
    expect(cache.get('t1')).toBeUndefined();
    cache.set('t2', 'agent-a', 1_500); // already lapsed: not kept
    expect(cache.size).toBe(0);
  });

  it('is bounded: the oldest entry goes first, and a zero-size cache keeps nothing', () => {
    const cache = new TokenCache<number>(2, () => 0);
    cache.set('a', 1, 10);
    cache.set('b', 2, 10);
    cache.set('c', 3, 10);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([undefined, 2, 3]);
    const none = new TokenCache<number>(0, () => 0);
    none.set('a', 1, 10);
    expect(none.get('a')).toBeUndefined();
  });
});

describe('claims → agent', () => {
  it('reads the client from client_id, azp (Keycloak, Entra v2), cid (Okta) or appid (Entra v1)', () => {
    expect(tokenFacts({ client_id: 'a', azp: 'b' }, 'groups').clientId).toBe('a');
    expect(tokenFacts({ azp: 'b' }, 'groups').clientId).toBe('b');
    expect(tokenFacts({ cid: 'c' }, 'groups').clientId).toBe('c');
    expect(tokenFacts({ appid: 'd' }, 'groups').clientId).toBe('d');
  });

  it('reads groups by dotted path (Keycloak realm roles) and scopes from scope or scp', () => {
    const facts = tokenFacts({ sub: 'u1', realm_access: { roles: ['ops', 7, 'eng'] }, scp: ['mcp.read'] }, 'realm_access.roles');
    expect(facts).toMatchObject({ sub: 'u1', groups: ['ops', 'eng'], scopes: ['mcp.read'] });
    expect(tokenFacts({ scope: 'a b' }, 'groups').scopes).toEqual(['a', 'b']);
  });

  it('maps by the first matching entry, and describes what an unmapped token carried', () => {
    const mappings = [
      { match: { group: 'ops' }, agent: 'ops-bot' },
      { match: { sub: 'u1' }, agent: 'personal' },
    ];
    const facts = tokenFacts({ sub: 'u1', groups: ['ops'] }, 'groups');
    expect(mapToAgent(facts, mappings)).toBe('ops-bot');
    expect(mapToAgent(tokenFacts({ sub: 'u2', groups: ['eng'] }, 'groups'), mappings)).toBeUndefined();
    expect(describeFacts(tokenFacts({ sub: 'u2', groups: ['eng'] }, 'groups'), 'groups')).toBe('client_id (none), sub "u2", groups ["eng"]');
  });
});
