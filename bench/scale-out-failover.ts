/**
 * bench:scale-out, part 1 — how long an agent waits for its result when the replica holding its
 * call dies. Two replicas on one Redis behind HAProxy (deploy/haproxy/haproxy.cfg), the Databricks
 * mock as their stdio child, a policy that holds run_job. Per iteration: the official SDK client
 * calls run_job through HAProxy (progress keeps it alive), the call is held; the replica serving
 * it is found from its metrics and SIGKILLed (t0); the call is approved on the survivor at once;
 * t1 is when the client's callTool resolves with a run id. The client's fetch is traced, so t1 − t0
 * splits into: the wait before the client resumes (GET + Last-Event-ID sent), the takeover (that
 * GET's answer headers: HAProxy redispatched it, the survivor loaded the session from Redis,
 * re-opened the upstream session and re-dispatched the held request), and the rest (the release,
 * the run upstream, the answer). The killed replica is replaced for the next iteration, and the
 * mock's call log proves run_job ran once per iteration. Each iteration passes another notebook parameter:
 * an identical call would be answered from the kept result of the previous one, never held.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { generateToken } from '../src/identity/tokens.js';
import { createCallLog } from '../test/helpers/upstreams.js';
import { adminOf, builtMockStdio, callsInFlight, startHaproxy, startReplica, textOf, type LoadBalancer, type Replica } from './cluster.js';

export interface FailoverSample {
  /** t1 − t0, ms; undefined when the call failed. */
  totalMs?: number;
  /** t0 → the client sent its resuming GET (the first one, when it took several). */
  reconnectWaitMs?: number;
  /** That GET sent → the answer's headers of the one that succeeded (redispatch + takeover). */
  takeoverMs?: number;
  /** Headers → callTool resolved (release, upstream run, answer). */
  restMs?: number;
  /** Resuming GETs the client sent before one succeeded (1 = the first worked). */
  resumeAttempts: number;
  /** t0 → HAProxy's health check marked the dead replica DOWN, when that came before the result. */
  haproxyDownMs?: number;
  /** run_job calls the upstream received in this iteration. */
  upstreamRuns: number;
  error?: string;
}

export interface FailoverSeries {
  retry: string;
  /** How the shipped haproxy.cfg was changed for this series, if it was. */
  haproxy: string;
  samples: FailoverSample[];
}

interface ResumeTrace {
  lastEventId: string;
  sentAt: number;
  headersAt?: number;
  status?: number;
  error?: string;
  /** The SSE text the GET delivered (kept for a failure's report). */
  body?: string;
}

const holdRunJob = {
  version: '1',
  default: 'allow',
  tools: { run_job: { action: 'approve', approval: { approvers: [], timeout: '5m' } } },
};

/**
 * `redispatchOnLastRetry`: the shipped haproxy.cfg with a bare `option redispatch` (HAProxy's
 * default: redispatch on the last retry, after a 1 s turn-around on the dead server) instead of its
 * `option redispatch 1`, to show what that line buys.
 */
