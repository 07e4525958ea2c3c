/**
 * Prometheus metrics (prom-client), served at `GET /metrics`. Most counters follow from audit
 * events — every step of every call is audited, so counting at the audit sink counts every step
 * exactly once — plus upstream latency, pending approvals, delivery failures and Redis errors.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEventInput, AuditSink } from '../audit/types.js';

export class Metrics {
  readonly registry = new Registry();
  readonly toolCalls: Counter<'tool' | 'decision'>;
  readonly rateLimited: Counter<'tool' | 'counter'>;
  readonly approvals: Counter<'tool' | 'outcome'>;
  readonly timeToDecision: Histogram<'tool' | 'outcome'>;
  readonly upstreamLatency: Histogram<'upstream' | 'tool' | 'outcome'>;
  readonly deliveryFailures: Counter<'channel'>;
  readonly redisErrors: Counter<'connection'>;
  readonly auditWriteFailures: Counter;
  readonly pendingApprovals: Gauge;
  readonly outcomesAbandoned: Counter;
  readonly executions: Counter<'tool' | 'outcome'>;

  readonly callsInFlight: Gauge;

  constructor(options: { pendingApprovals: () => Promise<number>; callsInFlight?: () => number; pendingOutcomes?: () => number }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'airlock_', eventLoopMonitoringPrecision: 20 });
    this.toolCalls = new Counter({
      name: 'airlock_tool_calls_total',
      help: 'tools/call requests by tool and decision (allowed, denied, invalid_arguments, rate_limited, held)',
      labelNames: ['tool', 'decision'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'airlock_rate_limited_total',
      help: 'Calls refused by a rate limit, by tool and counter',
      labelNames: ['tool', 'counter'],
      registers,
    });
    this.approvals = new Counter({
      name: 'airlock_approvals_total',
      help: 'Held calls by outcome (approved, denied, expired, withdrawn)',
      labelNames: ['tool', 'outcome'],
      registers,
    });
    this.timeToDecision = new Histogram({
      name: 'airlock_approval_decision_seconds',
      help: 'Time from the approval request to its decision',
      labelNames: ['tool', 'outcome'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
      registers,
    });
    this.upstreamLatency = new Histogram({
      name: 'airlock_upstream_call_seconds',
      help: 'Upstream tools/call latency by upstream and tool',
      labelNames: ['upstream', 'tool', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.deliveryFailures = new Counter({
      name: 'airlock_channel_delivery_failures_total',
      help: 'Approval notifications a channel (Slack) could not deliver after all retries',
      labelNames: ['channel'],
      registers,
    });
    this.auditWriteFailures = new Counter({
      name: 'airlock_audit_write_failures_total',
      help: 'Audit events that could not be stored after retries (each is logged in full at error level)',
      registers,
    });
    this.outcomesAbandoned = new Counter({
      name: 'airlock_execution_outcomes_abandoned_total',
      help: 'Approved executions whose outcome record or executed event could not be written before Redis came back (each is logged in full at error level)',
      registers,
    });
    this.executions = new Counter({
      name: 'airlock_approved_executions_total',
      help: 'Released approved calls by outcome (success, tool_error, upstream_failure, outcome_unknown)',
      labelNames: ['tool', 'outcome'],
      registers,
    });
    new Gauge({
      name: 'airlock_execution_outcomes_pending',
      help: 'Execution outcomes this process has not fully written yet (held in memory until Redis is back during an outage)',
      registers,
      collect() {
        this.set(options.pendingOutcomes?.() ?? 0);
      },
    });
    this.redisErrors = new Counter({ name: 'airlock_redis_errors_total', help: 'Redis connection errors', labelNames: ['connection'], registers });
    this.callsInFlight = new Gauge({
      name: 'airlock_calls_in_flight',
      help: 'tools/call requests this process is working on (held ones included)',
      registers,
      collect() {
        this.set(options.callsInFlight?.() ?? 0);
      },
    });
    this.pendingApprovals = new Gauge({
      name: 'airlock_approvals_pending',
      help: 'Held calls waiting for a decision (all replicas)',
      registers,
      async collect() {
        try {
          this.set(await options.pendingApprovals());
        } catch {
          // Redis down: leave the last value; airlock_redis_errors_total tells the story.
        }
      },
    });
  }

  /** Counts what an audit event says happened. */
  observe(event: AuditEventInput): void {
    const tool = event.tool ?? '';
    switch (event.type) {
      case 'allowed':
      case 'denied':
      case 'invalid_arguments':
      case 'grant_used':
        this.toolCalls.inc({ tool, decision: event.type });
        return;
      case 'rate_limited':
        this.toolCalls.inc({ tool, decision: 'rate_limited' });
        this.rateLimited.inc({ tool, counter: typeof event.details?.['counter'] === 'string' ? event.details['counter'] : '' });
        return;
      case 'approval_requested':
        this.toolCalls.inc({ tool, decision: 'held' });
        return;
      case 'approved':
      case 'approval_denied':
      case 'expired':
      case 'withdrawn': {
        const outcome = event.type === 'approval_denied' ? 'denied' : event.type;
        this.approvals.inc({ tool, outcome });
        const decisionMs = event.latency?.decisionMs ?? event.latency?.heldMs;
        if (decisionMs !== undefined) this.timeToDecision.observe({ tool, outcome }, decisionMs / 1_000);
        return;
      }
      case 'executed':
      case 'outcome_unknown':
        this.executions.inc({ tool, outcome: event.type === 'executed' ? (event.outcome ?? 'success') : 'outcome_unknown' });
        return;
      default:
        return;
    }
  }
}

/** Wraps an audit sink so every appended event is also counted. */
export function meteredAuditSink(inner: AuditSink, metrics: Metrics): AuditSink {
  return {
    async append(event) {
      metrics.observe(event);
      await inner.append(event);
    },
  };
}
