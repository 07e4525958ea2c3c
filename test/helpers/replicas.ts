/**
 * Approval-core replicas on real Redis and real BullMQ, each with its own connections (as a
 * gateway process has), sharing one key prefix, with an in-memory audit sink a caller can read;
 * and held run_job requests shaped like the pipeline builds them. No test runner needed, so the
 * benchmarks use the same replicas as the tests.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ApprovalService, type HoldInput } from '../../src/approvals/approval-service.js';
import type { ReleaseOutcome } from '../../src/approvals/ports.js';
import type { AuditEventInput, AuditSink } from '../../src/audit/types.js';
import { createLogger } from '../../src/log.js';
import { createRedis, waitForRedis } from '../../src/state/redis.js';
import { keyedArgumentsHash } from '../../src/state/arguments-hasher.js';
import { canonicalJson } from '../../src/util/canonical.js';

/** The key test holds are hashed with (a gateway's comes from AIRLOCK_HASH_SECRET or Redis). */
const testHashKey = Buffer.from('test-hash-key-0123456789abcdef0123456789', 'utf8');

export interface MemoryAudit extends AuditSink {
  events: AuditEventInput[];
}

export function memoryAudit(): MemoryAudit {
  const events: AuditEventInput[] = [];
  return {
    events,
    async append(event) {
      events.push(event);
    },
  };
}

export interface Replica {
  approvals: ApprovalService;
  audit: MemoryAudit;
  /** The replica's call-path connection (disconnect it to make the replica lose Redis). */
  redis: ReturnType<typeof createRedis>;
  close(): Promise<void>;
}

export interface ReplicaOptions {
  runWorkers?: boolean;
  retryValidityMs?: number;
  executionLeaseMs?: number;
  maxStoredResultBytes?: number;
}

export async function startApprovalReplica(redisUrl: string, prefix: string, options: ReplicaOptions = {}): Promise<Replica> {
  const log = createLogger({ level: 'silent' });
  const redis = createRedis(redisUrl, { name: 'test', mode: 'fail-fast', log });
  await waitForRedis(redis, 5_000);
  const audit = memoryAudit();
  const approvals = new ApprovalService({
    redis,
    redisUrl,
    prefix,
    log,
    audit,
    retryValidityMs: options.retryValidityMs ?? 60_000,
    runWorkers: options.runWorkers ?? true,
    ...(options.executionLeaseMs === undefined ? {} : { executionLeaseMs: options.executionLeaseMs }),
    ...(options.maxStoredResultBytes === undefined ? {} : { maxStoredResultBytes: options.maxStoredResultBytes }),
  });
  await approvals.start();
  return {
    approvals,
    audit,
    redis,
    close: async () => {
      await approvals.close(1_000);
      redis.disconnect();
    },
  };
}

/**
 * A held run_job like the pipeline builds it; override any field. `arguments` stands for the
 * call's full arguments: the hash and (unless given) the displayed arguments derive from it.
 */
export function runJobHold(
  overrides: Partial<Omit<HoldInput, 'settings'>> & { arguments?: Record<string, unknown>; settings?: Partial<HoldInput['settings']> } = {},
): HoldInput {
  const { settings, arguments: given, ...rest } = overrides;
  const args = given ?? { params: { job_id: 123, notebook_params: { env: 'prod', date: '2026-11-01' } } };
  return {
    agent: 'agent-a',
    sessionId: 'session-1',
    upstream: 'databricks',
    tool: 'run_job',
    displayArguments: args,
    argumentsHash: keyedArgumentsHash(testHashKey, canonicalJson(args)),
    policyVersion: 'test-policy',
    rule: 'tools.run_job',
    ...rest,
    settings: {
      approvers: ['U0APPROVER1', 'U0APPROVER2', 'U0APPROVER3'],
      quorum: 1,
      timeoutMs: 60_000,
      show: ['params.job_id', 'params.notebook_params'],
      allowSelfApproval: false,
      ...settings,
    },
  };
}

export const slackUser = (id: string) => ({ kind: 'slack' as const, id, name: id.toLowerCase() });

/** A Databricks-shaped run_job answer. */
export function runJobResult(runId: number): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify({ run_id: runId, number_in_job: 1 }) }] };
}

/**
 * Releases approval `id` as the held-call step would, with `release` standing in for the upstream
 * call; waits up to `waitMs` for another request's run of it.
 */
export async function releaseApproved(
  approvals: ApprovalService,
  id: string,
  release: () => Promise<CallToolResult>,
  options: { waitMs?: number; signal?: AbortSignal } = {},
): Promise<ReleaseOutcome> {
  const record = await approvals.get(id);
  if (!record) throw new Error(`no approval ${id}`);
  return approvals.releaseOnce(record, release, { waitMs: options.waitMs ?? 5_000, signal: options.signal ?? new AbortController().signal });
}

/** The i-th of a series of distinct held run_job calls (job ids from `jobIdBase`), for approver U0BENCH: what the approval benchmarks hold. */
export function numberedRunJobHold(i: number, jobIdBase: number): HoldInput {
  return runJobHold({
    agent: 'bench-agent',
    sessionId: 'bench-session',
    arguments: { params: { job_id: jobIdBase + i, notebook_params: { env: 'prod', run: String(i) } } },
    settings: { approvers: ['U0BENCH'], timeoutMs: 600_000 },
  });
}