export async function runFailovers(
  redisUrl: string,
  iterations: number,
  options: { retry: string; redispatchOnLastRetry?: boolean },
  log: (line: string) => void,
): Promise<FailoverSeries> {
  const { retry } = options;
  const haproxy = options.redispatchOnLastRetry ? 'bare `option redispatch`' : 'as shipped';
  const callLog = createCallLog();
  const prefix = `bench-failover-${process.pid}-${retry}-${options.redispatchOnLastRetry ? 'last' : 'shipped'}:`;
  const tokens = { 'agent-a': generateToken() };
  const start = (port?: number) =>
    startReplica({
      redisUrl,
      prefix,
      tokens,
      agents: ['agent-a'],
      mcpServers: { databricks: builtMockStdio(callLog) },
      policy: holdRunJob,
      config: { approvals: { progressInterval: '300ms' }, shutdownGrace: '1s', http: { resumption: { retry } } },
      ...(port === undefined ? {} : { port }),
    });
  const replicas: [Replica, Replica] = [await start(), await start()];
  // One HAProxy for the whole series, as in production: its health checks run on their own
  // schedule, so a kill lands at a random point between two checks.
  const lb = await startHaproxy([replicas[0].address, replicas[1].address], options.redispatchOnLastRetry ? redispatchOnLastRetry : undefined);
  const redis = new Redis(redisUrl, { connectionName: 'bench:failover' });
  const samples: FailoverSample[] = [];
  try {
    for (let i = 0; i < iterations; i++) {
      await waitUntilBothUp(lb);
      const runsBefore = callLog.calls().filter((c) => c.tool === 'run_job').length;
      let killedIndex = -1;
      const outcome = await oneFailover(redis, prefix, lb, tokens['agent-a'], replicas, i, (index) => (killedIndex = index));
      const upstreamRuns = callLog.calls().filter((c) => c.tool === 'run_job').length - runsBefore;
      const sample = { ...outcome, upstreamRuns };
      samples.push(sample);
      log(
        `failover ${i + 1}/${iterations} (retry ${retry}, HAProxy ${haproxy}): ` +
          (sample.error
            ? `FAILED: ${sample.error}`
            : `${fmt(sample.totalMs)} ms (wait ${fmt(sample.reconnectWaitMs)}, takeover ${fmt(sample.takeoverMs)}, rest ${fmt(sample.restMs)}), ` +
              `${sample.resumeAttempts} GET(s), ${upstreamRuns} run(s) upstream` +
              (sample.haproxyDownMs === undefined ? '' : `, HAProxy marked it DOWN at ${fmt(sample.haproxyDownMs)} ms`)),
      );
      if (killedIndex < 0) continue; // nothing was killed: both replicas still serve
      // The replacement listens where the dead one did, so the same HAProxy finds it when its checks pass.
      replicas[killedIndex] = await start(Number(new URL(replicas[killedIndex]?.baseUrl ?? '').port));
    }
  } finally {
    await lb.stop();
    for (const r of replicas) r.kill();
    redis.disconnect();
  }
  return { retry, haproxy, samples };
}

async function oneFailover(
  redis: Redis,
  prefix: string,
  lb: LoadBalancer,
  token: string,
  replicas: [Replica, Replica],
  attempt: number,
  killed: (index: number) => void,
): Promise<Omit<FailoverSample, 'upstreamRuns'>> {
  const traces: ResumeTrace[] = [];
  const client = new Client({ name: 'bench-failover', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${lb.url}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: tracingFetch(traces),
  });
  await client.connect(transport);
  try {
    let streamToken = '';
    let resolvedAt = 0;
    const held = (
      client.callTool(
        { name: 'run_job', arguments: { params: { job_id: 123, notebook_params: { date: '2026-11-02', attempt: String(attempt) } } } },
        CallToolResultSchema,
        {
          onprogress: () => undefined,
          resetTimeoutOnProgress: true,
          timeout: 15_000, // success takes seconds; a call not answered by then is reported as failed
          onresumptiontoken: (t) => (streamToken = t),
        },
      ) as Promise<CallToolResult>
    ).then(
      (result) => {
        resolvedAt = performance.now();
        return result;
      },
      (error: unknown) => {
        resolvedAt = performance.now();
        throw error;
      },
    );
    held.catch(() => undefined); // awaited below; no unhandled rejection meanwhile

    const [pending] = await adminOf(replicas[0].baseUrl).waitForPending(1, 20_000);
    // Held means resumable only once the client has its stream's first event id and the session
    // notes the request as held (both follow the approval record by a round trip or two; a kill
    // inside that window is a different story, told in BENCHMARKS.md).
    const heldKey = `${prefix}mcp-session:${transport.sessionId ?? ''}:held`;
    const deadline = Date.now() + 10_000;
    while (streamToken === '' || (await redis.hlen(heldKey)) === 0) {
      if (Date.now() > deadline) return { resumeAttempts: 0, error: 'the held call never became resumable (no event id, or not noted as held)' };
      await new Promise((r) => setTimeout(r, 5));
    }
    const inFlight = await Promise.all(replicas.map((r) => callsInFlight(r.baseUrl)));
    const servingIndex = inFlight.indexOf(1);
    if (servingIndex < 0 || inFlight.filter((n) => n === 1).length !== 1) {
      return { resumeAttempts: 0, error: `could not tell which replica holds the call (in flight: ${inFlight.join(', ')})` };
    }
    const survivor = replicas[1 - servingIndex] as Replica; // index 0 or 1
    const t0 = performance.now();
    replicas[servingIndex]?.kill();
    killed(servingIndex);
    const approved = await adminOf(survivor.baseUrl).approve(pending ?? '');
    if (approved.status !== 200) return { resumeAttempts: 0, error: `approve on the survivor answered ${approved.status}: ${approved.body}` };

    let result: CallToolResult;
    try {
      result = await held;
    } catch (error) {
      const seen = traces
        .filter((t) => t.sentAt > t0)
        .map(
          (t) =>
            `GET ${t.lastEventId} at +${(t.sentAt - t0).toFixed(0)} ms → ${t.status ?? t.error ?? 'no answer'}${t.headersAt ? ` at +${(t.headersAt - t0).toFixed(0)} ms` : ''}, body ${JSON.stringify(t.body?.slice(0, 600))}`,
        );
      // What Redis kept for the session: was the answer stored, is the request still noted as held?
      const base = `${prefix}mcp-session:${transport.sessionId ?? ''}`;
      const stored = (await redis.xrange(`${base}:events`, '-', '+')).map(([id, fields]) => {
        const m = fields[fields.indexOf('m') + 1];
        const kind = fields.includes('m') ? (m?.includes('"result"') ? 'result' : m?.includes('progress') ? 'progress' : 'other') : 'priming';
        return `${fields[1] ?? ''}/${id} ${kind}`;
      });
      const stillHeld = await redis.hkeys(`${base}:held`);
      return {
        resumeAttempts: countResumes(traces, streamToken),
        error:
          `callTool failed: ${error instanceof Error ? error.message : String(error)} (stream ${streamToken}; ${seen.join('; ') || 'no resuming GET'}); ` +
          `events stored: ${stored.join(', ')}; still held: ${stillHeld.join(', ') || 'none'}; survivor log: ${survivor.output().slice(-1500)}`,
      };
    }
    const runId = (JSON.parse(textOf(result) || '{}') as { run_id?: unknown }).run_id;
    if (result.isError || typeof runId !== 'number')
      return { resumeAttempts: countResumes(traces, streamToken), error: `no run id: ${textOf(result).slice(0, 200)}` };
    const ours = traces.filter((t) => t.lastEventId.split('/')[0] === streamToken.split('/')[0]);
    const first = ours[0];
    const success = ours.find((t) => t.status === 200);
    if (!first || !success?.headersAt) return { resumeAttempts: ours.length, totalMs: resolvedAt - t0, error: 'answered without a traced resume' };
    const downAt = lb.serverDownTimes().find((at) => at > t0);
    return {
      ...(downAt !== undefined && downAt < resolvedAt ? { haproxyDownMs: downAt - t0 } : {}),
      totalMs: resolvedAt - t0,
      reconnectWaitMs: first.sentAt - t0,
      takeoverMs: success.headersAt - first.sentAt,
      restMs: resolvedAt - success.headersAt,
      resumeAttempts: ours.indexOf(success) + 1,
    };
  } finally {
    await client.close().catch(() => undefined);
  }
}

