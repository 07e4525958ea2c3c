/**
 * The path of one `tools/call` through the gateway, in order:
 *   resolve the tool → one canonical form of the arguments (RFC 8785, prototype-free, nesting
 *   bounded) → policy (deny / constraint checks) → the upstream's inputSchema → rate limits
 *   (Redis, before anything is queued) → forward (allow) or hold for approval.
 * Everything after the canonical step sees only the canonical copy: the policy judges it, its
 * keyed hash binds an approval, the audit records it, and it is what the upstream receives.
 * Each step either passes the call on or ends it with an answer the agent can act on, and every
 * ending is audited. The pipeline also counts calls in flight so shutdown can wait for them.
 *
 * `govern()` runs the same steps for the other governed requests — resources/read and subscribe
 * (policy section `resources`, by URI) and prompts/get (section `prompts`) — whose refusals are
 * JSON-RPC errors rather than tool results; `auditRelayed()` records the rest of what is relayed
 * (lists, filtered by policy; completions; logging levels).
 */
import { performance } from 'node:perf_hooks';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Grant } from '../approvals/grant-types.js';
import type { ApprovalCallPath } from '../approvals/ports.js';
import type { ApprovalRecord, Edit } from '../approvals/types.js';
import type { AuditEventInput, AuditSink } from '../audit/types.js';
import { AirlockError, isAirlockError } from '../errors.js';
import type { Agent } from '../identity/tokens.js';
import type { RateLimiter } from '../limits/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ConstraintViolation, ContextCall, Decision, SubjectKind } from '../policy/types.js';
import { classifyAnswer } from '../upstream/answer-outcome.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';
import type { ExposedTool, UpstreamPool } from '../upstream/upstream-pool.js';
import { canonicalArguments, canonicalJson, type CanonicalLimits, type JsonObject } from '../util/canonical.js';
import { parsePath, redactPaths } from '../util/paths.js';
import type { CallContext } from './call-context.js';
import { ContextFetcher } from './approval-context.js';
import { askClientToApprove, type ClientApprovalDeps } from './client-approval.js';
import { grantPins } from './grant-pins.js';
import { applyEdit, checkEditedCall, editNoLongerValid, withEditNote, type EditedCallDeps } from './edited-call.js';
import { runHeldCall, type HeldCallInput, type HeldCallOptions, type HeldOutcome } from './held-call.js';
import { rateLimitedError } from './refusals.js';
import { forwardToUpstream, type CanonicalCall } from './release.js';
import { agentFields, argumentsRejected, callFacts, invalidArguments, subjectLabel, type CallFacts } from './call-facts.js';
import { holdRequest } from './hold-request.js';
import { callErrorToResult, toolErrorResult } from './wire.js';

/** What the pipeline needs from the policy engine (adapted in gateway.ts). */
export interface PolicyPort {
  evaluate(agent: Agent, name: string, args: Record<string, unknown>, kind?: SubjectKind): Decision;
  /** Checks arguments against the upstream tool's own inputSchema. */
  validateInput(definition: Tool, args: Record<string, unknown>): ConstraintViolation[];
  /** Whether the agent could ever use the tool, resource or prompt (lists hide the rest). */
  isVisible(agent: Agent, name: string, kind?: SubjectKind): boolean;
}

/** A governed request other than tools/call. */
export interface GovernedRequest {
  kind: 'resource' | 'prompt';
  /** The MCP method, e.g. `resources/read`, `prompts/get`. */
  method: string;
  /** The resource URI, or the prompt name as agents see it. */
  name: string;
  upstream: UpstreamConnection;
  /** What policy conditions see: `{uri, operation}` for a resource, the prompt's arguments for a prompt. */
  args: Record<string, unknown>;
  /** Sends it upstream on the agent's own session. */
  forward(): Promise<Record<string, unknown>>;
}

/** How a held request's answer travels through the approvals core, which keeps tool-shaped results. */
const heldAnswerKey = 'airlock/answer';

/** The keyed argument hash (ArgumentsHasher): `hmac-sha256:<hex>` of canonical argument bytes. */
export interface ArgumentsHashPort {
  hash(canonicalArgumentsJson: string): Promise<string>;
}

