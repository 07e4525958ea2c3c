/**
 * The relay, end to end: official SDK clients → Airlock → the conformance reference server (a real
 * MCP server built on the SDK), as a per-agent stdio child and over Streamable HTTP. What the
 * upstream sends back — sampling and elicitation requests, log messages, resource updates — must
 * reach the agent whose call caused it, and no other agent connected at the same time.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  type LoggingMessageNotification,
} from '@modelcontextprotocol/sdk/types.js';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { freePort } from './helpers/redis-server.js';
import { repoRoot, type RunningServer } from './helpers/upstreams.js';

const serveReference = path.join(repoRoot, 'test/conformance/serve-reference.ts');

function referenceStdio(session: 'shared' | 'per-agent') {
  return { command: process.execPath, args: ['--import', 'tsx', serveReference, '--stdio'], cwd: repoRoot, session };
}

async function startReferenceHttp(): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', serveReference, '--port', String(port)], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  const url = `http://127.0.0.1:${port}/mcp`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await fetch(url, { method: 'GET', signal: AbortSignal.timeout(500) });
      break;
    } catch {
      if (Date.now() > deadline) throw new Error('reference server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    child,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface Agent {
  client: Client;
  elicited: string[];
  sampled: string[];
  logs: LoggingMessageNotification['params'][];
  updates: string[];
}

/** An SDK client that answers elicitation and sampling as the named person would, and records what it was asked. */
async function connectAgent(gw: TestGateway, agent: string, person: string): Promise<Agent> {
  const token = gw.tokens[agent];
  if (!token) throw new Error(`no agent ${agent}`);
  const client = new Client({ name: `${agent}-client`, version: '1' }, { capabilities: { sampling: {}, elicitation: { form: {} } } });
  const seen: Agent = { client, elicited: [], sampled: [], logs: [], updates: [] };
  client.setRequestHandler(ElicitRequestSchema, (request) => {
    seen.elicited.push(request.params.message);
    return { action: 'accept', content: { username: person, email: `${person}@example.com` } };
  });
  client.setRequestHandler(CreateMessageRequestSchema, (request) => {
    const first = request.params.messages[0]?.content;
    seen.sampled.push(first && !Array.isArray(first) && first.type === 'text' ? first.text : '?');
    return { role: 'assistant', content: { type: 'text', text: `${person} says hi` }, model: 'test-model' };
  });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void seen.logs.push(n.params));
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void seen.updates.push(n.params.uri));
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return seen;
}

const transports = [
  { name: 'a per-agent stdio child', upstream: async () => ({ spec: referenceStdio('per-agent'), stop: async () => undefined }) },
  {
    name: 'Streamable HTTP',
    upstream: async () => {
      const server = await startReferenceHttp();
      return { spec: { url: server.url }, stop: () => server.stop() };
    },
  },
];

for (const transport of transports) {
  describe(`relay with the reference server over ${transport.name}`, () => {
    let gw: TestGateway;
    let stopUpstream: () => Promise<void>;
    let alice: Agent;
    let bob: Agent;

    beforeAll(async () => {
      const upstream = await transport.upstream();
      stopUpstream = upstream.stop;
      gw = await startTestGateway({ mcpServers: { reference: upstream.spec } });
      [alice, bob] = await Promise.all([connectAgent(gw, 'agent-a', 'alice'), connectAgent(gw, 'agent-b', 'bob')]);
    });
    afterAll(async () => {
      await gw.close();
      await stopUpstream();
    });

    it("sends the upstream's elicitation to the agent whose call caused it, and to no other agent", async () => {
      const [fromAlice, fromBob] = await Promise.all([
        alice.client.callTool({ name: 'test_elicitation', arguments: { message: 'Who is calling (alice)?' } }),
        bob.client.callTool({ name: 'test_elicitation', arguments: { message: 'Who is calling (bob)?' } }),
      ]);
      expect(alice.elicited).toEqual(['Who is calling (alice)?']);
      expect(bob.elicited).toEqual(['Who is calling (bob)?']);
      expect(textOf(fromAlice)).toContain('alice@example.com');
      expect(textOf(fromAlice)).not.toContain('bob');
      expect(textOf(fromBob)).toContain('bob@example.com');
    });

    it("sends the upstream's sampling request to the calling agent only", async () => {
      const result = await alice.client.callTool({ name: 'test_sampling', arguments: { prompt: 'write a haiku' } });
      expect(textOf(result)).toBe('LLM response: alice says hi');
      expect(alice.sampled).toEqual(['write a haiku']);
      expect(bob.sampled).toEqual([]);
    });

    it('delivers log messages at the level each agent set, on its own session', async () => {
      await alice.client.setLoggingLevel('warning');
      await bob.client.setLoggingLevel('info');
      alice.logs.length = 0;
      bob.logs.length = 0;
      await Promise.all([
        alice.client.callTool({ name: 'test_tool_with_logging', arguments: {} }),
        bob.client.callTool({ name: 'test_tool_with_logging', arguments: {} }),
      ]);
      expect(alice.logs).toEqual([]);
      expect(bob.logs.map((l) => l.data)).toEqual(['Tool execution started', 'Tool processing data', 'Tool execution completed']);
      expect(bob.logs.every((l) => l.level === 'info')).toBe(true);
    });

    it('tells a subscribed agent its resource changed, and not an agent that did not subscribe', async () => {
      await alice.client.subscribeResource({ uri: 'test://watched-resource' });
      await alice.client.callTool({ name: 'test_update_watched_resource', arguments: {} });
      await waitFor(() => alice.updates.length > 0);
      expect(alice.updates).toEqual(['test://watched-resource']);
      expect(bob.updates).toEqual([]);
      await alice.client.unsubscribeResource({ uri: 'test://watched-resource' });
      await alice.client.callTool({ name: 'test_update_watched_resource', arguments: {} });
      await new Promise((r) => setTimeout(r, 300));
      expect(alice.updates).toHaveLength(1);
    });

    it("keeps waiting for an answer when the upstream closes the call's stream early (SSE polling, SEP-1699)", async () => {
      const result = await alice.client.callTool({ name: 'test_reconnection', arguments: {} });
      expect(textOf(result)).toBe('Reconnection test completed.');
    });

    it("passes the upstream's instructions on, ahead of Airlock's own", () => {
      const instructions = alice.client.getInstructions() ?? '';
      expect(instructions).toMatch(/Airlock is an approval gateway/);
      expect(alice.client.getServerCapabilities()).toMatchObject({ logging: {}, completions: {}, resources: { subscribe: true }, prompts: {} });
    });
  });
}

