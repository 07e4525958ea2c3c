/**
 * Who can decide a held call, in one place: each kind of actor, whether its credential is trusted
 * to decide any call, and the authenticated principal its votes count as. Quorum counts distinct
 * principals, never distinct names: a shared credential is one person however it names itself.
 */
import { z } from 'zod';

/** Every kind of actor that may appear on a decision or a vote. */
export const deciderKinds = ['slack', 'dashboard', 'admin', 'cli', 'webhook', 'client', 'system'] as const;
export type DeciderKind = (typeof deciderKinds)[number];

/** Whoever acts on a held call: the authenticated identity (`id`) and a display name. */
export interface Actor {
  kind: DeciderKind;
  /** Slack user id, dashboard user (or its Slack id), `admin:<name>`, `cli:<login>`, a webhook key's bound Slack id, `airlock`. */
  id: string;
  name?: string | undefined;
}

interface DeciderRule {
  /** Decides any call without being named in the policy's `approvers` (holders of the admin token, operators with Redis access). */
  trusted: boolean;
  /** The authenticated identity a vote by this actor counts as for the quorum. */
  principal(actor: Actor): string;
}

export const deciders: Readonly<Record<DeciderKind, DeciderRule>> = {
  // Signed by Slack: the user id is authenticated.
  slack: { trusted: false, principal: (actor) => actor.id },
  // A dashboard user's own token; with `slackUserId` the same person as that Slack user.
  dashboard: { trusted: false, principal: (actor) => actor.id },
  // The one shared AIRLOCK_ADMIN_TOKEN (REST API, dashboard admin login): the name is only a claim.
  admin: { trusted: true, principal: () => 'admin' },
  // An operator with Redis access, named by their OS login.
  cli: { trusted: true, principal: (actor) => actor.id },
  // The agent's own MCP client answering an elicitation: it speaks for the agent's owner (their
  // Slack user id), who is held to the approvers list and allow_self_approval like anyone.
  client: { trusted: false, principal: (actor) => actor.id },
  // A decision signed with a webhook key, acting as the Slack user the config binds the key to: the same person as that user's clicks.
  webhook: { trusted: false, principal: (actor) => actor.id },
  // The gateway itself (expiry, withdrawal): never votes.
  system: { trusted: false, principal: () => 'system' },
};

/** The identity a vote counts as; two actors with the same principal are one approver. */
export function principalOf(actor: Actor): string {
  return deciders[actor.kind].principal(actor);
}

export const ActorSchema = z.object({ kind: z.enum(deciderKinds), id: z.string(), name: z.string().optional() });
