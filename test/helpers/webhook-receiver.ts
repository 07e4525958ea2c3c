/**
 * A local HTTP server standing in for a webhook receiver (Teams bridge, e-mail gateway …): it
 * records every request Airlock sends — raw body and headers, so tests verify the signature the
 * way a receiver would — and answers with failures on demand. Plus a signer for decisions sent
 * back to the gateway, written from the README's description rather than from Airlock's code.
 */
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  headers: Record<string, string>;
  rawBody: string;
  body: { type: string; event: string; deliveryId: string; approval: { id: string; status: string; [key: string]: unknown }; decide?: unknown };
  /** The status the receiver answered. */
  status: number;
}

export interface TestReceiver {
  url: string;
  requests(): ReceivedRequest[];
  /** Resolves once `count` requests were answered with a 2xx and `match` holds for the last; rejects after `timeoutMs`. */
  waitFor(count: number, match?: (r: ReceivedRequest) => boolean, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Answers the next `count` requests with `status`. */
  failNext(count: number, status?: number): void;
  close(): Promise<void>;
}

export async function startTestReceiver(): Promise<TestReceiver> {
  const received: ReceivedRequest[] = [];
  let failures: { count: number; status: number } = { count: 0, status: 500 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const status = failures.count > 0 ? failures.status : 200;
      if (failures.count > 0) failures = { ...failures, count: failures.count - 1 };
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) headers[name] = String(value);
      received.push({ headers, rawBody, body: JSON.parse(rawBody), status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'receiver failed');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo; // TCP listener
  const ok = () => received.filter((r) => r.status === 200);
  return {
    url: `http://127.0.0.1:${port}/airlock`,
    requests: () => [...received],
    async waitFor(count, match = () => true, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const delivered = ok().filter(match);
        if (delivered.length >= count) return delivered;
        if (Date.now() > deadline)
          throw new Error(`expected ${count} matching deliveries, got ${delivered.length}: ${received.map((r) => `${r.body.event}/${r.status}`).join(', ')}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    failNext(count, status = 500) {
      failures = { count, status };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `v0=` + hex HMAC-SHA256 over `v0:{timestamp}:{body}`, as the README documents it. */
export function hmacV0(secret: string, timestampSec: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestampSec}:${body}`).digest('hex')}`;
}

/** A decision request as a receiver builds it. */
export function signedDecision(
  key: string,
  secret: string,
  decision: { approvalId: string; verdict: 'approve' | 'deny'; reason?: string; edits?: Record<string, unknown> },
  timestampSec = Math.floor(Date.now() / 1_000),
): { headers: Record<string, string>; body: string } {
  const body = JSON.stringify(decision);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-airlock-key': key,
      'x-airlock-request-timestamp': String(timestampSec),
      'x-airlock-signature': hmacV0(secret, timestampSec, body),
    },
  };
}
