/**
 * Held calls in Redis, private to the approvals core: one hash per approval, a vote set per
 * attempt and a vote log, an index by creation time, a dedup key per (agent, tool, arguments),
 * the kept result, an index of executions by lease deadline, and a stream of state changes that
 * waiters on every replica read. Every state change is one Lua script, so the first valid
 * decision wins atomically however many replicas race, an approved call is claimed by exactly one
 * of them, and a lease lapses exactly once. Leases use Redis's own clock (TIME), so replicas'
 * clocks never disagree about them. Data read back is parsed with zod before anyone trusts it.
 *
 * Keys are built inside some scripts from a prefix, so this needs a single Redis (not Cluster).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { ActorSchema, type Actor } from './deciders.js';
import {
  EditSchema,
  ExecutionSchema,
  ContextEntrySchema,
  HeldRequestSchema,
  PreviousApprovalSchema,
  VoteSchema,
  approvalStatuses,
  type ApprovalRecord,
  type ApprovalStatus,
  type Edit,
  type Execution,
  type ContextEntry,
  type HeldRequest,
  type PreviousApproval,
} from './types.js';

/** Terminal records (and their votes) are kept this long for the API, then expire; the audit keeps history. */
export const recordRetentionMs = 30 * 86_400_000;

/** How many state changes the events stream keeps (waiters read it live; this is slack for a slow reader). */
const eventsMaxLen = 10_000;

const redisNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

const publish = `local function publish(events, id, status)
  redis.call('XADD', events, 'MAXLEN', '~', ${eventsMaxLen}, '*', 'id', id, 'status', status)
end`;

// An identical call attaches to the approval while it is pending, approved, running, or while its
// outcome is kept: a retry then sees that state (and the kept result) instead of asking again.
const createScript = `
-- KEYS[1] dedup key, KEYS[2] record, KEYS[3] index
-- ARGV: recordPrefix, id, requestJson, createdAt, dedupTtlMs, indexCutoff
local existing = redis.call('GET', KEYS[1])
if existing then
  local st = redis.call('HGET', ARGV[1] .. existing, 'status')
  if st and st ~= 'denied' and st ~= 'expired' and st ~= 'withdrawn' then return {'attached', existing} end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
redis.call('HSET', KEYS[2], 'request', ARGV[3], 'status', 'pending', 'dedupKey', KEYS[1], 'attempt', '1')
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[6])
return {'created', ARGV[2]}
`;

// approve/deny decide a pending call; rerun votes (toward the same quorum) make a failed or
// outcome_unknown call approved again as the next attempt, with its old claim and result gone.
const decideScript = `
-- KEYS[1] record, KEYS[2] votes set of this attempt, KEYS[3] vote log, KEYS[4] result, KEYS[5] events
-- ARGV: id, actorJson, principal, verdict, reason, now, quorum, attempt, dedupTtlMs, editJson ('' for none)
${publish}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '1')
local rerun = ARGV[4] == 'rerun'
if rerun then
  if (status ~= 'failed' and status ~= 'outcome_unknown') or attempt + 1 ~= tonumber(ARGV[8]) then return {'already_decided'} end
elseif status ~= 'pending' then
  return {'already_decided'}
end
-- an edit comes with the first approval, never after someone approved the call as asked
if ARGV[10] ~= '' then
  if redis.call('SCARD', KEYS[2]) > 0 or redis.call('HEXISTS', KEYS[1], 'edit') == 1 then return {'edit_conflict'} end
  redis.call('HSET', KEYS[1], 'edit', ARGV[10])
end
local function finish(final)
  redis.call('HSET', KEYS[1], 'status', final, 'decidedBy', ARGV[2], 'decidedAt', ARGV[6], 'reason', ARGV[5])
  local dedup = redis.call('HGET', KEYS[1], 'dedupKey')
  if final == 'approved' then
    if rerun then
      redis.call('HSET', KEYS[1], 'attempt', tostring(attempt + 1))
      redis.call('HDEL', KEYS[1], 'execution', 'claimBy', 'claimAt', 'leaseUntil', 'unknownAt')
      redis.call('DEL', KEYS[4])
      -- the identical retry that brings the arguments again must still find this approval
      if dedup then
        local bound = redis.call('GET', dedup)
        if not bound or bound == ARGV[1] then redis.call('SET', dedup, ARGV[1], 'PX', ARGV[9]) end
      end
    end
  elseif dedup then
    redis.call('DEL', dedup)
  end
  publish(KEYS[5], ARGV[1], final)
end
if ARGV[4] == 'deny' then
  finish('denied')
  return {'decided'}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 1 then return {'duplicate_vote', redis.call('SCARD', KEYS[2])} end
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('RPUSH', KEYS[3], cjson.encode({actor = cjson.decode(ARGV[2]), principal = ARGV[3], at = tonumber(ARGV[6]), attempt = tonumber(ARGV[8])}))
local n = redis.call('SCARD', KEYS[2])
if n >= tonumber(ARGV[7]) then
  finish('approved')
  return {'decided', n}
end
return {'vote_recorded', n}
`;