export interface CallPipelineDeps {
  pool: UpstreamPool;
  hasher: ArgumentsHashPort;
  /** Edge limits for arguments (config `arguments.maxDepth`). */
  argumentLimits: CanonicalLimits;
  /** A held call's stored arguments must fit in this many bytes (config `approvals.maxArgumentsBytes`). */
  maxHeldArgumentsBytes: number;
  policy: PolicyPort;
  limiter: RateLimiter;
  approvals: ApprovalCallPath;
  /** Records the answer of the agent's own client (policy `approval.client`) like any channel's. */
  clientDecisions?: ClientApprovalDeps['approvals'];
  audit: AuditSink;
  held: Omit<HeldCallOptions, 'approvals'>;
  /** Default approval timeout when a policy gives none. */
  defaultApprovalTimeoutMs: number;
  /** Upstream latency by tool; decisions are counted from audit events. */
  metrics?: Metrics;
  log: Logger;
}

export class CallPipeline {
  private readonly deps: CallPipelineDeps;
  private inflight = 0;
  private drained: (() => void) | undefined;
  private draining = false;
  /** Aborted by drain(): calls waiting for approval answer "pending, retry" rather than hold up shutdown. */
  private readonly stopping = new AbortController();

  private readonly context: ContextFetcher;

  constructor(deps: CallPipelineDeps) {
    this.deps = deps;
    this.context = new ContextFetcher({ pool: deps.pool });
  }

  /**
   * The approvals core's EditCheck: whether an approver's edit of a held tool call (on the
   * arguments approvers see) passes as if the agent had made it; fails closed when the agent or
   * the tool cannot be found now.
   */
  async checkEdit(agent: Agent | undefined, record: ApprovalRecord, edited: Record<string, unknown>): Promise<{ ok: true } | { ok: false; why: string }> {
    if (!agent) return { ok: false, why: `agent "${record.agent}" is no longer configured, so the edited call cannot be checked` };
    const tool = this.deps.pool.resolveTool(record.tool);
    if (!tool)
      return {
        ok: false,
        why: `tool ${record.tool} is not available right now (its upstream is down), so the edited call cannot be checked against its schema; try again shortly`,
      };
    const verdict = checkEditedCall(this.editDeps(), agent, tool.definition, record, edited);
    return verdict.ok ? { ok: true } : verdict;
  }

  private editDeps(): EditedCallDeps {
    return { policy: this.deps.policy, argumentLimits: this.deps.argumentLimits };
  }

  /** Whether the agent's policy could ever let it use this resource or prompt (lists hide the rest). */
  isVisible(agent: Agent, name: string, kind: SubjectKind): boolean {
    return this.deps.policy.isVisible(agent, name, kind);
  }

  /** The tools this agent may see: the upstream catalog minus what its policy can never allow. */
  listTools(agent: Agent): Tool[] {
    return this.deps.pool.tools().filter((tool) => this.deps.policy.isVisible(agent, tool.name));
  }

  /** Runs one call to its end; never throws except to relay an upstream's own JSON-RPC error. */
  async callTool(ctx: CallContext, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
    if (this.draining) {
      const error = new AirlockError(
        'shutting_down',
        'The gateway is shutting down and takes no new calls; retry in a few seconds (another replica will answer).',
        {
          retryAfterSec: 5,
        },
      );
      return this.tracked(() => this.refused(ctx, name, args, error));
    }
    return this.tracked(() => this.run(ctx, name, args).catch((error: unknown) => this.refused(ctx, name, args, error)));
  }

  /**
   * A call that ended in a fault before anything was forwarded (upstream down, unknown tool, Redis
   * unreachable) is a refusal: audited as `refused` with its code, then answered. Faults of a call
   * that was forwarded are audited by the step that forwarded it.
   */
  private async refused(ctx: CallContext, name: string, args: Record<string, unknown>, error: unknown): Promise<CallToolResult> {
    if (isAirlockError(error) && refusalCodes.has(error.code) && !forwarded.has(error)) {
      const event = { ...agentFields(ctx), session: ctx.sessionId, tool: name, ...(await this.hashIfPossible(args)) };
      await this.record({ ...event, type: 'refused', reason: error.message, details: { code: error.code, ...error.details } });
    }
    return callErrorToResult(error, this.deps.log);
  }

  /** The keyed hash of arguments for a refusal's audit event, when they have a canonical form and the key is at hand. */
  private async hashIfPossible(args: Record<string, unknown>): Promise<{ argumentsHash?: string }> {
    const canonical = canonicalArguments(args, this.deps.argumentLimits);
    if (!canonical.ok) return {};
    try {
      return { argumentsHash: await this.deps.hasher.hash(canonical.json) };
    } catch {
      return {}; // the hash key lives in Redis, which may be the very fault being reported
    }
  }

