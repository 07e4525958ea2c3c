/**
 * The deployment files: what the README promises about deploy/kubernetes, docker-compose.yml and
 * deploy/haproxy/haproxy.cfg. The manifests are parsed and their config and policy loaded by the
 * gateway's own loaders; the HAProxy file runs for real (Debian's haproxy, .ci/run installs it) in
 * front of two gateway processes on one Redis, driven by the official SDK client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseConfig } from '../src/config/load.js';
import { parsePolicyText } from '../src/policy/load.js';
import { generateToken } from '../src/identity/tokens.js';
import { adminApi } from './helpers/admin-api.js';
import { testPrefix } from './helpers/approvals.js';
import { connectClient, textOf } from './helpers/gateway.js';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { adminToken } from './helpers/in-process-gateway.js';
import { freePort } from './helpers/redis-server.js';
import { createCallLog, databricksMockStdio, repoRoot } from './helpers/upstreams.js';

type Manifest = {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

function manifests(): Manifest[] {
  const text = readFileSync(path.join(repoRoot, 'deploy/kubernetes/airlock.yaml'), 'utf8');
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`deploy/kubernetes/airlock.yaml: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as Manifest;
  });
}

function byKind(kind: string): Manifest {
  const found = manifests().find((m) => m.kind === kind);
  if (!found) throw new Error(`no ${kind} in deploy/kubernetes/airlock.yaml`);
  return found;
}

/** `a.b.c` of a parsed manifest (tests read nested fields without a cast per level). */
function at(value: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((v, key) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), value);
}

describe('the Kubernetes manifests', () => {
  it('run replicas with /readyz and /healthz probes, a preStop pause, a grace period longer than shutdownGrace, and secrets only by reference', () => {
    const deployment = byKind('Deployment');
    const pod = at(deployment, 'spec.template.spec') as Record<string, unknown>;
    const [container] = at(pod, 'containers') as Record<string, unknown>[];
    expect(at(deployment, 'spec.replicas')).toBeGreaterThanOrEqual(2);
    expect(at(container, 'readinessProbe.httpGet.path')).toBe('/readyz');
    expect(at(container, 'livenessProbe.httpGet.path')).toBe('/healthz');
    expect(at(container, 'lifecycle.preStop.exec.command')).toEqual(['sleep', '5']);

    const env = at(container, 'env') as { name: string; value?: string; valueFrom?: unknown }[];
    for (const name of ['REDIS_URL', 'AIRLOCK_ADMIN_TOKEN', 'AIRLOCK_HASH_SECRET', 'SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET']) {
      const entry = env.find((e) => e.name === name);
      expect(entry?.value, `${name} must not be written into the manifest`).toBeUndefined();
      expect(at(entry, 'valueFrom.secretKeyRef.name')).toBe('airlock-secrets');
    }

    // The config the pod mounts loads with the gateway's own loader, and so does its policy.
    const configMap = byKind('ConfigMap');
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-k8s-'));
    mkdirSync(path.join(dir, 'policies'));
    const items = at(pod, 'volumes.0.configMap.items') as { key: string; path: string }[];
    for (const item of items) writeFileSync(path.join(dir, item.path), configMap.data?.[item.key] ?? '');
    const config = parseConfig(JSON.parse(configMap.data?.['airlock.config.json'] ?? ''), path.join(dir, 'airlock.config.json'), {
      REDIS_URL: 'redis://redis:6379',
    });
    expect(config.policy).toBe(path.join(dir, 'policies/databricks.json'));
    const policy = parsePolicyText(readFileSync(config.policy ?? '', 'utf8'), config.policy);
    expect(policy.ok, JSON.stringify(policy)).toBe(true);

    // SIGTERM comes after preStop; the pod then needs shutdownGrace to finish what it runs.
    const graceSec = at(pod, 'terminationGracePeriodSeconds') as number;
    expect(graceSec * 1_000).toBeGreaterThan(config.shutdownGrace + 5_000);
    // Several replicas behind a balancer: a pod that stops leaves its held calls to the others.
    expect(config.http.resumption).toMatchObject({ enabled: true, handOverOnShutdown: true });
  });

  it('keep sessions sticky at the ingress, at least one replica through disruptions, and scale on CPU', () => {
    expect(byKind('Ingress').metadata.annotations?.['nginx.ingress.kubernetes.io/upstream-hash-by']).toBe('$http_mcp_session_id');
    expect(at(byKind('PodDisruptionBudget'), 'spec.minAvailable')).toBe(1);
    const hpa = byKind('HorizontalPodAutoscaler');
    expect(at(hpa, 'spec.scaleTargetRef.name')).toBe('airlock');
    expect(at(hpa, 'spec.metrics.0.resource.name')).toBe('cpu');
    expect(at(byKind('Service'), 'spec.ports.0.targetPort')).toBe('http');
  });
});