const finalizeScript = `
-- KEYS[1] record, KEYS[2] events. ARGV: status (expired|withdrawn), actorJson, now, reason, id
${publish}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if status ~= 'pending' then return status end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'decidedBy', ARGV[2], 'decidedAt', ARGV[3], 'reason', ARGV[4])
local dedup = redis.call('HGET', KEYS[1], 'dedupKey')
if dedup then redis.call('DEL', dedup) end
publish(KEYS[2], ARGV[5], ARGV[1])
return 'ok'
`;

// A reminder or escalation step, recorded at most once and only while the call is pending.
const nudgeScript = `
-- KEYS[1] record. ARGV: field (reminded|escalated), index
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if status ~= 'pending' then return status end
local list = cjson.decode(redis.call('HGET', KEYS[1], ARGV[1]) or '[]')
local index = tonumber(ARGV[2])
for _, seen in ipairs(list) do if seen == index then return 'duplicate' end end
table.insert(list, index)
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(list))
return 'ok'
`;

// While a call runs and after it ran, its identical retry must find this approval (and never ask
// anew): the dedup key lives at least \`keepMs\` past the latest claim, renewal or outcome.
const keepDedup = `local function keepDedup(record, id, keepMs)
  local dedup = redis.call('HGET', record, 'dedupKey')
  if dedup and redis.call('GET', dedup) == id and redis.call('PTTL', dedup) < tonumber(keepMs) then redis.call('PEXPIRE', dedup, keepMs) end
end`;

const lapse = `local function lapse(record, executing, events, id, now, keepMs, retentionMs)
  redis.call('HSET', record, 'status', 'outcome_unknown', 'unknownAt', tostring(now))
  redis.call('ZREM', executing, id)
  keepDedup(record, id, keepMs)
  for _, key in ipairs({record, record .. ':votes', record .. ':votelog'}) do redis.call('PEXPIRE', key, retentionMs) end
  publish(events, id, 'outcome_unknown')
end`;

// Claims an approved call (exactly one caller wins). On a running call whose lease lapsed, marks
// it outcome_unknown right away (when the caller may judge leases), so a retry learns the truth
// at once instead of waiting.
const claimScript = `
-- KEYS[1] record, KEYS[2] executing index, KEYS[3] events. ARGV: claimant, leaseMs, id, keepMs, retentionMs, judge (1|0)
${redisNow}
${publish}
${keepDedup}
${lapse}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
if status == 'approved' then
  local lease = now + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'status', 'executing', 'claimBy', ARGV[1], 'claimAt', tostring(now), 'leaseUntil', tostring(lease))
  redis.call('ZADD', KEYS[2], lease, ARGV[3])
  keepDedup(KEYS[1], ARGV[3], tonumber(ARGV[4]) + tonumber(ARGV[2]))
  return {'claimed', redis.call('HGET', KEYS[1], 'attempt') or '1'}
end
if status == 'executing' then
  local lease = tonumber(redis.call('HGET', KEYS[1], 'leaseUntil') or '0')
  if lease <= now then
    if ARGV[6] ~= '1' then return {'executing', '0'} end
    lapse(KEYS[1], KEYS[2], KEYS[3], ARGV[3], now, ARGV[4], ARGV[5])
    return {'lapsed'}
  end
  return {'executing', tostring(lease - now)}
end
return {status}
`;

