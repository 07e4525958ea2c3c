/**
 * A real Gateway in this process on a free port, from a config written to a temp folder: real
 * Redis (under the given key prefix), real upstreams, agents with fresh tokens. No test runner
 * needed, so the benchmarks start their gateways the same way the tests do.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig, readEnvSettings } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';
import { generateToken, hashToken } from '../../src/identity/tokens.js';
import { createLogger, type Logger } from '../../src/log.js';

export interface InProcessGatewayOptions {
  redisUrl: string;
  /** Key prefix; a second replica, or a restart, shares the first one's state by reusing it. */
  prefix: string;
  mcpServers: Record<string, unknown>;
  /** Agent names; each gets a fresh token. Default: ["agent-a", "agent-b"]. */
  agents?: string[];
  /** Tokens to reuse instead of fresh ones (by agent name): replicas of one deployment share them. */
  tokens?: Record<string, string>;
  /** Owner Slack user per agent name. */
  owners?: Record<string, string>;
  /** A policy object, written to a temp file and used as the default policy. Default: allow everything. */
  policy?: unknown;
  /** Extra top-level config keys (merged shallowly). */
  config?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Injected clock (approval and grant expiry, rate-limit windows); Date.now otherwise. */
  now?: () => number;
  /** Port to listen on (default: any free one); set it when a URL must be known before start (an OIDC redirect URI, OAuth's resource). */
  port?: number;
  /** The gateway's logger (default: silent); tests that read the operator log pass one writing to memory. */
  log?: Logger;
}

export interface InProcessGateway {
  gateway: Gateway;
  baseUrl: string;
  mcpUrl: string;
  dir: string;
  tokens: Record<string, string>;
  policyFile: string;
}

/** The policy a gateway runs when the caller gives none: every tool allowed. */
export const allowAll = { version: '1', default: 'allow' };

/** The admin token every such gateway accepts (AIRLOCK_ADMIN_TOKEN), unless `env` says otherwise. */
export const adminToken = 'test-admin-token';

/** A gateway's config written to a temp folder, with fresh agent tokens: what in-process and process gateways both start from. */
export interface WrittenConfig {
  dir: string;
  file: string;
  raw: Record<string, unknown>;
  tokens: Record<string, string>;
  policyFile: string;
}

export function writeGatewayConfig(options: InProcessGatewayOptions): WrittenConfig {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-gw-'));
  const tokens: Record<string, string> = {};
  const agents: Record<string, unknown> = {};
  for (const name of options.agents ?? ['agent-a', 'agent-b']) {
    const token = options.tokens?.[name] ?? generateToken();
    tokens[name] = token;
    agents[name] = { tokenSha256: hashToken(token), ...(options.owners?.[name] ? { owner: options.owners[name] } : {}) };
  }
  const policyFile = path.join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(options.policy ?? allowAll, null, 2));
  const raw = {
    port: 0,
    host: '127.0.0.1',
    redis: { url: options.redisUrl, prefix: options.prefix },
    mcpServers: options.mcpServers,
    agents,
    policy: policyFile,
    ...options.config,
  };
  const file = path.join(dir, 'airlock.config.json');
  writeFileSync(file, JSON.stringify(raw, null, 2));
  return { dir, file, raw, tokens, policyFile };
}

export async function startInProcessGateway(options: InProcessGatewayOptions): Promise<InProcessGateway> {
  const { dir, file, raw, tokens, policyFile } = writeGatewayConfig(options);
  const env = { AIRLOCK_ADMIN_TOKEN: adminToken, ...options.env };
  const gateway = new Gateway({
    config: parseConfig(raw, file, env),
    env: readEnvSettings(env),
    log: options.log ?? createLogger({ level: 'silent' }),
    ...(options.now ? { now: options.now } : {}),
  });
  await gateway.start();
  const address = await gateway.listen(options.port ?? 0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${address.port}`;
  return { gateway, baseUrl, mcpUrl: `${baseUrl}/mcp`, dir, tokens, policyFile };
}