  /** Counts `work` as in flight until it settles, so drain() waits for it. */
  private async tracked<T>(work: () => Promise<T>): Promise<T> {
    this.inflight += 1;
    try {
      return await work();
    } finally {
      this.inflight -= 1;
      if (this.inflight === 0) this.drained?.();
    }
  }

  private async run(ctx: CallContext, name: string, rawArgs: Record<string, unknown>): Promise<CallToolResult> {
    const started = Date.now();
    const tool = this.resolve(name);
    const canonical = canonicalArguments(rawArgs, this.deps.argumentLimits);
    if (!canonical.ok) {
      // Nothing about such arguments is stored but the reason: they cannot be hashed or shown safely.
      const { violation } = canonical;
      const who = { ...agentFields(ctx), session: ctx.sessionId, upstream: tool.upstream.name, tool: tool.name };
      await this.record({ ...who, type: 'invalid_arguments', reason: `${violation.path}: ${violation.problem}`, details: { violations: [violation] } });
      return toolErrorResult(argumentsRejected(name, [violation], { rule: 'arguments' }));
    }
    const args = canonical.value;
    const decision = this.deps.policy.evaluate(ctx.agent, name, args);
    const facts = callFacts(ctx, tool, args, decision, await this.deps.hasher.hash(canonical.json));
    this.recordShadow(decision, facts);
    if (decision.kind === 'deny') {
      await this.record({ ...facts, type: 'denied', reason: decision.reason });
      return toolErrorResult(
        new AirlockError(
          'policy_denied',
          `Blocked by Airlock policy (rule ${decision.rule.id}): ${decision.reason} Do not retry this call; it will be blocked again.`,
          {
            details: { rule: decision.rule.id, reason: decision.reason },
          },
        ),
      );
    }
    const violations = decision.kind === 'invalid_arguments' ? decision.violations : this.deps.policy.validateInput(tool.definition, args);
    if (violations.length > 0) {
      await this.record({ ...facts, type: 'invalid_arguments', details: { violations } });
      return toolErrorResult(invalidArguments(name, decision, violations));
    }
    if (decision.kind === 'invalid_arguments') throw new Error('unreachable: violations were reported above');

    const release = () => this.forward(ctx, tool, canonical);
    if (decision.kind === 'approve') {
      const editedRelease = (record: ApprovalRecord, edit: Edit) => {
        const verdict = checkEditedCall(this.editDeps(), ctx.agent, tool.definition, record, applyEdit(canonical.value, edit));
        if (!verdict.ok) return { refusal: editNoLongerValid(record, verdict.why) };
        const edited = verdict.call;
        return { release: async () => withEditNote(await this.forward(ctx, tool, edited), edit) };
      };
      const held = await this.holdAndWait(ctx, decision, facts, canonical, name, release, editedRelease);
      return 'result' in held ? held.result : toolErrorResult(held.refusal);
    }
    const refused = await this.checkLimits(ctx, decision, facts);
    if (refused) return toolErrorResult(refused);
    let result: CallToolResult | undefined;
    try {
      result = await release();
      return result;
    } finally {
      const outcome = result === undefined ? 'upstream_failure' : classifyAnswer(result);
      this.recordAfterAnswer({ ...facts, type: 'allowed', outcome, latency: { totalMs: Date.now() - started } });
    }
  }

