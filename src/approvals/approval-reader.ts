/**
 * Access to held calls and standing grants without the queue machinery: what `airlock approvals list` and
 * `show` need, loaded in a fraction of the approvals service's start-up (no BullMQ). Reads go
 * through the same store and the same state-store fault mapping as the service's own.
 */
import type { AuditSink } from '../audit/types.js';
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { ApprovalStore } from './approval-store.js';
import { GrantStore } from './grant-store.js';
import type { ApprovalChannels } from './ports.js';
import { StandingGrants } from './standing-grants.js';

export type ApprovalReader = Pick<ApprovalChannels, 'get' | 'list'>;

export function openApprovalReader(redis: Redis, prefix: string): ApprovalReader {
  const store = new ApprovalStore(redis, prefix);
  return {
    get: (id) => withStateStore(() => store.get(id)),
    list: (options) => withStateStore(() => store.list(options)),
  };
}

/** Listing and revoking standing grants without the queue machinery (`airlock grants`); revocations are audited to `audit`. */
export type GrantChannels = Pick<ApprovalChannels, 'listGrants' | 'revokeGrant'>;

export function openGrantChannels(redis: Redis, prefix: string, audit: AuditSink, now: () => number = Date.now): GrantChannels {
  const grants = new StandingGrants({ store: new GrantStore(redis, prefix), audit, now, directory: () => undefined });
  return {
    listGrants: (limit) => withStateStore(() => grants.list(limit)),
    revokeGrant: (id, actor, reason) => withStateStore(() => grants.revoke(id, actor, reason)),
  };
}