const renewScript = `
-- KEYS[1] record, KEYS[2] executing index. ARGV: claimant, leaseMs, id, keepMs
${redisNow}
${keepDedup}
if redis.call('HGET', KEYS[1], 'status') ~= 'executing' or redis.call('HGET', KEYS[1], 'claimBy') ~= ARGV[1] then return 0 end
local lease = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'leaseUntil', tostring(lease))
redis.call('ZADD', KEYS[2], lease, ARGV[3])
keepDedup(KEYS[1], ARGV[3], tonumber(ARGV[4]) + tonumber(ARGV[2]))
return 1
`;

// The claimant's outcome wins over a lapse it did not see coming (it lost Redis mid-call, then
// recorded late): the record then says what really happened. A re-run approved meanwhile
// replaced the claim, so a late outcome of an earlier attempt changes nothing.
const outcomeScript = `
-- KEYS[1] record, KEYS[2] votes, KEYS[3] vote log, KEYS[4] result, KEYS[5] executing index, KEYS[6] events
-- ARGV: claimant, status (executed|failed), executionJson, resultJson ('' for none), keepMs, retentionMs, id
${publish}
${keepDedup}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
if redis.call('HGET', KEYS[1], 'claimBy') ~= ARGV[1] then return {'superseded', status} end
if status ~= 'executing' and status ~= 'outcome_unknown' then return {'already', status} end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'execution', ARGV[3])
redis.call('HDEL', KEYS[1], 'leaseUntil')
redis.call('ZREM', KEYS[5], ARGV[7])
if ARGV[4] ~= '' then redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[5]) end
keepDedup(KEYS[1], ARGV[7], ARGV[5])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[6]) end
publish(KEYS[6], ARGV[7], ARGV[2])
return {'recorded', status}
`;

// Every replica runs this now and then: each running call whose lease lapsed (its claimant died
// or lost Redis) becomes outcome_unknown, once; the ids returned are this caller's to announce.
const sweepScript = `
-- KEYS[1] executing index, KEYS[2] events. ARGV: recordPrefix, limit, keepMs, retentionMs
${redisNow}
${publish}
${keepDedup}
${lapse}
local lapsed = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))) do
  local record = ARGV[1] .. id
  local lease = tonumber(redis.call('HGET', record, 'leaseUntil') or '0')
  if redis.call('HGET', record, 'status') ~= 'executing' then
    redis.call('ZREM', KEYS[1], id)
  elseif lease <= now then
    lapse(record, KEYS[1], KEYS[2], id, now, ARGV[3], ARGV[4])
    table.insert(lapsed, id)
  end
end
return lapsed
`;

export type CreateOutcome = { kind: 'created'; id: string } | { kind: 'attached'; id: string };
export type DecideOutcome =
  | { kind: 'not_found' }
  | { kind: 'already_decided' }
  /** An edit came after someone approved the call as asked (or after another edit). */
  | { kind: 'edit_conflict' }
  | { kind: 'duplicate_vote'; approvals: number }
  | { kind: 'vote_recorded'; approvals: number }
  | { kind: 'decided'; approvals: number };
export type ClaimOutcome =
  | { kind: 'claimed'; attempt: number }
  | { kind: 'executing'; leaseLeftMs: number }
  /** The running call's lease had lapsed: this call marked it outcome_unknown. */
  | { kind: 'lapsed' }
  | { kind: 'not_found' }
  | { kind: 'status'; status: ApprovalStatus };
export type OutcomeWrite =
  | { kind: 'recorded'; previous: ApprovalStatus }
  /** Written before (a retried write whose first answer was lost). */
  | { kind: 'already'; status: ApprovalStatus }
  /** A re-run replaced this claim: the record stays as it is. */
  | { kind: 'superseded'; status: ApprovalStatus }
  | { kind: 'not_found' };