function redispatchOnLastRetry(cfg: string): string {
  const edited = cfg.replace(/^(\s*option redispatch) 1\s*$/m, '$1');
  if (edited === cfg) throw new Error('deploy/haproxy/haproxy.cfg has no "option redispatch 1" line to change: update bench/scale-out-failover.ts');
  return edited;
}

/** Both servers fully up (not "UP 1/2", going down): a kill then takes two failed checks to be noticed, as in steady state. */
async function waitUntilBothUp(lb: LoadBalancer): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await lb.serverStatus();
    if (Object.values(status).length === 2 && Object.values(status).every((s) => s === 'UP')) return;
    if (Date.now() > deadline) throw new Error(`HAProxy does not see both replicas up: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function countResumes(traces: ResumeTrace[], streamToken: string): number {
  return traces.filter((t) => t.lastEventId.split('/')[0] === streamToken.split('/')[0]).length;
}

/** fetch that notes every resuming GET (Last-Event-ID): when it left, when its headers came, and its status. */
function tracingFetch(traces: ResumeTrace[]) {
  return async (url: string | URL, init?: RequestInit): Promise<Response> => {
    // Every GET: a resume carries Last-Event-ID; one without it after a failover has lost its place.
    const lastEventId = new Headers(init?.headers).get('last-event-id') ?? '(none)';
    if ((init?.method ?? 'GET') !== 'GET') return fetch(url, init);
    const trace: ResumeTrace = { lastEventId, sentAt: performance.now() };
    traces.push(trace);
    try {
      const res = await fetch(url, init);
      trace.headersAt = performance.now();
      trace.status = res.status;
      trace.body = '';
      void res
        .clone()
        .text()
        .then(
          (text) => (trace.body = text),
          (error: unknown) => (trace.body += ` (read failed: ${String(error)})`),
        );
      return res;
    } catch (error) {
      trace.error = error instanceof Error ? error.message : String(error);
      throw error;
    }
  };
}

function fmt(ms: number | undefined): string {
  return ms === undefined ? '—' : ms.toFixed(0);
}