describe('docker-compose.yml', () => {
  it('runs two gateway replicas on one Redis behind HAProxy with the shipped haproxy.cfg', () => {
    const compose = parseYaml(readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, Record<string, unknown>>;
    };
    const { services } = compose;
    for (const name of ['airlock-1', 'airlock-2']) {
      expect(at(services[name], 'environment.REDIS_URL')).toBe('redis://redis:6379');
      expect(at(services[name], 'command')).toEqual(['serve', '--config', 'examples/compose/airlock.config.json']);
    }
    expect(at(services['airlock'], 'volumes')).toContain('./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
    expect(at(services['airlock'], 'environment')).toMatchObject({ AIRLOCK_REPLICA_1: 'airlock-1:8080', AIRLOCK_REPLICA_2: 'airlock-2:8080' });
    expect(at(services['airlock'], 'ports')).toEqual(['8080:8080']);
  });
});

const holdRunJob = {
  version: '1',
  default: 'allow',
  tools: { run_job: { action: 'approve', approval: { approvers: [], timeout: '5m' } } },
};

const processes: GatewayProcess[] = [];
const clients: Client[] = [];
let haproxy: ChildProcess | undefined;
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  haproxy?.kill('SIGKILL');
  haproxy = undefined;
  await Promise.all(processes.splice(0).map((p) => p.kill()));
});