const StatusSchema = z.enum(approvalStatuses);
const ActorJson = z
  .string()
  .transform((text) => JSON.parse(text) as unknown)
  .pipe(ActorSchema);
const ClaimReply = z.tuple([z.union([z.enum(['claimed', 'lapsed', 'not_found']), StatusSchema]), z.coerce.number().optional()]);
const OutcomeReply = z.union([z.tuple([z.enum(['recorded', 'already', 'superseded']), StatusSchema]), z.tuple([z.literal('not_found')])]);

export class ApprovalStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  private recordKey = (id: string) => `${this.prefix}approval:${id}`;
  /** The original approval's votes keep their old key; a re-run's votes get one per attempt. */
  private votesKey = (id: string, attempt = 1) => `${this.prefix}approval:${id}:votes${attempt > 1 ? `:${attempt}` : ''}`;
  private voteLogKey = (id: string) => `${this.prefix}approval:${id}:votelog`;
  private resultKey = (id: string) => `${this.prefix}approval:${id}:result`;
  private indexKey = () => `${this.prefix}approvals:index`;
  private executingKey = () => `${this.prefix}approvals:executing`;
  /** The stream of state changes (`id`, `status`) that waiters on every replica follow. */
  get eventsKey(): string {
    return `${this.prefix}approvals:events`;
  }

  /** The dedup key: the same agent asking the same tool with the same arguments. */
  private dedupKey(agent: string, tool: string, argumentsHash: string): string {
    return `${this.prefix}approval-dedup:${agent}:${tool}:${argumentsHash}`;
  }

  /** Creates the record, or returns the approval an identical earlier call is bound to. */
  async create(request: HeldRequest, dedupTtlMs: number): Promise<CreateOutcome> {
    const result = (await this.redis.eval(
      createScript,
      3,
      this.dedupKey(request.agent, request.tool, request.argumentsHash),
      this.recordKey(request.id),
      this.indexKey(),
      `${this.prefix}approval:`,
      request.id,
      JSON.stringify(request),
      String(request.createdAt),
      String(ms(dedupTtlMs)),
      String(request.createdAt - recordRetentionMs),
    )) as [string, string]; // the script always returns a two-element array of strings
    return { kind: result[0] === 'attached' ? 'attached' : 'created', id: result[1] };
  }

  /** The approval id an identical earlier call is bound to, if its dedup key is still there. */
  async boundId(agent: string, tool: string, argumentsHash: string): Promise<string | undefined> {
    return (await this.redis.get(this.dedupKey(agent, tool, argumentsHash))) ?? undefined;
  }

  /**
   * Records a decision or a vote. `attempt` is the execution being approved: 1 for a pending
   * call, the record's attempt + 1 for a re-run (a stale value is told `already_decided`).
   */
  async decide(
    id: string,
    vote: { actor: Actor; principal: string; verdict: 'approve' | 'deny' | 'rerun'; reason: string | undefined; now: number },
    quorum: number,
    attempt: number,
    rerunTtlMs: number,
    edit?: Edit,
  ): Promise<DecideOutcome> {
    const result = (await this.redis.eval(
      decideScript,
      5,
      this.recordKey(id),
      this.votesKey(id, attempt),
      this.voteLogKey(id),
      this.resultKey(id),
      this.eventsKey,
      id,
      JSON.stringify(vote.actor),
      vote.principal,
      vote.verdict,
      vote.reason ?? '',
      String(vote.now),
      String(quorum),
      String(attempt),
      String(ms(rerunTtlMs)),
      edit ? JSON.stringify(edit) : '',
    )) as [string, number?]; // kind, then the approval count where there is one
    const [kind, count = 0] = result;
    switch (kind) {
      case 'not_found':
      case 'already_decided':
      case 'edit_conflict':
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
    const result = (await this.redis.eval(
      finalizeScript,
      2,
      this.recordKey(id),
      this.eventsKey,
      status,
      JSON.stringify(actor),
      String(now),
      reason,
      id,
    )) as string;
    return result === 'ok' || result === 'not_found' ? result : StatusSchema.parse(result);
  }

  /**
   * Claims an approved call for execution under a lease of `leaseMs`; exactly one caller ever gets
   * 'claimed'. `keepMs`: how long identical retries must still find the approval afterwards.
   * `judgeLeases` false: a lapsed lease is reported as `executing` with 0 ms left, not marked.
   */
  async claim(id: string, claimant: string, leaseMs: number, keepMs: number, judgeLeases = true): Promise<ClaimOutcome> {
    const reply = ClaimReply.parse(
      await this.redis.eval(
        claimScript,
        3,
        this.recordKey(id),
        this.executingKey(),
        this.eventsKey,
        claimant,
        String(ms(leaseMs)),
        id,
        String(ms(keepMs)),
        String(recordRetentionMs),
        judgeLeases ? '1' : '0',
      ),
    );
    const [kind, value = 0] = reply;
    switch (kind) {
      case 'claimed':
        return { kind, attempt: value };
      case 'executing':
        return { kind, leaseLeftMs: value };
      case 'lapsed':
      case 'not_found':
        return { kind };
      default:
        return { kind: 'status', status: kind };
    }
  }

  /** Extends the claimant's lease; false when the claim is no longer its own (lapsed, or replaced by a re-run). */
  async renew(id: string, claimant: string, leaseMs: number, keepMs: number): Promise<boolean> {
    return (await this.redis.eval(renewScript, 2, this.recordKey(id), this.executingKey(), claimant, String(ms(leaseMs)), id, String(ms(keepMs)))) === 1;
  }

  /**
   * Records the claimant's outcome (`executed` with the result to keep, or `failed`), keeps the
   * result and the dedup key for `keepMs`, and schedules the record for expiry. Idempotent.
   */
  async recordOutcome(
    id: string,
    claimant: string,
    outcome: { status: 'executed' | 'failed'; execution: Execution; resultJson: string | undefined },
    keepMs: number,
  ): Promise<OutcomeWrite> {
    const reply = OutcomeReply.parse(
      await this.redis.eval(
        outcomeScript,
        6,
        this.recordKey(id),
        this.votesKey(id),
        this.voteLogKey(id),
        this.resultKey(id),
        this.executingKey(),
        this.eventsKey,
        claimant,
        outcome.status,
        JSON.stringify(outcome.execution),
        outcome.resultJson ?? '',
        String(ms(keepMs)),
        String(recordRetentionMs),
        id,
      ),
    );
    if (reply[0] === 'not_found') return { kind: 'not_found' };
    return reply[0] === 'recorded' ? { kind: 'recorded', previous: reply[1] } : { kind: reply[0], status: reply[1] };
  }

  /** Marks running calls whose lease lapsed as outcome_unknown; returns the ids this call marked. */
  async sweepLapsed(keepMs: number, limit = 100): Promise<string[]> {
    const ids = (await this.redis.eval(
      sweepScript,
      2,
      this.executingKey(),
      this.eventsKey,
      `${this.prefix}approval:`,
      String(limit),
      String(ms(keepMs)),
      String(recordRetentionMs),
    )) as string[]; // the script returns a list of ids
    return ids;
  }

  /** Where the last approval of a tool (with given pinned values) is remembered. */
  private lastApprovedKey(tool: string, pins: HeldRequest['grantPins']): string {
    const pinned = (pins ?? []).map((pin) => `${pin.path}=${pin.digest}`).join('&');
    const suffix = pinned === '' ? '' : `:${createHash('sha256').update(pinned).digest('hex').slice(0, 32)}`;
    return `${this.prefix}approvals:last:${encodeURIComponent(tool)}${suffix}`;
  }

  /** Remembers an approved call as the last of its tool and pinned values (kept as long as records are). */
  async setLastApproved(record: ApprovalRecord): Promise<void> {
    const previous: PreviousApproval = {
      approvalId: record.id,
      decidedAt: record.decidedAt ?? 0,
      ...(record.decidedBy ? { decidedBy: record.decidedBy } : {}),
      agent: record.agent,
      displayArguments: record.displayArguments,
    };
    await this.redis.set(this.lastApprovedKey(record.tool, record.grantPins), JSON.stringify(previous), 'PX', recordRetentionMs);
  }

  /** The last approved call of a tool with these pinned values, if one is remembered (a value that does not parse counts as none). */
  async lastApproved(tool: string, pins: HeldRequest['grantPins']): Promise<PreviousApproval | undefined> {
    const json = await this.redis.get(this.lastApprovedKey(tool, pins));
    if (json === null) return undefined;
    try {
      const parsed = PreviousApprovalSchema.safeParse(JSON.parse(json));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /** The kept result of the last execution (JSON text), if it is still kept. */
  async result(id: string): Promise<string | undefined> {
    return (await this.redis.get(this.resultKey(id))) ?? undefined;
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

  /** Stores the context calls' answers on a record that still exists. */
  async setContext(id: string, entries: ContextEntry[]): Promise<boolean> {
    const stored = await this.redis.eval(
      "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end redis.call('HSET', KEYS[1], 'context', ARGV[1]) return 1",
      1,
      this.recordKey(id),
      JSON.stringify(entries),
    );
    return stored === 1;
  }

  /**
   * Records that reminder or escalation step `index` happened, only while the call is still
   * pending and only once: `ok` for the one caller that recorded it, `duplicate` for a repeat,
   * else the status that ended it (a decision ends every reminder and escalation).
   */
  async recordNudge(id: string, kind: 'reminded' | 'escalated', index: number): Promise<'ok' | 'duplicate' | 'not_found' | ApprovalStatus> {
    const reply = String(await this.redis.eval(nudgeScript, 1, this.recordKey(id), kind, String(index)));
    return reply === 'ok' || reply === 'duplicate' || reply === 'not_found' ? reply : StatusSchema.parse(reply);
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

function ms(value: number): number {
  return Math.max(1, Math.round(value));
}

function pairs(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]); // i+1 < length
  return out;
}

function numberField(hash: Record<string, string>, key: string): number | undefined {
  const text = hash[key];
  return text === undefined || text === '' ? undefined : Number(text);
}

const IndexList = z.array(z.number().int().min(0));

/** A list of step indexes written by the nudge script (absent: none). */
function indexList(text: string | undefined): number[] {
  return text ? IndexList.parse(JSON.parse(text)) : [];
}

function parseRecord(hash: Record<string, string>, votes: string[]): ApprovalRecord | undefined {
  if (!hash['request']) return undefined;
  const request = HeldRequestSchema.parse(JSON.parse(hash['request']));
  const channelRefs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(hash)) if (key.startsWith('ref:')) channelRefs[key.slice(4)] = JSON.parse(value) as unknown;
  const claimBy = hash['claimBy'];
  return {
    ...request,
    status: StatusSchema.parse(hash['status']),
    votes: votes.map((v) => VoteSchema.parse(JSON.parse(v))),
    decidedBy: hash['decidedBy'] ? ActorJson.parse(hash['decidedBy']) : undefined,
    decidedAt: numberField(hash, 'decidedAt'),
    reason: hash['reason'] ? hash['reason'] : undefined,
    attempt: numberField(hash, 'attempt') ?? 1,
    claim: claimBy ? { by: claimBy, at: numberField(hash, 'claimAt') ?? 0, leaseUntil: numberField(hash, 'leaseUntil') } : undefined,
    unknownAt: numberField(hash, 'unknownAt'),
    execution: hash['execution'] ? ExecutionSchema.parse(JSON.parse(hash['execution'])) : undefined,
    channelRefs,
    context: hash['context'] ? z.array(ContextEntrySchema).parse(JSON.parse(hash['context'])) : undefined,
    edit: hash['edit'] ? EditSchema.parse(JSON.parse(hash['edit'])) : undefined,
    reminded: indexList(hash['reminded']),
    escalated: indexList(hash['escalated']),
  };
}
