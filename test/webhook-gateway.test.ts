/**
 * The webhook channel through the whole gateway: an SDK client's run_job is held, a local HTTP
 * receiver gets the approval request signed as the README says (and verifies it the way a
 * receiver would), and signed decisions posted to /webhooks/decisions release or refuse the call —
 * with the key's bound identity under the policy's approvers and quorum, and replays refused.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { adminToken, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, type CallLog } from './helpers/upstreams.js';
import { hmacV0, signedDecision, startTestReceiver, type TestReceiver } from './helpers/webhook-receiver.js';

const outboundSecret = 'receiver-secret-0123456789abcdef';
const keySecrets = { approver1: 'key-one-secret-0123456789abcdef', approver2: 'key-two-secret-0123456789abcdef', outsider: 'key-out-secret-0123456789abcdef' };
const runJobArgs = { params: { job_id: 123, notebook_params: { env: 'prod', date: '2026-11-01' } } };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(callLog: CallLog, approval: Record<string, unknown> = {}): Promise<{ gw: TestGateway; receiver: TestReceiver }> {
  const receiver = await startTestReceiver();
  cleanups.push(() => receiver.close());
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog }) },
    policy: {
      version: '1',
      default: 'allow',
      tools: {
        run_job: {
          action: 'approve',
          reason: 'Runs start compute.',
          approval: { approvers: ['U0APPROVER1', 'U0APPROVER2'], timeout: '5m', show: ['params.job_id'], ...approval },
        },
      },
    },
    config: {
      approvals: { progressInterval: '300ms' },
      webhooks: {
        endpoints: { console: { url: receiver.url, secretEnv: 'TEST_WEBHOOK_SECRET' } },
        keys: {
          approver1: { secretEnv: 'TEST_KEY_ONE', identity: 'U0APPROVER1', name: 'Ada (e-mail)' },
          approver2: { secretEnv: 'TEST_KEY_TWO', identity: 'U0APPROVER2' },
          outsider: { secretEnv: 'TEST_KEY_OUT', identity: 'U0OUTSIDER' },
        },
      },
    },
    env: { TEST_WEBHOOK_SECRET: outboundSecret, TEST_KEY_ONE: keySecrets.approver1, TEST_KEY_TWO: keySecrets.approver2, TEST_KEY_OUT: keySecrets.outsider },
  });
  cleanups.push(() => gw.close());
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

async function sendDecision(gw: TestGateway, request: { headers: Record<string, string>; body: string }) {
  const res = await fetch(`${gw.baseUrl}/webhooks/decisions`, { method: 'POST', headers: request.headers, body: request.body });
  return { status: res.status, body: (await res.json()) as { result?: string; approval?: { status: string }; error?: { code: string; message: string } } };
}

async function auditTypes(gw: TestGateway, id: string): Promise<Array<{ type: string; actor?: { kind: string; id: string; name?: string } }>> {
  const res = await fetch(`${gw.baseUrl}/api/audit/approvals/${id}`, { headers: { authorization: `Bearer ${adminToken}` } });
  return ((await res.json()) as { events: Array<{ type: string; actor?: { kind: string; id: string; name?: string } }> }).events;
}

describe('webhook approvals through the gateway', () => {
  it('POSTs the held call to the receiver, signed so the receiver can verify it with its secret', async () => {
    const { gw, receiver } = await setup(createCallLog());
    void heldCall(gw).catch(() => undefined);
    const [request] = await receiver.waitFor(1);
    if (!request) throw new Error('no request');
    const timestamp = Number(request.headers['x-airlock-request-timestamp']);
    expect(Math.abs(Date.now() / 1_000 - timestamp)).toBeLessThan(300);
    expect(request.headers['x-airlock-signature']).toBe(hmacV0(outboundSecret, timestamp, request.rawBody));
    expect(request.headers['x-airlock-signature']).not.toBe(hmacV0('another-secret-0123456789', timestamp, request.rawBody));
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['x-airlock-event']).toBe('requested');
    expect(request.headers['x-airlock-delivery']).toBe(request.body.deliveryId);
    expect(request.body).toMatchObject({
      type: 'approval.requested',
      event: 'requested',
      approval: { status: 'pending', tool: 'run_job', agent: 'agent-a', holdReason: 'Runs start compute.', arguments: runJobArgs },
      decide: { path: '/webhooks/decisions', approvalId: request.body.approval.id, verdicts: ['approve', 'deny'] },
    });
  });

  it('retries a failing receiver with backoff, repeating the delivery id, until it answers 2xx', async () => {
    const { gw, receiver } = await setup(createCallLog());
    receiver.failNext(2, 503);
    void heldCall(gw).catch(() => undefined);
    const [delivered] = await receiver.waitFor(1);
    const attempts = receiver.requests();
    expect(attempts.map((r) => r.status)).toEqual([503, 503, 200]);
    expect(new Set(attempts.map((r) => r.body.deliveryId)).size).toBe(1);
    // Each attempt is signed afresh and verifies on its own.
    for (const attempt of attempts) {
      const ts = Number(attempt.headers['x-airlock-request-timestamp']);
      expect(attempt.headers['x-airlock-signature']).toBe(hmacV0(outboundSecret, ts, attempt.rawBody));
    }
    expect(delivered?.body.event).toBe('requested');
  });

  it('releases the held run_job on a signed approval; the agent gets the run id, the audit names the key’s identity, the receiver hears the outcome', async () => {
    const callLog = createCallLog();
    const { gw, receiver } = await setup(callLog);
    const pending = heldCall(gw);
    const [request] = await receiver.waitFor(1);
    const approvalId = request?.body.approval.id ?? '';
    expect(callLog.calls()).toHaveLength(0);

    const answer = await sendDecision(gw, signedDecision('approver1', keySecrets.approver1, { approvalId, verdict: 'approve' }));
    expect(answer).toMatchObject({ status: 200, body: { result: 'decided', approval: { status: 'approved' } } });
    const result = await pending;
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number) });
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(1);

    const events = await auditTypes(gw, approvalId);
    expect(events.find((e) => e.type === 'approved')?.actor).toMatchObject({ kind: 'webhook', id: 'U0APPROVER1', name: 'Ada (e-mail)' });
    await receiver.waitFor(1, (r) => r.body.event === 'executed' && r.body.approval.status === 'executed');
    expect(receiver.requests().find((r) => r.body.event === 'decided')?.body.decide).toBeUndefined();
  });

  it('denies with the signed reason, which the agent reads', async () => {
    const callLog = createCallLog();
    const { gw, receiver } = await setup(callLog);
    const pending = heldCall(gw);
    const [request] = await receiver.waitFor(1);
    const approvalId = request?.body.approval.id ?? '';
    const answer = await sendDecision(gw, signedDecision('approver2', keySecrets.approver2, { approvalId, verdict: 'deny', reason: 'Use job 124 instead.' }));
    expect(answer.status).toBe(200);
    const result = await pending;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('Use job 124 instead.');
    expect(callLog.calls()).toHaveLength(0);
  });

  it('refuses forged, stale, replayed and unauthorized decisions; nothing runs until a real quorum approves', async () => {
    const callLog = createCallLog();
    const { gw, receiver } = await setup(callLog, { quorum: 2 });
    const pending = heldCall(gw);
    const [request] = await receiver.waitFor(1);
    const approvalId = request?.body.approval.id ?? '';

    // Forged: signed with a secret that is not the key's.
    const forged = await sendDecision(gw, signedDecision('approver1', 'not-the-key-secret-0123456789', { approvalId, verdict: 'approve' }));
    expect(forged.status).toBe(401);
    expect(forged.body.error?.message).toMatch(/bad signature/);
    // Tampered: a valid signature over another body.
    const valid = signedDecision('approver1', keySecrets.approver1, { approvalId, verdict: 'deny', reason: 'no' });
    const tampered = await sendDecision(gw, { headers: valid.headers, body: JSON.stringify({ approvalId, verdict: 'approve' }) });
    expect(tampered.status).toBe(401);
    // Stale: signed ten minutes ago (outside the 5-minute window).
    const stale = await sendDecision(
      gw,
      signedDecision('approver1', keySecrets.approver1, { approvalId, verdict: 'approve' }, Math.floor(Date.now() / 1_000) - 600),
    );
    expect(stale.status).toBe(401);
    expect(stale.body.error?.message).toMatch(/replay window/);
    // Unknown key.
    expect((await sendDecision(gw, signedDecision('nobody', keySecrets.approver1, { approvalId, verdict: 'approve' }))).status).toBe(401);
    // A valid key whose identity is not an approver: refused by the policy, and audited.
    const outsider = await sendDecision(gw, signedDecision('outsider', keySecrets.outsider, { approvalId, verdict: 'approve' }));
    expect(outsider.status).toBe(403);
    expect(outsider.body.error?.message).toMatch(/not an approver/);

    // One real approval: 1 of 2. Its exact replay is refused, and does not count as a second approver.
    const first = signedDecision('approver1', keySecrets.approver1, { approvalId, verdict: 'approve' });
    expect(await sendDecision(gw, first)).toMatchObject({ status: 200, body: { result: 'vote_recorded' } });
    const replay = await sendDecision(gw, first);
    expect(replay.status).toBe(409);
    expect(replay.body.error?.message).toMatch(/already received/);
    // The same identity signing a fresh request is still one approver.
    const again = await sendDecision(
      gw,
      signedDecision('approver1', keySecrets.approver1, { approvalId, verdict: 'approve' }, Math.floor(Date.now() / 1_000) - 1),
    );
    expect(again.status).toBe(409);
    expect(callLog.calls()).toHaveLength(0);
    expect((await adminApi(gw.baseUrl).get<{ approval: { status: string; approvals: number } }>(`/approvals/${approvalId}`)).body.approval).toMatchObject({
      status: 'pending',
      approvals: 1,
    });

    // The second approver completes the quorum: the call runs once.
    expect(await sendDecision(gw, signedDecision('approver2', keySecrets.approver2, { approvalId, verdict: 'approve' }))).toMatchObject({
      status: 200,
      body: { result: 'decided' },
    });
    expect(JSON.parse(textOf(await pending))).toHaveProperty('run_id');
    expect(callLog.calls()).toHaveLength(1);
    const types = (await auditTypes(gw, approvalId)).map((e) => e.type);
    expect(types.filter((t) => t === 'unauthorized_approver')).toHaveLength(1);
    expect(types.filter((t) => t === 'approval_vote')).toHaveLength(1);
    expect(types.filter((t) => t === 'approved')).toHaveLength(1);
  });

  it('approves with edited arguments when the policy lets approvers edit them, and refuses an edit it does not', async () => {
    const callLog = createCallLog();
    const { gw, receiver } = await setup(callLog, { editable: ['params.notebook_params'] });
    const pending = heldCall(gw);
    const [request] = await receiver.waitFor(1);
    const approvalId = request?.body.approval.id ?? '';
    expect(request?.body.approval['editable']).toEqual(['params.notebook_params']);
    const refused = await sendDecision(
      gw,
      signedDecision('approver1', keySecrets.approver1, { approvalId, verdict: 'approve', edits: { 'params.job_id': 1 } }),
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error?.message).toMatch(/not editable/);
    const edited = { env: 'prod', date: '2026-11-03' };
    const answer = await sendDecision(
      gw,
      signedDecision('approver1', keySecrets.approver1, { approvalId, verdict: 'approve', edits: { 'params.notebook_params': edited } }),
    );
    expect(answer).toMatchObject({ status: 200, body: { result: 'decided' } });
    expect(textOf(await pending)).toContain('→ {"date":"2026-11-03","env":"prod"}');
    expect(callLog.calls().map((c) => c.arguments)).toEqual([{ params: { job_id: 123, notebook_params: edited } }]);
  });

  it('refuses to start when a webhook secret variable is unset, naming it', async () => {
    await expect(
      startTestGateway({
        mcpServers: { databricks: databricksMockStdio() },
        config: { webhooks: { endpoints: { ops: { url: 'http://127.0.0.1:9/x', secretEnv: 'TEST_UNSET_WEBHOOK_SECRET' } } } },
      }),
    ).rejects.toThrow(/webhooks\.endpoints\.ops\.secretEnv names TEST_UNSET_WEBHOOK_SECRET, which is unset/);
  });
});
