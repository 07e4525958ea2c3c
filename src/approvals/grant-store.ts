/**
 * Standing grants in Redis, private to the approvals core: one string key per grant whose TTL is
 * the grant's duration (so a grant outlives restarts and vanishes by itself), an index per
 * (agent, tool) that the call path reads in one script — one round trip per held call — and an
 * index of all grants for listing. Nothing is cached in a replica: every check reads Redis, so a
 * revocation (the key deleted) holds on every replica from the next call on.
 *
 * Keys are built inside the lookup script from a prefix, so this needs a single Redis (not Cluster).
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { GrantSchema, type Grant } from './grant-types.js';

/** The most grants looked at per (agent, tool) on one call; more live grants than this are refused at creation. */
export const maxGrantsPerCall = 100;

// Index entries whose grant expired or was revoked are pruned as they are met.
const lookupScript = `
-- KEYS[1] index of one (agent, tool). ARGV: grant key prefix, limit
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local g = redis.call('GET', ARGV[1] .. id)
  if g then table.insert(out, g) else redis.call('ZREM', KEYS[1], id) end
end
return out
`;

const createScript = `
-- KEYS[1] grant, KEYS[2] index of its (agent, tool), KEYS[3] index of all. ARGV: id, json, ttlMs, expiresAt, limit
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
`;

// The first revocation wins: a second one finds the key gone.
const revokeScript = `
-- KEYS[1] grant, KEYS[2] index of its (agent, tool), KEYS[3] index of all. ARGV: id
local removed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return removed
`;

const JsonList = z.array(z.string());

export class GrantStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private grantPrefix = () => `${this.prefix}grant:`;
  private grantKey = (id: string) => `${this.grantPrefix()}${id}`;
  private callIndexKey = (agent: string, tool: string) => `${this.prefix}grants:by-call:${encodeURIComponent(agent)}:${encodeURIComponent(tool)}`;
  private allKey = () => `${this.prefix}grants:all`;

  /** Stores a grant for `ttlMs`; false when its (agent, tool) already has `maxGrantsPerCall` grants. */
  async create(grant: Grant, ttlMs: number): Promise<boolean> {
    const created = await this.redis.eval(
      createScript,
      3,
      this.grantKey(grant.id),
      this.callIndexKey(grant.agent, grant.tool),
      this.allKey(),
      grant.id,
      JSON.stringify(grant),
      String(Math.max(1, Math.ceil(ttlMs))),
      String(grant.expiresAt),
      String(maxGrantsPerCall),
    );
    return created === 1;
  }

  /** Every stored grant of (agent, tool): one script, one round trip. Expiry is the caller's to judge (its clock). */
  async forCall(agent: string, tool: string): Promise<Grant[]> {
    const reply = JsonList.parse(await this.redis.eval(lookupScript, 1, this.callIndexKey(agent, tool), this.grantPrefix(), String(maxGrantsPerCall)));
    return reply.flatMap((json) => parseGrant(json));
  }

  async get(id: string): Promise<Grant | undefined> {
    const json = await this.redis.get(this.grantKey(id));
    return json === null ? undefined : parseGrant(json)[0];
  }

  /** Grants still stored, soonest to expire first. */
  async list(limit: number): Promise<Grant[]> {
    const ids = await this.redis.zrange(this.allKey(), 0, limit - 1);
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map(this.grantKey));
    const gone = ids.filter((_, i) => values[i] === null);
    if (gone.length > 0) await this.redis.zrem(this.allKey(), ...gone);
    return values.flatMap((json) => (json === null ? [] : parseGrant(json)));
  }

  /** Deletes a grant; false when it was already gone (expired, or revoked by someone else first). */
  async revoke(grant: Grant): Promise<boolean> {
    const removed = await this.redis.eval(revokeScript, 3, this.grantKey(grant.id), this.callIndexKey(grant.agent, grant.tool), this.allKey(), grant.id);
    return removed === 1;
  }
}

/** A stored grant read back; one that does not parse is ignored (it can only have been written by someone else). */
function parseGrant(json: string): Grant[] {
  try {
    const parsed = GrantSchema.safeParse(JSON.parse(json));
    return parsed.success ? [parsed.data] : [];
  } catch {
    return [];
  }
}
