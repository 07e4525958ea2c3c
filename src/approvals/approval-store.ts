/**
 * Held calls in Redis: one hash per approval, a vote set and log, an index by creation time, and
 * a dedup key per (agent, tool, arguments). Every state change is one Lua script, so the first
 * valid decision wins atomically however many replicas race, and an approved call is claimed for
 * execution exactly once. Data read back is parsed with zod before anyone trusts it.
 *
 * Keys are built inside the scripts from a prefix, so this needs a single Redis (not Cluster).
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  ExecutionSchema,
  HeldRequestSchema,
  VoteSchema,
  approvalStatuses,
  type Actor,
  type ApprovalRecord,
  type ApprovalStatus,
  type Execution,
  type HeldRequest,
} from './types.js';

/** Terminal records (and their votes) are kept this long for the API, then expire; the audit keeps history. */
export const recordRetentionMs = 30 * 86_400_000;

const createScript = `
-- KEYS[1] dedup key, KEYS[2] record, KEYS[3] votes set, KEYS[4] vote log, KEYS[5] index
-- ARGV: recordPrefix, id, requestJson, createdAt, dedupTtlMs, indexCutoff
local existing = redis.call('GET', KEYS[1])
if existing then
  local st = redis.call('HGET', ARGV[1] .. existing, 'status')
  local executed = redis.call('HEXISTS', ARGV[1] .. existing, 'execution')
  if st == 'pending' or (st == 'approved' and executed == 0) then return {'attached', existing} end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
redis.call('HSET', KEYS[2], 'request', ARGV[3], 'status', 'pending', 'dedupKey', KEYS[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', ARGV[6])
return {'created', ARGV[2]}
`;

const decideScript = `
-- KEYS[1] record, KEYS[2] votes set, KEYS[3] vote log
-- ARGV: actorId, actorJson, verdict, reason, now, quorum, retentionMs
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
if status ~= 'pending' then return {'already_decided'} end
local function finish(final)
  redis.call('HSET', KEYS[1], 'status', final, 'decidedBy', ARGV[2], 'decidedAt', ARGV[5], 'reason', ARGV[4])
  if final ~= 'approved' then
    local dedup = redis.call('HGET', KEYS[1], 'dedupKey')
    if dedup then redis.call('DEL', dedup) end
  end
end
if ARGV[3] == 'deny' then
  finish('denied')
  return {'decided'}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return {'duplicate_vote', redis.call('SCARD', KEYS[2])} end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], cjson.encode({actor = cjson.decode(ARGV[2]), at = tonumber(ARGV[5])}))
local n = redis.call('SCARD', KEYS[2])
if n >= tonumber(ARGV[6]) then
  finish('approved')
  return {'decided', n}
end
return {'vote_recorded', n}
`;

const finalizeScript = `
-- KEYS[1] record. ARGV: status (expired|withdrawn), actorJson, now, reason
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if status ~= 'pending' then return status end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'decidedBy', ARGV[2], 'decidedAt', ARGV[3], 'reason', ARGV[4])
local dedup = redis.call('HGET', KEYS[1], 'dedupKey')
if dedup then redis.call('DEL', dedup) end
return 'ok'
`;

const claimScript = `
-- KEYS[1] record. ARGV: claimant
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if status ~= 'approved' then return status end
if redis.call('HSETNX', KEYS[1], 'execClaim', ARGV[1]) == 1 then return 'claimed' end
return 'taken'
`;

const executedScript = `
-- KEYS[1] record, KEYS[2] votes, KEYS[3] vote log, KEYS[4] result. ARGV: executionJson, resultJson, resultTtlMs, retentionMs
redis.call('HSET', KEYS[1], 'execution', ARGV[1])
redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[3])
local dedup = redis.call('HGET', KEYS[1], 'dedupKey')
if dedup then redis.call('DEL', dedup) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 'ok'
`;

export type CreateOutcome = { kind: 'created'; id: string } | { kind: 'attached'; id: string };
export type DecideOutcome =
  | { kind: 'not_found' }
  | { kind: 'already_decided' }
  | { kind: 'duplicate_vote'; approvals: number }
  | { kind: 'vote_recorded'; approvals: number }
  | { kind: 'decided'; approvals: number };
export type ClaimOutcome = 'claimed' | 'taken' | 'not_found' | ApprovalStatus;

const ActorJson = z
  .string()
  .transform((text) => JSON.parse(text) as unknown)
  .pipe(z.object({ kind: z.enum(['slack', 'admin', 'dashboard', 'cli', 'system']), id: z.string(), name: z.string().optional() }));

