/**
 * A check Bolt lacks, run before it on `POST /slack/events`: a request whose
 * `X-Slack-Request-Timestamp` lies more than a small clock skew in the future is refused. Bolt
 * refuses timestamps older than five minutes, but not future ones — and a request signed for a
 * time far ahead (by someone who once held the signing secret, or replayed from a broken clock)
 * would stay "fresh" until then. Slack stamps each request as it sends it, so a real one is
 * never more than clock skew ahead. Only the header is read: Bolt still gets the raw body.
 */
import type { RequestHandler } from 'express';
import type { Logger } from '../log.js';

/** How far ahead of our clock a Slack request may be stamped (clock skew between Slack and us). */
export const maxFutureSkewSec = 60;

export function refuseFutureTimestamps(options: { now: () => number; log: Logger; maxSkewSec?: number }): RequestHandler {
  const maxSkewSec = options.maxSkewSec ?? maxFutureSkewSec;
  return (req, res, next) => {
    const header = req.header('x-slack-request-timestamp');
    const stamped = header === undefined ? Number.NaN : Number(header);
    const nowSec = Math.floor(options.now() / 1_000);
    if (Number.isFinite(stamped) && stamped > nowSec + maxSkewSec) {
      options.log.warn({ timestamp: stamped, now: nowSec }, 'refused a Slack request stamped in the future');
      res
        .status(401)
        .type('text')
        .send(`Slack request timestamp is ${stamped - nowSec} s in the future (more than ${maxSkewSec} s of clock skew); check the clocks.`);
      return;
    }
    next();
  };
}
