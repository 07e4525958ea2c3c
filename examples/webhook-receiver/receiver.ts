/**
 * An example webhook receiver for Airlock: a console prompt. It listens for Airlock's signed
 * approval requests, verifies each one (signature and timestamp, exactly as README "Webhook
 * approvals" says a receiver must), drops repeated deliveries, prints the held call, asks at the
 * terminal whether to approve or deny it, and sends the answer back as a signed decision. Only
 * Node's standard library: copy it as the starting point of a Teams, e-mail or incident-tool bridge.
 *
 *   RECEIVER_PORT=9000 WEBHOOK_SECRET=… AIRLOCK_URL=http://localhost:8080 \
 *   AIRLOCK_KEY=console AIRLOCK_KEY_SECRET=… npx tsx examples/webhook-receiver/receiver.ts
 *
 * At the prompt: `a` approves, `d <reason>` denies with that reason, `s` skips (decide elsewhere).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';

const port = Number(process.env['RECEIVER_PORT'] ?? 9000);
const webhookSecret = required('WEBHOOK_SECRET');
const airlockUrl = (process.env['AIRLOCK_URL'] ?? 'http://localhost:8080').replace(/\/+$/, '');
const keyName = required('AIRLOCK_KEY');
const keySecret = required('AIRLOCK_KEY_SECRET');
/** Requests signed longer ago than this are refused (a captured request cannot be replayed later). */
const maxAgeSec = 300;

interface Approval {
  id: string;
  status: string;
  agent: string;
  tool: string;
  holdReason?: string;
  arguments: unknown;
  expiresAt: string;
}
interface Payload {
  type: string;
  event: string;
  deliveryId: string;
  approval: Approval;
  decide?: { url?: string; path: string; approvalId: string };
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`set ${name} (see the comment at the top of this file)`);
    process.exit(2);
  }
  return value;
}

/** `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`: Airlock's (and Slack's) signing scheme. */
function sign(secret: string, timestampSec: number, body: string | Buffer): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestampSec}:`).update(body).digest('hex')}`;
}

/** Why a request from Airlock is not to be trusted, or undefined when it checks out. */
function verify(req: IncomingMessage, body: Buffer): string | undefined {
  const timestamp = Number(req.headers['x-airlock-request-timestamp']);
  const signature = String(req.headers['x-airlock-signature'] ?? '');
  if (!Number.isSafeInteger(timestamp)) return 'no timestamp';
  if (Math.abs(Date.now() / 1_000 - timestamp) > maxAgeSec) return 'stale timestamp';
  const expected = Buffer.from(sign(webhookSecret, timestamp, body));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad signature';
  return undefined;
}

const seen = new Set<string>();
const prompts: Payload[] = [];
let asking = false;
const terminal = createInterface({ input: process.stdin, output: process.stdout });
const lines = terminal[Symbol.asyncIterator]();

async function ask(question: string): Promise<string> {
  process.stdout.write(question);
  const next = await lines.next();
  return next.done ? 's' : String(next.value).trim();
}

/** Asks about one request at a time, in arrival order. */
async function drain(): Promise<void> {
  if (asking) return;
  asking = true;
  try {
    for (let payload = prompts.shift(); payload; payload = prompts.shift()) {
      const a = payload.approval;
      console.log(`\nAPPROVAL REQUEST ${a.id}: agent ${a.agent} calls ${a.tool}${a.holdReason ? ` (${a.holdReason})` : ''}`);
      console.log(`arguments: ${JSON.stringify(a.arguments)}`);
      console.log(`expires: ${a.expiresAt}`);
      const answer = await ask(`Decide ${a.id}: [a]pprove, [d]eny <reason>, [s]kip > `);
      if (answer === 'a') await decide(payload, 'approve', undefined);
      else if (answer.startsWith('d')) await decide(payload, 'deny', answer.slice(1).trim() || 'denied at the console');
      else console.log(`skipped ${a.id}`);
    }
  } finally {
    asking = false;
  }
}

async function decide(payload: Payload, verdict: 'approve' | 'deny', reason: string | undefined): Promise<void> {
  const body = JSON.stringify({ approvalId: payload.approval.id, verdict, ...(reason ? { reason } : {}) });
  const timestamp = Math.floor(Date.now() / 1_000);
  const url = payload.decide?.url ?? `${airlockUrl}${payload.decide?.path ?? '/webhooks/decisions'}`;
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-airlock-key': keyName,
      'x-airlock-request-timestamp': String(timestamp),
      'x-airlock-signature': sign(keySecret, timestamp, body),
    },
    body,
  });
  const answer = (await response.json()) as { result?: string; approval?: { status: string }; error?: { message: string } };
  if (response.ok) console.log(`DECISION ${payload.approval.id}: ${answer.result} (status ${answer.approval?.status})`);
  else console.log(`DECISION REFUSED ${payload.approval.id}: HTTP ${response.status} ${answer.error?.message ?? ''}`);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const problem = verify(req, body);
    if (problem) {
      console.log(`REJECTED a request: ${problem}`);
      res.writeHead(401).end(problem);
      return;
    }
    res.writeHead(204).end(); // answer at once: Airlock retries a slow receiver
    const payload = JSON.parse(body.toString('utf8')) as Payload;
    if (seen.has(payload.deliveryId)) return; // a retried delivery
    seen.add(payload.deliveryId);
    if (payload.type === 'approval.requested' && payload.decide) {
      prompts.push(payload);
      void drain();
    } else {
      console.log(`UPDATE ${payload.approval.id}: ${payload.event} (status ${payload.approval.status})`);
    }
  });
});

server.listen(port, '127.0.0.1', () => console.log(`webhook receiver listening on http://127.0.0.1:${port}/`));
process.on('SIGTERM', () => {
  server.close();
  terminal.close();
  process.exit(0);
});