  /**
   * The approve step: a held call over the size an approver can read is refused; else an identical
   * retry attaches to its approval (without counting against the limits again), a new call passes
   * the limits, then runs at once under a live standing grant that covers it (one Redis round
   * trip, only for tools whose policy allows grants) or is held; then wait for the decision and
   * release once.
   */
  private async holdAndWait(
    ctx: CallContext,
    decision: Extract<Decision, { kind: 'approve' }>,
    facts: CallFacts,
    canonical: { json: string; value: JsonObject },
    subject: string,
    release: () => Promise<CallToolResult>,
    editedRelease?: HeldCallInput['editedRelease'],
  ): Promise<HeldOutcome> {
    const tooBig = this.heldSizeViolation(decision, canonical.json, facts.arguments);
    if (tooBig) {
      await this.record({ ...facts, type: 'invalid_arguments', details: { violations: [tooBig] } });
      return { refusal: invalidArguments(subject, decision, [tooBig]) };
    }
    const live = await this.deps.approvals.find({ agent: ctx.agent.name, tool: facts.tool, argumentsHash: facts.argumentsHash });
    const refused = live ? undefined : await this.checkLimits(ctx, decision, facts);
    if (refused) return { refusal: refused };
    const grants = decision.approval.grants;
    const pins = grants && !live ? await grantPins(this.deps.hasher, canonical.value, grants.pin, facts.arguments) : undefined;
    if (!live && grants && pins) {
      const digests = Object.fromEntries(pins.map((pin) => [pin.path, pin.digest]));
      const grant = await this.deps.approvals.findGrant({ agent: ctx.agent.name, tool: facts.tool, digests, maxDurationMs: grants.maxDurationMs });
      if (grant) return { result: await this.runUnderGrant(grant, facts, release) };
    }
    const held = live
      ? { record: live, attached: true }
      : await this.deps.approvals.hold(holdRequest(ctx, decision, facts, pins, this.deps.defaultApprovalTimeoutMs));
    ctx.onHold?.();
    if (!held.attached && decision.approval.context.length > 0) this.fetchContext(ctx, decision.approval.context, canonical.value, held.record.id);
    const asking = this.askClient(ctx, held.record);
    try {
      return await runHeldCall(
        { approvals: this.deps.approvals, ...this.deps.held, stopping: this.stopping.signal },
        { ctx, record: held.record, release, ...(editedRelease ? { editedRelease } : {}) },
      );
    } finally {
      asking?.abort();
    }
  }

  /**
   * A shadow rule (`mode: "shadow"`) that would have decided this call is audited as `would_have`
   * — what it would have done beside what was enforced — and changes nothing else. Written without
   * waiting, like an allowed call's event, so trialling a rule adds no latency.
   */
  private recordShadow(decision: Decision, facts: Omit<AuditEventInput, 'type'>): void {
    const { shadow } = decision;
    if (shadow === undefined) return;
    this.recordAfterAnswer({
      ...facts,
      type: 'would_have',
      rule: shadow.rule.id,
      reason: shadow.reason,
      details: { wouldHave: shadow.action, enforced: decision.kind, enforcedRule: decision.rule.id, differs: shadow.action !== decision.kind },
    });
  }

  /** Asks the agent's own client while the call waits (policy `approval.client`); abort the returned controller to withdraw the question. */
  private askClient(ctx: CallContext, record: ApprovalRecord): AbortController | undefined {
    const decide = this.deps.clientDecisions;
    if (!decide || !record.settings.askClient || !ctx.elicit || !ctx.agent.owner || record.status !== 'pending') return undefined;
    const stop = new AbortController();
    void this.tracked(() => askClientToApprove({ approvals: decide, log: this.deps.log }, ctx, record, stop.signal));
    return stop;
  }

  /** Fetches the policy's context calls beside the hold (never before it), and stores their answers on the held call. */
  private fetchContext(ctx: CallContext, calls: readonly ContextCall[], args: JsonObject, approvalId: string): void {
    void this.tracked(async () => {
      try {
        const entries = await this.context.fetchAll(ctx, calls, args);
        await this.deps.approvals.attachContext(approvalId, entries);
      } catch (error) {
        this.deps.log.warn({ approval: approvalId, err: (error as Error).message }, 'context for approvers could not be stored');
      }
    });
  }

  /** Releases a call a live standing grant covers, without a hold; audited `grant_used` with the grant's id after the answer. */
  private async runUnderGrant(grant: Grant, facts: CallFacts, release: () => Promise<CallToolResult>): Promise<CallToolResult> {
    const started = Date.now();
    let result: CallToolResult | undefined;
    try {
      result = await release();
      return result;
    } finally {
      this.recordAfterAnswer({
        ...facts,
        type: 'grant_used',
        outcome: result === undefined ? 'upstream_failure' : classifyAnswer(result),
        latency: { totalMs: Date.now() - started },
        details: {
          grantId: grant.id,
          grantApprovalId: grant.approvalId,
          grantedBy: grant.createdBy.id,
          grantExpiresAt: new Date(grant.expiresAt).toISOString(),
        },
      });
    }
  }

  /**
   * Runs a governed request other than tools/call to its end: the same canonical form, policy (of
   * its section), limits, hold and audit as a tool call. Resolves with the upstream's answer;
   * a refusal is thrown as an AirlockError (the relay answers it as a JSON-RPC error).
   */
  async govern(ctx: CallContext, request: GovernedRequest): Promise<Record<string, unknown>> {
    if (this.draining) {
      throw new AirlockError('shutting_down', 'The gateway is shutting down and takes no new requests; retry in a few seconds (another replica will answer).', {
        retryAfterSec: 5,
      });
    }
    return this.tracked(() => this.runGoverned(ctx, request));
  }

