/**
 * Structured logs (pino), one JSON event per line. In stdio mode stdout carries the MCP protocol,
 * so logs always go to stderr there; elsewhere to stdout as twelve-factor apps do.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** `LOG_LEVEL` overrides; tests pass `silent`. */
  level?: string;
  /** Write to stderr (fd 2) instead of stdout (fd 1). */
  stderr?: boolean;
  /** Use `level` even when LOG_LEVEL is set (commands whose report is their whole output, like doctor). */
  ignoreEnvLevel?: boolean;
}

/** Creates the process logger. Secrets are redacted by key name as a second line of defence. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = (options.ignoreEnvLevel ? undefined : process.env['LOG_LEVEL']) ?? options.level ?? 'info';
  return pino(
    {
      name: 'airlock',
      level,
      base: { pid: process.pid },
      redact: {
        paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: options.stderr ? 2 : 1, sync: false }),
  );
}
