/**
 * Read-only access to held calls, without the queue machinery: what `airlock approvals list` and
 * `show` need, loaded in a fraction of the approvals service's start-up (no BullMQ). Reads go
 * through the same store and the same state-store fault mapping as the service's own.
 */
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { ApprovalStore } from './approval-store.js';
import type { ApprovalChannels } from './ports.js';

export type ApprovalReader = Pick<ApprovalChannels, 'get' | 'list'>;

export function openApprovalReader(redis: Redis, prefix: string): ApprovalReader {
  const store = new ApprovalStore(redis, prefix);
  return {
    get: (id) => withStateStore(() => store.get(id)),
    list: (options) => withStateStore(() => store.list(options)),
  };
}