describe('a shared stdio upstream', () => {
  let gw: TestGateway;
  let alice: Agent;

  beforeAll(async () => {
    gw = await startTestGateway({ mcpServers: { reference: referenceStdio('shared') } });
    alice = await connectAgent(gw, 'agent-a', 'alice');
  });
  afterAll(() => gw.close());

  it('relays tools and progress exactly, and refuses sampling with the setting that fixes it', async () => {
    const progress: number[] = [];
    const withProgress = await alice.client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, {
      onprogress: (p) => void progress.push(p.progress),
    });
    expect(textOf(withProgress)).toContain('executed successfully');
    expect(progress).toEqual([0, 50, 100]);

    const sampling = await alice.client.callTool({ name: 'test_sampling', arguments: { prompt: 'hi' } });
    // The shared child was initialized by the gateway, which cannot route sampling: the server says so.
    expect(textOf(sampling)).toMatch(/does not support sampling|per-agent/);
    expect(alice.sampled).toEqual([]);
  });
});

describe('resources and prompts under policy', () => {
  let gw: TestGateway;
  let alice: Agent;
  const policy = {
    version: '1',
    default: 'allow',
    resources: {
      'test://static-binary': { action: 'deny', reason: 'Binary blobs are off limits for agents.' },
      'test://watched-*': { rules: [{ when: { operation: { eq: 'subscribe' } }, action: 'deny', reason: 'No subscriptions to watched resources.' }] },
    },
    prompts: { test_simple_prompt: { action: 'approve', reason: 'Prompts from this server need a look first.' } },
  };

  beforeAll(async () => {
    gw = await startTestGateway({ mcpServers: { reference: referenceStdio('shared') }, policy });
    alice = await connectAgent(gw, 'agent-a', 'alice');
  });
  afterAll(() => gw.close());

  it('neither lists nor reads a denied resource, says why, and audits the refusal', async () => {
    const listed = await alice.client.listResources();
    const uris = listed.resources.map((r) => r.uri);
    expect(uris).toContain('test://static-text');
    expect(uris).not.toContain('test://static-binary');
    await expect(alice.client.readResource({ uri: 'test://static-binary' })).rejects.toThrow(/Binary blobs are off limits for agents/);
    const text = await alice.client.readResource({ uri: 'test://static-text' });
    expect(text.contents[0]?.uri).toBe('test://static-text');
    const denied = await gw.gateway.auditStore.query({ type: 'denied', tool: 'resource:test://static-binary' });
    expect(denied.events).toHaveLength(1);
    expect(denied.events[0]).toMatchObject({
      agent: 'agent-a',
      reason: 'Binary blobs are off limits for agents.',
      arguments: { uri: 'test://static-binary', operation: 'read' },
    });
    const allowed = await gw.gateway.auditStore.query({ type: 'allowed', tool: 'resource:test://static-text' });
    expect(allowed.events.length).toBeGreaterThan(0);
  });

  it('decides subscriptions by operation: the watched resource can be read but not subscribed to', async () => {
    const read = await alice.client.readResource({ uri: 'test://watched-resource' });
    expect(read.contents[0]?.uri).toBe('test://watched-resource');
    await expect(alice.client.subscribeResource({ uri: 'test://watched-resource' })).rejects.toThrow(/No subscriptions to watched resources/);
  });

  it('holds a prompt under approve like a tool, and answers with the prompt once approved', async () => {
    const pending = alice.client.getPrompt({ name: 'test_simple_prompt' }, { onprogress: () => undefined, resetTimeoutOnProgress: true });
    const api = adminApi(gw.baseUrl);
    const [held] = await api.waitForPending(1);
    expect(held?.tool).toBe('prompt:test_simple_prompt');
    expect((await api.approve(held?.id ?? '')).status).toBe(200);
    const prompt = await pending;
    expect(prompt.messages.length).toBeGreaterThan(0);
    const executed = await gw.gateway.auditStore.query({ type: 'executed', tool: 'prompt:test_simple_prompt' });
    expect(executed.events).toHaveLength(1);
  });

  it('refuses completions for a prompt the agent may not use, and lets through those it may', async () => {
    const denyPolicy = { ...policy, prompts: { ...policy.prompts, test_prompt_with_arguments: { action: 'deny' } } };
    const other = await startTestGateway({ mcpServers: { reference: referenceStdio('shared') }, policy: denyPolicy });
    try {
      const bob = await connectAgent(other, 'agent-b', 'bob');
      const prompts = await bob.client.listPrompts();
      expect(prompts.prompts.map((p) => p.name)).not.toContain('test_prompt_with_arguments');
      await expect(
        bob.client.complete({ ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' }, argument: { name: 'arg1', value: 'a' } }),
      ).rejects.toThrow(/not available to this agent/);
    } finally {
      await other.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
