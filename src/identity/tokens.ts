/**
 * Agent identity: a bearer token maps to an agent (grant). Only SHA-256 hashes of tokens are kept
 * in the config, so a leaked config file does not leak credentials. Tokens carry 256 random bits,
 * so a plain hash (no salt, no KDF) is the right tool: nothing to brute-force.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AgentSpec } from '../config/schema.js';

/** Who is calling: the grant name policy, rate limits and audit key on. */
export interface Agent {
  name: string;
  /** Slack user who owns the agent, when configured. */
  owner: string | undefined;
  /** Policy file override for this agent (absolute path), when configured. */
  policy: string | undefined;
  /**
   * Who signed in as this agent with OAuth (`sub "alice" (client "abc")`), absent for static
   * tokens: logged, and part of a session's owner, so two people mapped to one agent never share a session.
   */
  principal?: string | undefined;
}

export const tokenPrefix = 'alk_';

/** Hash of the demo token printed in the README; the gateway warns when a config still accepts it. */
export const demoTokenSha256 = '82b666d64bebcd09098c8b766d8291aa9ea4054998e2c89be0663792022583e3';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A fresh token: `alk_` + 43 base64url characters (256 random bits). */
export function generateToken(): string {
  return tokenPrefix + randomBytes(32).toString('base64url');
}

export interface Authenticator {
  /** The agent a token belongs to, or undefined for a missing or unknown token. */
  authenticate(token: string | undefined): Agent | undefined;
  readonly agents: ReadonlyMap<string, Agent>;
}

/** Builds the hash → agent lookup once; authentication is one hash and one map lookup. */
export function createAuthenticator(specs: Record<string, AgentSpec>): Authenticator {
  const byHash = new Map<string, Agent>();
  const byName = new Map<string, Agent>();
  for (const [name, spec] of Object.entries(specs)) {
    const agent: Agent = { name, owner: spec.owner, policy: spec.policy };
    if (spec.tokenSha256 !== undefined) byHash.set(spec.tokenSha256, agent); // else: an OAuth-only agent
    byName.set(name, agent);
  }
  // Known tokens seen recently, so a busy agent's token is hashed once, not on every request.
  // Unknown tokens are never cached: a flood of wrong ones cannot fill this.
  const recent = new Map<string, Agent>();
  return {
    agents: byName,
    authenticate(token) {
      if (token === undefined || token.length === 0 || token.length > 512) return undefined;
      const cached = recent.get(token);
      if (cached) return cached;
      const agent = byHash.get(hashToken(token));
      if (agent) {
        if (recent.size >= 1_000) recent.clear();
        recent.set(token, agent);
      }
      return agent;
    },
  };
}

/** The token from an `Authorization: Bearer …` header value. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
