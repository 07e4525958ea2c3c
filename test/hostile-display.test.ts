/**
 * What an approver or an auditor reads cannot lie, and what an attacker writes cannot act:
 * through a real gateway with Slack (a local fake of the Web API, signed requests to the real
 * /slack/events), the dashboard and the exports — bidi and zero-width characters shown escaped,
 * an upstream's echo of agent input posted as code, formula cells neutralised, future-stamped
 * Slack requests refused; and a `__proto__` member injected into a stored audit event caught by
 * `airlock audit verify`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { chainHash } from '../src/audit/chain.js';
import { decodeEntry } from '../src/audit/stream-entry.js';
import { runAuditCommand } from '../src/cli/audit.js';
import { engineOrderJson } from '../src/util/canonical.js';
import { csvField } from '../src/audit/csv.js';
import { adminApi, type AdminApi } from './helpers/admin-api.js';
import { nth, openTestStore, readAll, rewriteStream, sampleEvent, setField } from './helpers/audit.js';
import { testPrefix } from './helpers/approvals.js';
import { blockActionsPayload, interactionBody, signSlackRequest, startFakeSlack, type FakeSlack } from './helpers/fake-slack.js';
import { adminToken, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

const signingSecret = 'hostile-display-signing-secret';
const approval = { approvers: ['U0APPROVER1'], channel: 'C0APPROVALS', timeout: '5m', show: ['params.cluster_id', 'params.notebook_params'] };

let slack: FakeSlack;
let gw: TestGateway;
let api: AdminApi;

beforeAll(async () => {
  slack = await startFakeSlack();
  gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog: createCallLog() }) },
    policy: { version: '1', default: 'allow', tools: { run_job: { action: 'approve', approval }, start_cluster: { action: 'approve', approval } } },
    config: { approvals: { progressInterval: '300ms' } },
    env: { SLACK_BOT_TOKEN: 'xoxb-hostile-test', SLACK_SIGNING_SECRET: signingSecret, SLACK_API_URL: slack.url },
  });
  api = adminApi(gw.baseUrl);
}, 60_000);
afterAll(async () => {
  await gw?.close();
  await slack?.close();
});

/** A held call from a client that keeps its request alive with progress until the decision. */
async function held(name: string, args: Record<string, unknown>): Promise<{ result: Promise<CallToolResult>; id: string }> {
  const before = new Set((await api.approvals('pending')).map((a) => a.id));
  const client = await gw.connect('agent-a');
  const result = client.callTool({ name, arguments: args }, CallToolResultSchema, {
    onprogress: () => undefined,
    resetTimeoutOnProgress: true,
    timeout: 30_000,
  }) as Promise<CallToolResult>;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const fresh = (await api.approvals('pending')).find((a) => !before.has(a.id));
    if (fresh) return { result, id: fresh.id };
    if (Date.now() > deadline) throw new Error('the call was not held');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every string inside a Slack message's blocks and text. */
function textsOf(args: Record<string, unknown> | undefined): string {
  const out: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value === 'string') out.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(args?.['blocks']);
  walk(args?.['text']);
  return out.join('\n');
}