  private async runGoverned(ctx: CallContext, request: GovernedRequest): Promise<Record<string, unknown>> {
    const started = Date.now();
    const subject = subjectLabel(request.kind, request.name);
    const who = { ...agentFields(ctx), session: ctx.sessionId, upstream: request.upstream.name, tool: subject };
    const canonical = canonicalArguments(request.args, this.deps.argumentLimits);
    if (!canonical.ok) {
      const { violation } = canonical;
      await this.record({ ...who, type: 'invalid_arguments', reason: `${violation.path}: ${violation.problem}`, details: { violations: [violation] } });
      throw argumentsRejected(subject, [violation], { rule: 'arguments' });
    }
    const decision = this.deps.policy.evaluate(ctx.agent, request.name, canonical.value, request.kind);
    const facts = {
      ...who,
      arguments: redactPaths(canonical.value, decision.redact.map(parsePath)),
      argumentsHash: await this.deps.hasher.hash(canonical.json),
      policyVersion: decision.policyVersion,
      rule: decision.rule.id,
    };
    this.recordShadow(decision, facts);
    if (decision.kind === 'deny') {
      await this.record({ ...facts, type: 'denied', reason: decision.reason });
      throw new AirlockError(
        'policy_denied',
        `Blocked by Airlock policy (rule ${decision.rule.id}): ${decision.reason} Do not retry this request; it will be blocked again.`,
        {
          details: { rule: decision.rule.id, reason: decision.reason },
        },
      );
    }
    if (decision.kind === 'invalid_arguments') {
      await this.record({ ...facts, type: 'invalid_arguments', details: { violations: decision.violations } });
      throw invalidArguments(subject, decision, decision.violations);
    }
    if (decision.kind === 'approve') {
      if (request.method === 'resources/subscribe') {
        // A subscription would deliver every later change unseen by anyone: reads are what approvers approve.
        const reason = `${request.name} needs a person's approval for each read, so it cannot be subscribed to. Read it with resources/read instead (each read is held for approval).`;
        await this.record({ ...facts, type: 'denied', reason });
        throw new AirlockError('policy_denied', reason, { details: { rule: decision.rule.id, reason } });
      }
      // The approvals core keeps tool-shaped results; a resource's or prompt's answer rides in _meta.
      const release = async (): Promise<CallToolResult> => {
        const answer = await request.forward();
        return { content: [{ type: 'text', text: `${request.method} answered` }], _meta: { [heldAnswerKey]: answer } };
      };
      const held = await this.holdAndWait(ctx, decision, facts, canonical, subject, release);
      if ('refusal' in held) throw held.refusal;
      const answer = held.result._meta?.[heldAnswerKey];
      if (answer === null || typeof answer !== 'object') {
        throw new AirlockError('conflict', `${subject} ran for its approval, but its answer is no longer kept whole; request it again to ask anew.`);
      }
      return answer as Record<string, unknown>; // what request.forward() resolved with, kept as it was
    }
    const refused = await this.checkLimits(ctx, decision, facts);
    if (refused) throw refused;
    let answered = false;
    try {
      const answer = await request.forward();
      answered = true;
      return answer;
    } finally {
      this.recordAfterAnswer({ ...facts, type: 'allowed', outcome: answered ? 'success' : 'upstream_failure', latency: { totalMs: Date.now() - started } });
    }
  }

  /**
   * Audits a relayed request that has no decision of its own beyond what the policy filtered:
   * lists (how many items the agent was shown of how many), completions, log levels. Written
   * after the answer, like an allowed call's event.
   */
  auditRelayed(ctx: Pick<CallContext, 'agent' | 'sessionId'>, event: { method: string; upstream?: string; details: Record<string, unknown> }): void {
    this.recordAfterAnswer({
      type: 'allowed',
      agent: ctx.agent.name,
      session: ctx.sessionId,
      ...(event.upstream ? { upstream: event.upstream } : {}),
      tool: event.method,
      outcome: 'success',
      details: event.details,
    });
  }

