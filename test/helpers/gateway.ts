/**
 * Starts a real Gateway in-process on a free port, against real Redis (own key prefix) and real
 * upstreams, and connects official SDK clients to it with agent tokens.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { inject } from 'vitest';
import { parseConfig, readEnvSettings } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';
import { generateToken, hashToken } from '../../src/identity/tokens.js';
import { createLogger } from '../../src/log.js';

export interface TestGatewayOptions {
  mcpServers: Record<string, unknown>;
  /** Agent names; each gets a fresh token. Default: ["agent-a", "agent-b"]. */
  agents?: string[];
  /** Owner Slack user per agent name. */
  owners?: Record<string, string>;
  /** A policy object, written to a temp file and used as the default policy. Default: allow everything. */
  policy?: unknown;
  /** Extra top-level config keys (merged shallowly). */
  config?: Record<string, unknown>;
  redisUrl?: string;
  /** Reuse a key prefix (a second replica, or a restart, shares the first one's state). */
  prefix?: string;
  env?: NodeJS.ProcessEnv;
}

export interface TestGateway {
  gateway: Gateway;
  baseUrl: string;
  mcpUrl: string;
  prefix: string;
  dir: string;
  tokens: Record<string, string>;
  policyFile: string;
  connect(agent: string, options?: { name?: string }): Promise<Client>;
  close(): Promise<void>;
}

/** The policy a test gateway runs when the test gives none: every tool allowed. */
export const allowAll = { version: '1', default: 'allow' };

/** The admin token every test gateway accepts (AIRLOCK_ADMIN_TOKEN). */
export const adminToken = 'test-admin-token';

export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-gw-'));
  const prefix = options.prefix ?? `test-${randomUUID()}:`;
  const tokens: Record<string, string> = {};
  const agents: Record<string, unknown> = {};
  for (const name of options.agents ?? ['agent-a', 'agent-b']) {
    tokens[name] = generateToken();
    agents[name] = { tokenSha256: hashToken(tokens[name]), ...(options.owners?.[name] ? { owner: options.owners[name] } : {}) };
  }
  const policyFile = path.join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(options.policy ?? allowAll, null, 2));
  const raw = {
    port: 0,
    host: '127.0.0.1',
    redis: { url: options.redisUrl ?? inject('redisUrl'), prefix },
    mcpServers: options.mcpServers,
    agents,
    policy: policyFile,
    ...options.config,
  };
  const file = path.join(dir, 'airlock.config.json');
  writeFileSync(file, JSON.stringify(raw, null, 2));
  const env = { AIRLOCK_ADMIN_TOKEN: adminToken, ...options.env };
  const config = parseConfig(raw, file, env);
  const gateway = new Gateway({ config, env: readEnvSettings(env), log: createLogger({ level: 'silent' }) });
  await gateway.start();
  const address = await gateway.listen(0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${address.port}`;
  const clients: Client[] = [];
  return {
    gateway,
    baseUrl,
    mcpUrl: `${baseUrl}/mcp`,
    prefix,
    dir,
    tokens,
    policyFile,
    async connect(agent, clientOptions = {}) {
      const token = tokens[agent];
      if (!token) throw new Error(`no agent ${agent} in this test gateway`);
      const client = await connectClient(`${baseUrl}/mcp`, token, clientOptions.name);
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await gateway.close();
    },
  };
}

/** The official SDK client over Streamable HTTP with a bearer token. */
export async function connectClient(url: string, token: string, name = 'test-agent'): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return client;
}

/** The text of a tool result's first content block. */
export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content.map((c) => c.text ?? '').join('\n');
}