async function postedFor(id: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = slack.calls('chat.postMessage').find((c) => JSON.stringify(c.args['blocks']).includes(id));
    if (found) return found.args;
    if (Date.now() > deadline) throw new Error(`no Slack message for ${id}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function click(id: string, timestampSec?: number): Promise<Response> {
  const body = interactionBody(blockActionsPayload({ action: 'airlock_approve', approvalId: id, user: 'U0APPROVER1' }));
  return fetch(`${gw.baseUrl}/slack/events`, {
    method: 'POST',
    headers: { ...signSlackRequest(body, signingSecret, timestampSec), 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
}

const bidi = 'invoice_\u202Eexe.pdf';
const zeroWidth = 'pro\u200Bd';

describe('what an approver reads', () => {
  it('shows bidi and zero-width characters of a held call escaped in Slack and on the dashboard', async () => {
    const call = await held('run_job', { params: { job_id: 101, notebook_params: { file: bidi, env: zeroWidth } } });
    const texts = textsOf(await postedFor(call.id));
    expect(texts).toContain('invoice_\\u202Eexe.pdf');
    expect(texts).toContain('pro\\u200Bd');
    expect(texts).not.toMatch(/[\u202E\u200B]/);

    const browser = request.agent(gw.baseUrl);
    const form = await browser.get('/login').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1] ?? '';
    await browser.post('/login').set('Origin', gw.baseUrl).type('form').send({ _csrf: csrf, user: 'admin', token: adminToken }).expect(303);
    const page = await browser.get(`/approvals/${call.id}`).expect(200);
    expect(page.text).toContain('invoice_\\u202Eexe.pdf');
    expect(page.text).not.toMatch(/[\u202E\u200B]/);

    expect((await api.deny(call.id, 'not now')).status).toBe(200);
    await call.result;
  });

  it("posts an upstream error that echoes the agent's input in the thread as a code block: no live bold, no links, no mentions", async () => {
    const clusterId = '*URGENT* approve now https://evil.example/x <!here>';
    const call = await held('start_cluster', { params: { cluster_id: clusterId } });
    await postedFor(call.id);
    expect((await click(call.id)).status).toBe(200);
    await call.result;
    const deadline = Date.now() + 15_000;
    let reply: Record<string, unknown> | undefined;
    while (!reply && Date.now() < deadline) {
      reply = slack.calls('chat.postMessage').find((c) => typeof c.args['thread_ts'] === 'string' && String(c.args['text']).includes('evil.example'))?.args;
      if (!reply) await new Promise((r) => setTimeout(r, 50));
    }
    const text = String(reply?.['text']);
    expect(text).toMatch(/^⚠️ The tool reported an error in .*\n```\n.*\*URGENT\* approve now https:\/\/evil\.example\/x &lt;!here&gt;.*\n```$/s);
    expect(JSON.stringify(reply?.['blocks'])).toContain('"verbatim":true');
    expect(String(reply?.['unfurl_links'])).toBe('false');
  });
});

describe('Slack request timestamps', () => {
  it('refuses a correctly signed request stamped more than 60 s in the future, and accepts one within the skew', async () => {
    const call = await held('run_job', { params: { job_id: 102 } });
    await postedFor(call.id);
    const nowSec = Math.floor(Date.now() / 1_000);
    const future = await click(call.id, nowSec + 3_600);
    expect(future.status).toBe(401);
    expect(await future.text()).toMatch(/in the future/);
    expect((await gw.gateway.approvals.get(call.id))?.status).toBe('pending');
    expect((await click(call.id, nowSec + 30)).status).toBe(200);
    await call.result;
    expect((await gw.gateway.approvals.get(call.id))?.status).toBe('executed');
  });
});

describe('exports', () => {
  it('writes a formula-like deny reason as text in CSV, and invisible characters escaped in CSV and JSON lines', async () => {
    const call = await held('run_job', { params: { job_id: 103, notebook_params: { file: bidi } } });
    const reason = '=HYPERLINK("https://evil.example","click me")';
    expect((await api.deny(call.id, reason)).status).toBe(200);
    await call.result;
    const exported = async (format: string) =>
      (await fetch(`${gw.baseUrl}/api/audit/export?format=${format}&type=approval_denied`, { headers: { authorization: `Bearer ${adminToken}` } })).text();

    const csv = await exported('csv');
    expect(csv).toContain(`"'=HYPERLINK(""https://evil.example"",""click me"")"`);
    expect(csv).not.toMatch(/,=HYPERLINK|,"=HYPERLINK/);
    expect(csv).toContain('invoice_\\u202Eexe.pdf');
    expect(csv).not.toContain('\u202E');

    const jsonl = await exported('jsonl');
    expect(jsonl).toContain('invoice_\\u202eexe.pdf');
    expect(jsonl).not.toContain('\u202E');
    const line =
      jsonl
        .trim()
        .split('\n')
        .find((l) => l.includes(call.id)) ?? '{}';
    expect((JSON.parse(line) as { arguments: unknown }).arguments).toEqual({ params: { job_id: 103, notebook_params: { file: bidi } } }); // lossless
    expect((await api.get<{ ok: boolean }>('/audit/verify')).body.ok).toBe(true);
  });

  it('neutralises every cell a spreadsheet would read as a formula (OWASP: = + - @ tab CR)', () => {
    for (const cell of ['=1+1', '+cmd|calc', '-2+3', '@SUM(A1)', '\tx', '\rx']) expect(csvField(cell).replace(/^"/, '')).toMatch(/^'/);
    expect(csvField('plain text')).toBe('plain text');
    expect(csvField('a=b')).toBe('a=b');
  });
});

describe('audit verify', () => {
  it('fails on a stored event into which a "__proto__" member was injected', async () => {
    const prefix = testPrefix();
    const { store, redis, close } = await openTestStore(prefix);
    try {
      for (let i = 0; i < 4; i += 1) await store.append(sampleEvent('executed', { details: { n: i } }));
      const entries = await readAll(redis, store.keys.stream);
      await rewriteStream(redis, store.keys.stream, (all) => {
        const fields = nth(all, 2)[1];
        const args = fields[fields.indexOf('arguments') + 1] ?? '{}';
        setField(fields, 'arguments', args.replace(/\}$/, ',"__proto__":{"job_id":999,"drop_all":true}}'));
        return all;
      });
      expect(await store.verify()).toMatchObject({ ok: false, at: entries[2]?.[0], seq: 3, problem: 'edited' });

      // The operator's command says so too (exit 1), reading Redis with the config's prefix.
      const dir = mkdtempSync(path.join(tmpdir(), 'airlock-verify-'));
      const config = path.join(dir, 'airlock.config.json');
      writeFileSync(config, JSON.stringify({ redis: { url: inject('redisUrl'), prefix }, mcpServers: { x: { command: 'node' } } }));
      const stdout = new PassThrough();
      let printed = '';
      stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
      expect(await runAuditCommand(['verify', '--config', config], { stdout, stderr: new PassThrough() })).toBe(1);
      expect(printed).toMatch(/seq 3/);
    } finally {
      await close();
    }
  });

  it('still verifies an event hashed before RFC 8785 (index-like names first), and catches a "__proto__" member injected into it', async () => {
    const { store, redis, close } = await openTestStore(testPrefix());
    try {
      await store.append(sampleEvent('allowed', { arguments: { params: { '10': 'ten', '9': 'nine', b: 1 } } }));
      const decoded = decodeEntry(nth(await readAll(redis, store.keys.stream), 0));
      if (!decoded.ok) throw new Error('fixture');
      const { id: _id, seq, prevHash, hash: _hash, ...content } = decoded.event;
      // What the pre-RFC 8785 writer stored: JSON.stringify of a sorted copy, "9" and "10" first in numeric order.
      const legacy = engineOrderJson(content);
      expect(legacy.differs).toBe(true);
      expect(legacy.json).toContain('{"9":"nine","10":"ten","b":1}');
      const legacyHash = chainHash(legacy.json, seq, prevHash);
      await rewriteStream(redis, store.keys.stream, (all) => {
        setField(nth(all, 0)[1], 'hash', legacyHash);
        return all;
      });
      await redis.set(store.keys.head, `${seq} ${legacyHash}`);
      expect(await store.verify()).toMatchObject({ ok: true, events: 1 });

      await rewriteStream(redis, store.keys.stream, (all) => {
        const fields = nth(all, 0)[1];
        const args = fields[fields.indexOf('arguments') + 1] ?? '{}';
        setField(fields, 'arguments', args.replace(/\}$/, ',"__proto__":{"x":1}}'));
        return all;
      });
      expect(await store.verify()).toMatchObject({ ok: false, seq: 1, problem: 'edited' });
    } finally {
      await close();
    }
  });

  it('fails on a "__proto__" member injected at the top of an event\'s details', async () => {
    const { store, redis, close } = await openTestStore(testPrefix());
    try {
      for (let i = 0; i < 3; i += 1) await store.append(sampleEvent('allowed', { details: { n: i } }));
      await rewriteStream(redis, store.keys.stream, (all) => {
        setField(nth(all, 1)[1], 'details', '{"__proto__":{"approved":true},"n":1}');
        return all;
      });
      expect(await store.verify()).toMatchObject({ ok: false, seq: 2, problem: 'edited' });
    } finally {
      await close();
    }
  });
});
