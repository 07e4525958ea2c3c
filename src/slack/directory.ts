/**
 * Resolves Slack user groups (`S…` IDs in a policy's `approvers`) to their members with
 * `usergroups.users.list`, cached briefly so a burst of clicks costs one API call. It fails
 * closed: when Slack cannot answer, the group counts as empty (nobody is let in through it) and
 * the failure is logged; named user IDs keep working.
 */
import { z } from 'zod';
import type { ApproverDirectory } from '../approvals/types.js';
import type { Logger } from '../log.js';
import type { WebClient } from './web-client.js';

export interface SlackDirectoryOptions {
  client: WebClient;
  log: Logger;
  /** How long a group's members are trusted (default 60 s). */
  ttlMs?: number;
  now?: () => number;
}

const MembersSchema = z.object({ users: z.array(z.string()) });

interface Entry {
  members: readonly string[];
  fetchedAt: number;
}

/** An ApproverDirectory backed by Slack user groups. */
export function createSlackDirectory(options: SlackDirectoryOptions): ApproverDirectory {
  const ttlMs = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<readonly string[]>>();

  const fetchMembers = async (groupId: string): Promise<readonly string[]> => {
    try {
      const response = await options.client.usergroups.users.list({ usergroup: groupId });
      const members = MembersSchema.parse(response).users;
      cache.set(groupId, { members, fetchedAt: now() });
      return members;
    } catch (error) {
      options.log.error(
        { usergroup: groupId, err: error instanceof Error ? error.message : String(error) },
        'could not list Slack user-group members; treating the group as empty (fail closed) — check the usergroups:read scope',
      );
      return [];
    } finally {
      inflight.delete(groupId);
    }
  };

  return {
    async groupMembers(groupId: string): Promise<readonly string[]> {
      const cached = cache.get(groupId);
      if (cached && now() - cached.fetchedAt < ttlMs) return cached.members;
      let pending = inflight.get(groupId);
      if (!pending) {
        pending = fetchMembers(groupId);
        inflight.set(groupId, pending);
      }
      return pending;
    },
  };
}
