/**
 * Standing grants, the approvals core's second vocabulary: an approver's "yes to this agent, this
 * tool and these pinned argument values, until then". A grant is made from one approved call
 * (whose pinnable values the hold recorded as keyed digests), lives in Redis with a TTL equal to
 * its duration, and lets matching calls skip the hold (rate limits still apply) until it expires
 * or someone revokes it. Values are compared by digest of their canonical JSON, so a grant never
 * stores a redacted value, and equality is the same everywhere (RFC 8785 canonical form).
 */
import { z } from 'zod';
import { ActorSchema, type Actor } from './deciders.js';

/** One pinned argument path: the keyed digest of its canonical value, and the value as approvers may see it. */
export const GrantPinSchema = z.object({
  path: z.string(),
  /** Keyed digest (ArgumentsHasher) of the canonical JSON of `[path, value]` (or `[path]` when absent). */
  digest: z.string(),
  /** The value with redacted paths masked; absent when the call had no value there. */
  shown: z.unknown().optional(),
});
export type GrantPin = z.infer<typeof GrantPinSchema>;

export const GrantSchema = z.object({
  id: z.string(),
  agent: z.string(),
  upstream: z.string(),
  tool: z.string(),
  pins: z.array(GrantPinSchema),
  createdAt: z.number(),
  expiresAt: z.number(),
  createdBy: ActorSchema,
  /** The approval the grant was given on. */
  approvalId: z.string(),
  reason: z.string().optional(),
  /** The policy's approvers when it was given: they (and admins) may revoke it. */
  approvers: z.array(z.string()),
});
export type Grant = z.infer<typeof GrantSchema>;

/** What an approver asks for when approving with a grant. */
export interface GrantRequest {
  durationMs: number;
  /** Paths to pin; undefined pins every path the policy allows. */
  pin?: readonly string[] | undefined;
}

/** A call looking for a live grant: who, what, and the digests of its values at the policy's pinnable paths. */
export interface GrantQuery {
  agent: string;
  tool: string;
  /** Digest per pinnable path (same computation as the held call's pins). */
  digests: Readonly<Record<string, string>>;
  /** The policy's longest grant now: an older, longer grant is honoured only this long. */
  maxDurationMs: number;
}

/** What a revocation did. */
export type RevokeResult = { kind: 'revoked'; grant: Grant } | { kind: 'not_found' } | { kind: 'not_authorized'; grant: Grant; why: string };

/** Whether `grant` covers the call described by `query` at time `now`. */
export function grantCovers(grant: Grant, query: GrantQuery, now: number): boolean {
  if (grant.agent !== query.agent || grant.tool !== query.tool) return false;
  if (grant.expiresAt <= now || grant.createdAt + query.maxDurationMs <= now) return false;
  return grant.pins.every((pin) => query.digests[pin.path] === pin.digest);
}

export type { Actor };
