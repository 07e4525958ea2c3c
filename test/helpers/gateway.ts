/**
 * A real Gateway in-process (see in-process-gateway.ts) on the suite's Redis under a key prefix
 * of its own, and official SDK clients connected to it with agent tokens.
 */
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { inject } from 'vitest';
import { startInProcessGateway, type InProcessGateway, type InProcessGatewayOptions } from './in-process-gateway.js';

export { adminToken, allowAll } from './in-process-gateway.js';

export interface TestGatewayOptions extends Omit<InProcessGatewayOptions, 'redisUrl' | 'prefix'> {
  /** Default: the suite's throwaway redis-server (or REDIS_URL). */
  redisUrl?: string;
  /** Default: a fresh `test-<uuid>:`; reuse one for a second replica or a restart. */
  prefix?: string;
}

export interface TestGateway extends InProcessGateway {
  prefix: string;
  connect(agent: string, options?: { name?: string }): Promise<Client>;
  close(): Promise<void>;
}

export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const prefix = options.prefix ?? `test-${randomUUID()}:`;
  const started = await startInProcessGateway({ ...options, redisUrl: options.redisUrl ?? inject('redisUrl'), prefix });
  const clients: Client[] = [];
  return {
    ...started,
    prefix,
    async connect(agent, clientOptions = {}) {
      const token = started.tokens[agent];
      if (!token) throw new Error(`no agent ${agent} in this test gateway`);
      const client = await connectClient(started.mcpUrl, token, clientOptions.name);
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await started.gateway.close();
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
