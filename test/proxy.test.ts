/**
 * The gateway as a transparent MCP proxy: official SDK client → Airlock → real upstream servers.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, everythingStdio, startDatabricksMockHttp, startEverythingHttp, type RunningServer } from './helpers/upstreams.js';

const runJobArgs = { params: { job_id: 123, notebook_params: { date: '2026-11-01' } } };

describe('Databricks mock over stdio, through the gateway', () => {
  const callLog = createCallLog();
  let gw: TestGateway;
  let direct: Client;

  beforeAll(async () => {
    gw = await startTestGateway({ mcpServers: { databricks: databricksMockStdio({ callLog }) } });
    direct = new Client({ name: 'direct', version: '1' });
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const spec = databricksMockStdio();
    await direct.connect(new StdioClientTransport({ command: spec.command, args: spec.args, cwd: spec.cwd }));
  });
  afterAll(async () => {
    await direct.close();
    await gw.close();
  });

  it('lists the same 11 tools the upstream lists, with their input schemas untouched', async () => {
    const client = await gw.connect('agent-a');
    const viaGateway = await client.listTools();
    const straight = await direct.listTools();
    expect(viaGateway.tools.map((t) => t.name).sort()).toEqual(straight.tools.map((t) => t.name).sort());
    expect(viaGateway.tools).toHaveLength(11);
    const runJob = viaGateway.tools.find((t) => t.name === 'run_job');
    expect(runJob?.inputSchema).toEqual(straight.tools.find((t) => t.name === 'run_job')?.inputSchema);
  });

  it('calls run_job and returns exactly what the mock returns directly', async () => {
    const client = await gw.connect('agent-a');
    const viaGateway = await client.callTool({ name: 'run_job', arguments: runJobArgs });
    const straight = await direct.callTool({ name: 'run_job', arguments: runJobArgs });
    const a = JSON.parse(textOf(viaGateway)) as { run_id: number; number_in_job: number };
    const b = JSON.parse(textOf(straight)) as { run_id: number; number_in_job: number };
    // Two mock processes, each with its own counter: same shape, same first values.
    expect(a).toEqual(b);
    expect(viaGateway.isError).toBeFalsy();
    expect(callLog.calls().at(-1)).toMatchObject({ tool: 'run_job', arguments: runJobArgs });
  });

  it("passes the upstream's own error text through unchanged (the real server sends no isError)", async () => {
    const client = await gw.connect('agent-a');
    const result = await client.callTool({ name: 'run_job', arguments: { params: { job_id: 999 } } });
    expect(JSON.parse(textOf(result))).toEqual({ error: 'Job 999 does not exist.' });
  });

  it('answers a call to a tool the upstream does not have with a specific error, then keeps serving', async () => {
    const client = await gw.connect('agent-a');
    const before = callLog.calls().length;
    const result = await client.callTool({ name: 'drop_database', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/Tool "drop_database" does not exist.*tools\/list/);
    expect(result._meta?.['airlock/error']).toMatchObject({ code: 'unknown_tool' });
    expect(callLog.calls().length).toBe(before);
    const next = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    expect(textOf(next)).toContain('finance-close');
  });

  it('keeps the agent and session apart: two agents get two sessions', async () => {
    const a = await gw.connect('agent-a');
    const b = await gw.connect('agent-b');
    const ta = a.transport as StreamableHTTPClientTransport;
    const tb = b.transport as StreamableHTTPClientTransport;
    expect(ta.sessionId).toBeTruthy();
    expect(ta.sessionId).not.toEqual(tb.sessionId);
  });
});

describe('third-party upstream: server-everything', () => {
  let http: RunningServer;
  let gwStdio: TestGateway;
  let gwHttp: TestGateway;

  beforeAll(async () => {
    http = await startEverythingHttp();
    [gwStdio, gwHttp] = await Promise.all([
      startTestGateway({ mcpServers: { everything: everythingStdio() } }),
      startTestGateway({ mcpServers: { everything: { url: http.url } } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([gwStdio.close(), gwHttp.close()]);
    await http.stop();
  });

  for (const mode of ['stdio', 'streamable HTTP'] as const) {
    it(`proxies tools, resources and prompts from server-everything over ${mode}`, async () => {
      const gw = mode === 'stdio' ? gwStdio : gwHttp;
      const client = await gw.connect('agent-a');
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toContain('echo');
      const echo = await client.callTool({ name: 'echo', arguments: { message: 'hello through airlock' } });
      expect(textOf(echo)).toContain('hello through airlock');
      const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
      expect(textOf(sum)).toContain('42');

      const resources = await client.listResources();
      expect(resources.resources.length).toBeGreaterThan(0);
      const first = resources.resources[0];
      if (!first) throw new Error('no resources');
      const read = await client.readResource({ uri: first.uri });
      expect(read.contents[0]?.uri).toBe(first.uri);

      const prompts = await client.listPrompts();
      const simple = prompts.prompts.find((p) => (p.arguments ?? []).every((a) => !a.required));
      if (!simple) throw new Error('no prompt without required arguments');
      const prompt = await client.getPrompt({ name: simple.name });
      expect(prompt.messages.length).toBeGreaterThan(0);
    });
  }

  it("relays upstream progress to the agent under the agent's own progress token", async () => {
    const client = await gwStdio.connect('agent-a');
    const progress: number[] = [];
    const result = await client.request(
      { method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } } },
      CallToolResultSchema,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(result.isError).toBeFalsy();
    // The SDK client handles the final progress and the response in a race of its own (a direct
    // connection also loses the last one at times), so the first three are what can be promised.
    expect(progress.slice(0, 3)).toEqual([1, 2, 3]);
  });
});

describe('Databricks mock over Streamable HTTP, through the gateway', () => {
  const callLog = createCallLog();
  let upstream: RunningServer;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startDatabricksMockHttp({ callLog });
    gw = await startTestGateway({ mcpServers: { databricks: { url: upstream.url } } });
  });
  afterAll(async () => {
    await gw.close();
    await upstream.stop();
  });

  it('calls run_job over HTTP on both sides and gets the run id', async () => {
    const client = await gw.connect('agent-a');
    const result = await client.callTool({ name: 'run_job', arguments: runJobArgs });
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number), number_in_job: 1 });
    expect(callLog.calls()).toHaveLength(1);
  });
});

describe('several upstreams', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ mcpServers: { databricks: databricksMockStdio(), everything: everythingStdio() } });
  });
  afterAll(() => gw.close());

  it('prefixes tool names with "<upstream>__" and routes each call to its upstream', async () => {
    const client = await gw.connect('agent-a');
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('databricks__run_job');
    expect(names).toContain('everything__echo');
    expect(names.every((n) => /^[A-Za-z0-9_-]{1,64}$/.test(n))).toBe(true);
    const run = await client.callTool({ name: 'databricks__run_job', arguments: runJobArgs });
    expect(JSON.parse(textOf(run))).toHaveProperty('run_id');
    const echo = await client.callTool({ name: 'everything__echo', arguments: { message: 'hi' } });
    expect(textOf(echo)).toContain('hi');
  });
});

describe('a direct connection with a bad token', () => {
  it('is refused by the SDK client with an error, not a hang', async () => {
    const gw = await startTestGateway({ mcpServers: { databricks: databricksMockStdio() } });
    try {
      await expect(connectClient(gw.mcpUrl, 'alk_not-a-real-token')).rejects.toThrow();
    } finally {
      await gw.close();
    }
  });
});