export class ApprovalStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  private recordKey = (id: string) => `${this.prefix}approval:${id}`;
  private votesKey = (id: string) => `${this.prefix}approval:${id}:votes`;
  private voteLogKey = (id: string) => `${this.prefix}approval:${id}:votelog`;
  private resultKey = (id: string) => `${this.prefix}approval:${id}:result`;
  private indexKey = () => `${this.prefix}approvals:index`;

  /** The dedup key: the same agent asking the same tool with the same arguments. */
  dedupKey(agent: string, tool: string, argumentsHash: string): string {
    return `${this.prefix}approval-dedup:${agent}:${tool}:${argumentsHash}`;
  }

  /** Creates the record, or returns the live approval an identical earlier call is waiting on. */
  async create(request: HeldRequest, dedupTtlMs: number): Promise<CreateOutcome> {
    const result = (await this.redis.eval(
      createScript,
      5,
      this.dedupKey(request.agent, request.tool, request.argumentsHash),
      this.recordKey(request.id),
      this.votesKey(request.id),
      this.voteLogKey(request.id),
      this.indexKey(),
      `${this.prefix}approval:`,
      request.id,
      JSON.stringify(request),
      String(request.createdAt),
      String(Math.max(1, Math.round(dedupTtlMs))),
      String(request.createdAt - recordRetentionMs),
    )) as [string, string]; // the script always returns a two-element array of strings
    return { kind: result[0] === 'attached' ? 'attached' : 'created', id: result[1] };
  }

  async decide(id: string, actor: Actor, verdict: 'approve' | 'deny', reason: string | undefined, now: number, quorum: number): Promise<DecideOutcome> {
    const result = (await this.redis.eval(
      decideScript,
      3,
      this.recordKey(id),
      this.votesKey(id),
      this.voteLogKey(id),
      actor.id,
      JSON.stringify(actor),
      verdict,
      reason ?? '',
      String(now),
      String(quorum),
      String(recordRetentionMs),
    )) as [string, number?]; // kind, then the approval count where there is one
    const [kind, count = 0] = result;
    switch (kind) {
      case 'not_found':
        return { kind };
      case 'already_decided':
        return { kind };
      case 'duplicate_vote':
      case 'vote_recorded':
      case 'decided':
        return { kind, approvals: Number(count) };
      default:
        throw new Error(`unexpected decide result ${kind}`);
    }
  }

  /** Ends a pending approval as expired or withdrawn; returns 'ok' or the status it already had. */
  async finalize(id: string, status: 'expired' | 'withdrawn', actor: Actor, now: number, reason: string): Promise<'ok' | 'not_found' | ApprovalStatus> {
    const result = (await this.redis.eval(finalizeScript, 1, this.recordKey(id), status, JSON.stringify(actor), String(now), reason)) as string;
    return result as 'ok' | 'not_found' | ApprovalStatus; // the script returns only these values
  }

  /** Claims an approved call for execution; exactly one caller ever gets 'claimed'. */
  async claimExecution(id: string, claimant: string): Promise<ClaimOutcome> {
    return (await this.redis.eval(claimScript, 1, this.recordKey(id), claimant)) as ClaimOutcome; // script returns only these
  }

  /** Records the execution outcome and keeps the result for identical retries within `resultTtlMs`. */
  async recordExecution(id: string, execution: Execution, result: unknown, resultTtlMs: number): Promise<void> {
    await this.redis.eval(
      executedScript,
      4,
      this.recordKey(id),
      this.votesKey(id),
      this.voteLogKey(id),
      this.resultKey(id),
      JSON.stringify(execution),
      JSON.stringify(result),
      String(Math.max(1, Math.round(resultTtlMs))),
      String(recordRetentionMs),
    );
  }

  /** The released result an identical retry collects, if it is still kept. */
  async result(id: string): Promise<unknown> {
    const text = await this.redis.get(this.resultKey(id));
    return text === null ? undefined : (JSON.parse(text) as unknown);
  }

  /** Marks terminal records for expiry once channels and waiters are done with them. */
  async expireTerminal(id: string): Promise<void> {
    await this.redis
      .multi()
      .pexpire(this.recordKey(id), recordRetentionMs)
      .pexpire(this.votesKey(id), recordRetentionMs)
      .pexpire(this.voteLogKey(id), recordRetentionMs)
      .exec();
  }

  async setChannelRef(id: string, channel: string, ref: unknown): Promise<void> {
    await this.redis.hset(this.recordKey(id), `ref:${channel}`, JSON.stringify(ref));
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const [[, hash], [, votes]] = (await this.redis.multi().hgetall(this.recordKey(id)).lrange(this.voteLogKey(id), 0, -1).exec()) as [
      [unknown, Record<string, string>],
      [unknown, string[]],
    ]; // MULTI returns one [error, reply] pair per queued command, in order
    return parseRecord(hash, votes);
  }

  /** Newest first; `status` filters; reads at most `limit` records. */
  async list(options: { status?: ApprovalStatus; limit: number; before?: number }): Promise<ApprovalRecord[]> {
    const out: ApprovalRecord[] = [];
    let max = options.before === undefined ? '+inf' : `(${options.before}`;
    const page = Math.max(50, options.limit);
    while (out.length < options.limit) {
      const ids = await this.redis.zrevrangebyscore(this.indexKey(), max, '-inf', 'WITHSCORES', 'LIMIT', 0, page);
      if (ids.length === 0) break;
      const records = await Promise.all(pairs(ids).map(([id]) => this.get(id)));
      for (const record of records) {
        if (record && (options.status === undefined || record.status === options.status)) out.push(record);
        if (out.length >= options.limit) break;
      }
      const last = ids.at(-1);
      if (ids.length < page * 2 || last === undefined) break;
      max = `(${last}`;
    }
    return out;
  }
}

function pairs(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]); // i+1 < length
  return out;
}

const StatusSchema = z.enum(approvalStatuses);

function parseRecord(hash: Record<string, string>, votes: string[]): ApprovalRecord | undefined {
  if (!hash['request']) return undefined;
  const request = HeldRequestSchema.parse(JSON.parse(hash['request']));
  const channelRefs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(hash)) if (key.startsWith('ref:')) channelRefs[key.slice(4)] = JSON.parse(value) as unknown;
  return {
    ...request,
    status: StatusSchema.parse(hash['status']),
    votes: votes.map((v) => VoteSchema.parse(JSON.parse(v))),
    decidedBy: hash['decidedBy'] ? ActorJson.parse(hash['decidedBy']) : undefined,
    decidedAt: hash['decidedAt'] ? Number(hash['decidedAt']) : undefined,
    reason: hash['reason'] ? hash['reason'] : undefined,
    execution: hash['execution'] ? ExecutionSchema.parse(JSON.parse(hash['execution'])) : undefined,
    channelRefs,
  };
}
