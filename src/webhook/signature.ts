/**
 * The webhook channel's signature scheme, the same as Slack's request signing so receivers can
 * reuse what they know: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the shared
 * secret, sent in `X-Airlock-Signature`, the Unix timestamp (seconds) in
 * `X-Airlock-Request-Timestamp`. Used both ways: on every request Airlock sends a receiver, and
 * on every decision a receiver sends back.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const signatureHeader = 'x-airlock-signature';
export const timestampHeader = 'x-airlock-request-timestamp';
/** Names the webhook key (config `webhooks.keys`) a decision is signed with. */
export const keyHeader = 'x-airlock-key';
/** The same delivery retried carries the same id. */
export const deliveryHeader = 'x-airlock-delivery';
export const eventHeader = 'x-airlock-event';

/** `v0=<hex>` for a body sent at `timestampSec`. */
export function signBody(secret: string, timestampSec: number, body: string | Buffer): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`v0:${timestampSec}:`);
  hmac.update(body);
  return `v0=${hmac.digest('hex')}`;
}

/** Whether `signature` is the one `secret` gives for this timestamp and body (constant-time). */
export function isValidSignature(secret: string, timestampSec: number, body: string | Buffer, signature: string): boolean {
  const expected = Buffer.from(signBody(secret, timestampSec, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The headers of a signed request. */
export function signedHeaders(secret: string, timestampSec: number, body: string): Record<string, string> {
  return { [timestampHeader]: String(timestampSec), [signatureHeader]: signBody(secret, timestampSec, body) };
}
