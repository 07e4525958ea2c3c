/**
 * The display-safe shape of a standing grant, shared by every channel (REST API, CLI, dashboard,
 * Slack): pinned values as approvers may see them (redacted stays redacted), times ISO, never the
 * digests.
 */
import type { Grant } from './grant-types.js';

export interface GrantView {
  id: string;
  agent: string;
  upstream: string;
  tool: string;
  /** Pinned paths and their values as shown; `value` is absent when the approved call had none there. */
  pins: Array<{ path: string; value?: unknown }>;
  createdAt: string;
  expiresAt: string;
  createdBy: { id: string; name: string | undefined; kind: string };
  /** The approval the grant was given on. */
  approvalId: string;
  reason: string | undefined;
}

export function toGrantView(grant: Grant): GrantView {
  return {
    id: grant.id,
    agent: grant.agent,
    upstream: grant.upstream,
    tool: grant.tool,
    pins: grant.pins.map((pin) => ({ path: pin.path, ...(pin.shown === undefined ? {} : { value: pin.shown }) })),
    createdAt: new Date(grant.createdAt).toISOString(),
    expiresAt: new Date(grant.expiresAt).toISOString(),
    createdBy: { id: grant.createdBy.id, name: grant.createdBy.name, kind: grant.createdBy.kind },
    approvalId: grant.approvalId,
    reason: grant.reason,
  };
}

/** Pinned values in one line: `params.job_id=123 params.env="prod"`, or `any arguments` when nothing is pinned. */
export function pinsText(view: Pick<GrantView, 'pins'>): string {
  if (view.pins.length === 0) return 'any arguments';
  return view.pins.map((pin) => `${pin.path}=${'value' in pin ? JSON.stringify(pin.value) : '(absent)'}`).join(' ');
}
