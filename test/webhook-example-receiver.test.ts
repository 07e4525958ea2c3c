/**
 * The example console receiver (examples/webhook-receiver) driven end to end: it runs as its own
 * process, gets the gateway's signed request, prompts at its terminal, and the answer typed there
 * goes back as a signed decision that releases the agent's held run_job.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { freePort } from './helpers/redis-server.js';
import { createCallLog, databricksMockStdio, repoRoot, type CallLog } from './helpers/upstreams.js';

const receiverSecret = 'console-receiver-secret-0123456789';
const keySecret = 'console-key-secret-0123456789abcd';
const runJobArgs = { params: { job_id: 123, notebook_params: { env: 'prod' } } };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Console {
  child: ChildProcess;
  /** Resolves with the output so far once it matches `pattern`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  type(line: string): void;
}

function startConsoleReceiver(port: number, gw: TestGateway): Console {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'examples/webhook-receiver/receiver.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      RECEIVER_PORT: String(port),
      WEBHOOK_SECRET: receiverSecret,
      AIRLOCK_URL: gw.baseUrl,
      AIRLOCK_KEY: 'console',
      AIRLOCK_KEY_SECRET: keySecret,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  );
  return {
    child,
    async waitForOutput(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output)) {
        if (Date.now() > deadline) throw new Error(`receiver never printed ${pattern}; output:\n${output}`);
        if (child.exitCode !== null) throw new Error(`receiver exited (${child.exitCode}):\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return output;
    },
    type: (line) => child.stdin?.write(`${line}\n`),
  };
}

async function setup(callLog: CallLog): Promise<{ gw: TestGateway; receiver: Console }> {
  const port = await freePort();
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog }) },
    policy: { version: '1', default: 'allow', tools: { run_job: { action: 'approve', approval: { approvers: ['U0ONCALL'], timeout: '5m' } } } },
    config: {
      approvals: { progressInterval: '300ms' },
      webhooks: {
        endpoints: { console: { url: `http://127.0.0.1:${port}/`, secretEnv: 'TEST_CONSOLE_SECRET' } },
        keys: { console: { secretEnv: 'TEST_CONSOLE_KEY', identity: 'U0ONCALL', name: 'on-call console' } },
      },
    },
    env: { TEST_CONSOLE_SECRET: receiverSecret, TEST_CONSOLE_KEY: keySecret },
  });
  cleanups.push(() => gw.close());
  const receiver = startConsoleReceiver(port, gw);
  await receiver.waitForOutput(/listening/);
  return { gw, receiver };
}

function heldCall(gw: TestGateway): Promise<CallToolResult> {
  return gw.connect('agent-a').then(
    (client) =>
      client.callTool({ name: 'run_job', arguments: runJobArgs }, CallToolResultSchema, {
        onprogress: () => undefined,
        resetTimeoutOnProgress: true,
        timeout: 30_000,
      }) as Promise<CallToolResult>,
  );
}

describe('the example console webhook receiver', () => {
  it('prompts with the held call; typing "a" approves it and the agent gets the run id', async () => {
    const callLog = createCallLog();
    const { gw, receiver } = await setup(callLog);
    const pending = heldCall(gw);
    const shown = await receiver.waitForOutput(/Decide apr_[a-z0-9]+/);
    expect(shown).toMatch(/APPROVAL REQUEST apr_[a-z0-9]+: agent agent-a calls run_job/);
    expect(shown).toContain('"job_id":123');
    expect(callLog.calls()).toHaveLength(0);
    receiver.type('a');
    const result = await pending;
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number) });
    expect(callLog.calls()).toHaveLength(1);
    await receiver.waitForOutput(/DECISION apr_[a-z0-9]+: decided \(status approved\)/);
    await receiver.waitForOutput(/UPDATE apr_[a-z0-9]+: executed \(status executed\)/);
  });

  it('typing "d <reason>" denies, and the agent reads the reason', async () => {
    const callLog = createCallLog();
    const { gw, receiver } = await setup(callLog);
    const pending = heldCall(gw);
    await receiver.waitForOutput(/Decide apr_[a-z0-9]+/);
    receiver.type('d not during the freeze');
    const result = await pending;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('not during the freeze');
    expect(callLog.calls()).toHaveLength(0);
  });

  it('rejects a request that is not signed with its secret', async () => {
    const callLog = createCallLog();
    const { receiver } = await setup(callLog);
    const port = /127\.0\.0\.1:(\d+)/.exec(await receiver.waitForOutput(/listening/))?.[1];
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { 'x-airlock-request-timestamp': String(Math.floor(Date.now() / 1_000)), 'x-airlock-signature': 'v0=00' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    await receiver.waitForOutput(/REJECTED a request: bad signature/);
  });
});
