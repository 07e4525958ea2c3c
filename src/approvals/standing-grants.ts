/**
 * Standing grants, behind the approvals core: made from an approved call when its approver asks
 * for one (bounded by what the policy allowed when the call was held), found by the call path in
 * one Redis round trip before a call is held, listed, and revoked by an approver or an admin.
 * Every step is audited: `grant_created`, `grant_revoked` here; `grant_used` by the call path,
 * which knows the outcome of the call the grant let through.
 */
import { randomBytes } from 'node:crypto';
import type { AuditEventInput, AuditSink } from '../audit/types.js';
import { AirlockError } from '../errors.js';
import { formatDurationMs } from '../util/duration.js';
import { isNamedApprover } from './authorize.js';
import { deciders } from './deciders.js';
import type { GrantStore } from './grant-store.js';
import { grantCovers, type Grant, type GrantQuery, type GrantRequest, type RevokeResult } from './grant-types.js';
import type { Actor, ApprovalRecord, ApproverDirectory } from './types.js';

export interface StandingGrantsDeps {
  store: GrantStore;
  audit: AuditSink;
  now: () => number;
  directory: () => ApproverDirectory | undefined;
}

/** What a valid grant request resolves to against its held call. */
export interface ResolvedGrant {
  durationMs: number;
  pins: NonNullable<ApprovalRecord['grantPins']>;
}

export class StandingGrants {
  constructor(private readonly deps: StandingGrantsDeps) {}

  /**
   * Checks a grant request against what the policy allowed for this held call; throws
   * `invalid_request` saying what to change. Called before the approval is recorded, so a bad
   * request approves nothing.
   */
  resolve(record: ApprovalRecord, request: GrantRequest): ResolvedGrant {
    const policy = record.settings.grants;
    if (policy === undefined || record.grantPins === undefined) {
      throw new AirlockError(
        'invalid_request',
        `The policy does not allow standing grants for ${record.tool} (rule ${record.rule}); approve this call once, without a grant.`,
      );
    }
    if (!Number.isFinite(request.durationMs) || request.durationMs < 1_000) {
      throw new AirlockError('invalid_request', 'A grant lasts at least 1 second; give a duration such as "15m" or "1h".');
    }
    if (request.durationMs > policy.maxDurationMs) {
      throw new AirlockError(
        'invalid_request',
        `A grant for ${record.tool} may last at most ${formatDurationMs(policy.maxDurationMs)} (policy approval.grants.max_duration); ask for ${formatDurationMs(policy.maxDurationMs)} or less.`,
      );
    }
    const wanted = request.pin ?? policy.pin;
    const unknown = wanted.filter((path) => !policy.pin.includes(path));
    if (unknown.length > 0) {
      throw new AirlockError(
        'invalid_request',
        `Cannot pin ${unknown.join(', ')}: the policy lets grants for ${record.tool} pin only ${policy.pin.length > 0 ? policy.pin.join(', ') : '(no paths)'}.`,
      );
    }
    const pins = record.grantPins.filter((pin) => wanted.includes(pin.path));
    return { durationMs: request.durationMs, pins };
  }

  /** Stores the grant an approver asked for with an approval that was just recorded, and audits it. */
  async create(record: ApprovalRecord, actor: Actor, resolved: ResolvedGrant, reason: string | undefined): Promise<Grant> {
    const createdAt = this.deps.now();
    const grant: Grant = {
      id: newGrantId(),
      agent: record.agent,
      upstream: record.upstream,
      tool: record.tool,
      pins: resolved.pins,
      createdAt,
      expiresAt: createdAt + resolved.durationMs,
      createdBy: actor,
      approvalId: record.id,
      ...(reason ? { reason } : {}),
      approvers: record.settings.approvers,
    };
    if (!(await this.deps.store.create(grant, resolved.durationMs))) {
      throw new AirlockError(
        'conflict',
        `Agent ${record.agent} already holds the most live grants allowed for ${record.tool}; the call was approved once, but no grant was made. Revoke some first.`,
      );
    }
    await this.audit({ type: 'grant_created', ...grantFields(grant), actor, ...(reason ? { reason } : {}), details: grantDetails(grant) });
    return grant;
  }

  /** The live grant covering this call, if any: one Redis round trip, no local cache. */
  async find(query: GrantQuery): Promise<Grant | undefined> {
    const now = this.deps.now();
    const grants = await this.deps.store.forCall(query.agent, query.tool);
    return grants.find((grant) => grantCovers(grant, query, now));
  }

  /** Live grants, soonest to expire first. */
  async list(limit: number): Promise<Grant[]> {
    const now = this.deps.now();
    return (await this.deps.store.list(limit)).filter((grant) => grant.expiresAt > now);
  }

  get(id: string): Promise<Grant | undefined> {
    return this.deps.store.get(id);
  }

  /** Revokes a grant at once on every replica (the next check reads Redis). Admins, its grantor and the policy's approvers may. */
  async revoke(id: string, actor: Actor, reason: string | undefined): Promise<RevokeResult> {
    const grant = await this.deps.store.get(id);
    if (!grant) return { kind: 'not_found' };
    const why = await this.refusal(actor, grant);
    if (why !== undefined) return { kind: 'not_authorized', grant, why };
    if (!(await this.deps.store.revoke(grant))) return { kind: 'not_found' };
    await this.audit({ type: 'grant_revoked', ...grantFields(grant), actor, ...(reason ? { reason } : {}), details: grantDetails(grant) });
    return { kind: 'revoked', grant };
  }

  private async refusal(actor: Actor, grant: Grant): Promise<string | undefined> {
    if (actor.kind === 'system') return 'the system does not revoke grants';
    if (deciders[actor.kind].trusted || actor.id === grant.createdBy.id) return undefined;
    if (await isNamedApprover(actor, grant.approvers, this.deps.directory())) return undefined;
    return `you are not an approver for ${grant.tool}`;
  }

  private async audit(event: AuditEventInput): Promise<void> {
    await this.deps.audit.append(event);
  }
}

function grantFields(grant: Grant): Partial<AuditEventInput> {
  return { agent: grant.agent, upstream: grant.upstream, tool: grant.tool, approvalId: grant.approvalId };
}

/** What the audit keeps about a grant: its id, pinned values as shown (redacted stays redacted) and its span. */
export function grantDetails(grant: Grant): Record<string, unknown> {
  return {
    grantId: grant.id,
    pins: grant.pins.map((pin) => ({ path: pin.path, ...(pin.shown === undefined ? {} : { value: pin.shown }) })),
    createdAt: new Date(grant.createdAt).toISOString(),
    expiresAt: new Date(grant.expiresAt).toISOString(),
  };
}

/** `grt_` + random: unguessable, short enough to read out loud. */
function newGrantId(): string {
  return `grt_${randomBytes(8).toString('hex')}`;
}
