/**
 * Why an upstream could not be reached, and whether it is a configuration problem. A stdio
 * command that does not exist, a working directory that does not exist, a child that exits
 * during start-up, or an HTTP endpoint that refuses the request (401/403/404) will not heal by
 * retrying: the agent is told so (`upstream_misconfigured`) instead of "retry in a few seconds",
 * and `airlock doctor` prints the same reason. A refused or timed-out connection may heal.
 */
import { existsSync } from 'node:fs';
import type { UpstreamSpec } from '../config/schema.js';
import { AirlockError } from '../errors.js';

export interface StartFailure {
  /** True when only a change to the config (or the machine) can fix it. */
  misconfigured: boolean;
  /** One line for the agent, the log and doctor. */
  reason: string;
}

/** Classifies a failed connect; `stderrTail` is the child's last stderr lines (stdio). */
export function classifyStartFailure(error: unknown, spec: UpstreamSpec, stderrTail: readonly string[] = []): StartFailure {
  // Our own errors carry the system error (ENOENT …) as their cause, and the child's stderr in details.
  const ours = error instanceof AirlockError ? error : undefined;
  const code = errorCode(ours ? ours.cause : error);
  const tail = Array.isArray(ours?.details['stderrTail']) ? (ours.details['stderrTail'] as string[]) : stderrTail; // set by stdio-upstream.ts as a string[]
  const message = describeError(error);
  if (spec.kind === 'stdio') {
    if (spec.cwd !== undefined && !existsSync(spec.cwd)) {
      return { misconfigured: true, reason: `its working directory ${spec.cwd} does not exist` };
    }
    if (code === 'ENOENT') {
      return {
        misconfigured: true,
        reason: `the command "${spec.command}" was not found (ENOENT; searched PATH, working directory ${spec.cwd ?? process.cwd()})`,
      };
    }
    if (code === 'EACCES') return { misconfigured: true, reason: `the command "${spec.command}" is not executable (EACCES)` };
    if (ours?.details['exitedDuringStartup'] === true) {
      const said = tail.length > 0 ? `; it said: ${telling(tail).join(' | ').slice(0, 600)}` : '';
      return { misconfigured: true, reason: `"${[spec.command, ...spec.args].join(' ')}" exited during start-up${said}` };
    }
    return { misconfigured: false, reason: message };
  }
  // Airlock's own token for the upstream could not be had (client-credentials.ts says whether config is at fault).
  if (typeof ours?.details['tokenEndpoint'] === 'string') {
    return {
      misconfigured: ours.details['misconfigured'] === true,
      reason: typeof ours.details['reason'] === 'string' ? ours.details['reason'] : ours.message,
    };
  }
  const status = typeof ours?.details['status'] === 'number' ? ours.details['status'] : httpStatus(error);
  if (status === 401 || status === 403)
    return {
      misconfigured: true,
      reason: `${spec.url} refused the credentials (HTTP ${status}): check the upstream's ${spec.auth ? 'auth (the token was refused)' : 'headers'}`,
    };
  if (status === 404 || status === 405) return { misconfigured: true, reason: `no MCP endpoint at ${spec.url} (HTTP ${status}): check the URL's path` };
  return { misconfigured: false, reason: message };
}

/**
 * The agent's answer when an upstream is not connected: a configuration problem (no retry hint:
 * retrying cannot help until an operator fixes it) or an outage (retry after the reconnect).
 */
export function upstreamNotConnectedError(
  upstream: string,
  subject: string,
  state: { misconfigured: boolean; reason: string; retryAfterSec: number },
): AirlockError {
  if (state.misconfigured) {
    return new AirlockError(
      'upstream_misconfigured',
      `${subject} cannot run: upstream "${upstream}" cannot start because ${state.reason}. This is a configuration problem on the Airlock side (mcpServers.${upstream} in its config); retrying will not help until an operator fixes it, so tell the user.`,
      { details: { upstream, reason: state.reason } },
    );
  }
  return new AirlockError(
    'upstream_unavailable',
    `${subject} cannot run now: upstream "${upstream}" is not connected (${state.reason}). Airlock is reconnecting; retry in about ${state.retryAfterSec} s.`,
    { retryAfterSec: state.retryAfterSec, details: { upstream } },
  );
}

/** The lines of a dying child's stderr worth quoting: its error lines (not the stack), else its last lines. */
function telling(lines: readonly string[]): string[] {
  const errors = lines.filter((line) => /error|not found|no such file|cannot|denied|invalid/i.test(line) && !/^at\s/.test(line));
  return errors.length > 0 ? errors.slice(0, 2) : lines.slice(-3);
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const cause = (error as { cause?: unknown } | null)?.cause;
  const causeCode = (cause as { code?: unknown } | null)?.code;
  return typeof causeCode === 'string' ? causeCode : undefined;
}

function httpStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number' && code >= 400 && code < 600) return code;
  const match = /\bHTTP (\d{3})\b|\b(\d{3}) (?:Unauthorized|Forbidden|Not Found|Method Not Allowed)\b/.exec(error instanceof Error ? error.message : '');
  const text = match?.[1] ?? match?.[2];
  return text === undefined ? undefined : Number(text);
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? `: ${cause.message}` : '';
    return `${error.message}${causeText}`.slice(0, 500);
  }
  return String(error).slice(0, 500);
}