  /**
   * The rate-limit step: undefined when every limit admits the call, else the refusal (audited).
   * When Redis cannot be reached, fails closed unless the policy chose `on_state_error: "open"`.
   */
  private async checkLimits(
    ctx: CallContext,
    decision: Extract<Decision, { limits: unknown }>,
    facts: Omit<AuditEventInput, 'type'>,
  ): Promise<AirlockError | undefined> {
    if (decision.limits.length === 0) return undefined;
    try {
      const result = await this.deps.limiter.check(decision.limits, { agent: ctx.agent.name, sessionId: ctx.sessionId });
      if (result.admitted) return undefined;
      const error = rateLimitedError(result);
      await this.record({ ...facts, type: 'rate_limited', reason: error.message, details: error.details });
      return error;
    } catch (error) {
      if (decision.onStateError === 'open' && decision.kind === 'allow' && isAirlockError(error) && error.code === 'state_store_unavailable') {
        this.deps.log.warn(
          { tool: facts.tool, agent: ctx.agent.name },
          'rate limits unchecked: state store unavailable and the policy says on_state_error "open"',
        );
        return undefined;
      }
      throw error;
    }
  }

  /**
   * A held call is stored (job, record, audit) and shown to approvers in full, so its arguments
   * (as shown: redacted) must fit `approvals.maxArgumentsBytes`; a bigger one is refused rather
   * than approved by someone who could not read all of it.
   */
  private heldSizeViolation(decision: Decision, json: string, shown: unknown): ConstraintViolation | undefined {
    const max = this.deps.maxHeldArgumentsBytes;
    if (json.length <= max / 3) return undefined; // at most 3 UTF-8 bytes per UTF-16 unit: fits for sure
    const bytes = Buffer.byteLength(decision.redact.length === 0 ? json : canonicalJson(shown), 'utf8');
    if (bytes <= max) return undefined;
    return {
      path: '(arguments)',
      rule: `approvals.maxArgumentsBytes ${max}`,
      problem: `are ${bytes} bytes as JSON; a call that needs a person's approval must fit in ${max} bytes so the approver can read all of it. Split the work into smaller calls`,
    };
  }

  /** The release step, timed for the upstream-latency histogram. */
  private async forward(ctx: CallContext, tool: ExposedTool, args: CanonicalCall): Promise<CallToolResult> {
    const started = performance.now();
    let outcome = 'upstream_failure';
    try {
      const result = await forwardToUpstream(ctx, tool, args);
      outcome = classifyAnswer(result);
      return result;
    } catch (error) {
      if (error instanceof Error) forwarded.add(error);
      throw error;
    } finally {
      this.deps.metrics?.upstreamLatency.observe({ upstream: tool.upstream.name, tool: tool.name, outcome }, (performance.now() - started) / 1_000);
    }
  }

  private resolve(name: string): ExposedTool {
    const tool = this.deps.pool.resolveTool(name);
    if (tool) return tool;
    const upstream = this.deps.pool.upstreamForName(name);
    // The tool may well exist: its upstream is down or cannot start, so say that rather than "unknown tool".
    if (upstream && upstream.state !== 'connected') throw upstream.notConnectedError(`Tool "${name}"`);
    throw new AirlockError('unknown_tool', `Tool "${name}" does not exist on this gateway. Call tools/list to see the tools you can use.`, {
      details: { tool: name },
    });
  }

  /**
   * Writes an audit event. A failure does not change the agent's answer (the call has been
   * decided or has run): it is logged at error level with the whole (redacted) event, so the log
   * pipeline still has it, and counted in `airlock_audit_write_failures_total`.
   */
  private async record(event: AuditEventInput): Promise<void> {
    try {
      await this.deps.audit.append(event);
    } catch (error) {
      this.deps.metrics?.auditWriteFailures.inc();
      this.deps.log.error({ err: (error as Error).message, audit: event }, 'audit write failed; the event is in this log line');
    }
  }

  /**
   * The `allowed` event of a forwarded call is written after the answer: its outcome cannot
   * change the answer any more, so waiting for Redis would only add a round trip to every call.
   * It still counts as in flight, so a graceful shutdown waits for it.
   */
  private recordAfterAnswer(event: AuditEventInput): void {
    void this.tracked(() => this.record(event));
  }

  /** Stops taking calls and waits until those in flight end, or the deadline passes. */
  async drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    this.stopping.abort();
    if (this.inflight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deadlineMs);
      this.drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  get inflightCount(): number {
    return this.inflight;
  }
}

/** Errors thrown by a forwarded call: its own step audits them (not a refusal). */
const forwarded = new WeakSet<Error>();

/** Faults that end a call before anything is forwarded. */
const refusalCodes: ReadonlySet<string> = new Set(['unknown_tool', 'upstream_unavailable', 'state_store_unavailable', 'shutting_down']);