async function startHaproxy(replicas: GatewayProcess[]): Promise<string> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, AIRLOCK_LISTEN: `127.0.0.1:${port}` };
  replicas.forEach((r, i) => (env[`AIRLOCK_REPLICA_${i + 1}`] = new URL(r.baseUrl).host));
  // Debian installs it in /usr/sbin, which is not on every user's PATH.
  const binary = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';
  const child = spawn(binary, ['-db', '-f', path.join(repoRoot, 'deploy/haproxy/haproxy.cfg')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  haproxy = child;
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  while (
    !(await fetch(`${base}/healthz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return base;
}

async function callsInFlight(gw: GatewayProcess): Promise<number> {
  const text = await fetch(`${gw.baseUrl}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } }).then((r) => r.text());
  const line = text.split('\n').find((l) => l.startsWith('airlock_calls_in_flight'));
  return Number(line?.split(' ').pop() ?? 'NaN');
}

/**
 * A held call kept alive by progress; `timeoutMs` is how long the agent waits once progress stops.
 * `progressed` resolves at the first progress: the stream's priming event (its first resumable id)
 * and the held-request record come before it.
 */
function callWaiting(client: Client, timeoutMs = 60_000): Promise<CallToolResult> & { progressed: Promise<void> } {
  let progressed!: () => void;
  const first = new Promise<void>((resolve) => (progressed = resolve));
  const call = client.callTool({ name: 'run_job', arguments: { params: { job_id: 123, notebook_params: { date: '2026-11-02' } } } }, CallToolResultSchema, {
    onprogress: () => progressed(),
    resetTimeoutOnProgress: true,
    timeout: timeoutMs,
  }) as Promise<CallToolResult>;
  return Object.assign(call, { progressed: first });
}

/** Two gateway processes on one Redis (run_job held) behind HAProxy with the shipped haproxy.cfg. */
async function replicaPair(config: Record<string, unknown>) {
  const callLog = createCallLog();
  const prefix = testPrefix();
  const tokens = { 'agent-a': generateToken() };
  const start = () =>
    startGatewayProcess({
      redisUrl: inject('redisUrl'),
      prefix,
      tokens,
      agents: ['agent-a'],
      mcpServers: { databricks: databricksMockStdio({ callLog }) },
      policy: holdRunJob,
      config: { approvals: { progressInterval: '300ms' }, ...config },
    });
  const replicas = await Promise.all([start(), start()]);
  processes.push(...replicas);
  return { callLog, tokens, replicas, lb: await startHaproxy(replicas) };
}

describe('two replicas behind HAProxy (deploy/haproxy/haproxy.cfg)', () => {
  it('keeps a session on its replica; when that replica dies mid-hold, the agent resumes its stream on the other, which takes the session over, and gets the run id of the one run', async () => {
    const { callLog, tokens, replicas, lb } = await replicaPair({ shutdownGrace: '1s' });

    // Round-robin spreads new sessions; every request of a session reaches the replica that knows it.
    const first = await connectClient(`${lb}/mcp`, tokens['agent-a']);
    const second = await connectClient(`${lb}/mcp`, tokens['agent-a']);
    clients.push(first, second);
    for (let i = 0; i < 4; i++) {
      expect((await first.listTools()).tools.map((t) => t.name)).toContain('run_job');
      expect((await second.listTools()).tools.map((t) => t.name)).toContain('run_job');
    }

    // The held call's stream is resumable: when its replica dies, the SDK client reconnects with
    // Last-Event-ID through HAProxy, which sends it to the survivor; the survivor takes the session
    // over from Redis and goes on waiting for the same approval.
    const held = callWaiting(first, 30_000);
    await held.progressed;
    const [pending] = await adminApi(replicas[0]?.baseUrl ?? '').waitForPending(1, 20_000);
    const approvalId = pending?.id ?? '';
    const inFlight = await Promise.all(replicas.map(callsInFlight));
    const servingIndex = inFlight.indexOf(1);
    expect(inFlight.filter((n) => n === 1)).toHaveLength(1);
    const serving = replicas[servingIndex];
    const survivor = replicas[1 - servingIndex];
    if (!serving || !survivor) throw new Error('no replica holds the call');

    await serving.kill();
    await expect.poll(async () => callsInFlight(survivor), { timeout: 20_000 }).toBe(1);
    const survivorApi = adminApi(survivor.baseUrl);
    expect((await survivorApi.waitForPending(1, 5_000)).map((a) => a.id)).toEqual([approvalId]);

    expect((await survivorApi.approve(approvalId, 'ops')).status).toBe(200);
    const result = await held;
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number) });
    // The same client goes on in the same session, now on the survivor.
    expect((await first.listTools()).tools.map((t) => t.name)).toContain('run_job');
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(1);
  }, 60_000);

  it('on a graceful shutdown (SIGTERM, http.resumption.handOverOnShutdown) leaves the held call to the other replica: the agent resumes there, no retry of its own', async () => {
    const { callLog, tokens, replicas, lb } = await replicaPair({ shutdownGrace: '3s', http: { resumption: { handOverOnShutdown: true } } });
    const client = await connectClient(`${lb}/mcp`, tokens['agent-a']);
    clients.push(client);

    const held = callWaiting(client, 30_000);
    await held.progressed;
    const [pending] = await adminApi(replicas[0]?.baseUrl ?? '').waitForPending(1, 20_000);
    const inFlight = await Promise.all(replicas.map(callsInFlight));
    const serving = replicas[inFlight.indexOf(1)];
    const survivor = replicas[1 - inFlight.indexOf(1)];
    if (!serving || !survivor) throw new Error('no replica holds the call');

    await serving.stop();
    await expect.poll(async () => callsInFlight(survivor), { timeout: 20_000 }).toBe(1);
    expect((await adminApi(survivor.baseUrl).approve(pending?.id ?? '', 'ops')).status).toBe(200);
    const result = await held;
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number) });
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(1);
  }, 60_000);
});
