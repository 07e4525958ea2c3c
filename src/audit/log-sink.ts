/**
 * An AuditSink that writes each event as a structured log line. Used where no audit store is
 * running (the CLI) and as the fallback shape: same fields as the stored events.
 */
import type { Logger } from '../log.js';
import type { AuditEventInput, AuditSink } from './types.js';

export function logAuditSink(log: Logger): AuditSink {
  return {
    async append(event: AuditEventInput) {
      log.info({ audit: event }, `audit ${event.type}`);
    },
  };
}
