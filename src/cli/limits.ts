/**
 * `airlock limits show [--agent NAME] [--json]`: the rate-limit counters as the gateway sees them,
 * read straight from Redis (no gateway needs to be running): how many calls each counter holds in
 * its current window, its max and window, and when the window next frees a slot.
 */
import { RedisRateLimiter, type LimitUsage } from '../limits/redis-limiter.js';
import { formatDurationMs } from '../util/duration.js';
import { CliError, configOption, connectCliRedis, loadCliConfig, parse } from './common.js';

const usage = 'usage: airlock limits show [--agent NAME] [--json] [--config FILE]';

/** Runs `airlock limits …`; returns the exit code. */
export async function runLimitsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...configOption,
    agent: { type: 'string' },
    json: { type: 'boolean' },
  });
  const [sub, extra] = positionals;
  if (sub !== 'show' || extra !== undefined) throw new CliError(usage);
  const config = loadCliConfig(values.config);
  const redis = await connectCliRedis(config); // an unreachable Redis is reported once, as the command's error
  try {
    const limiter = new RedisRateLimiter({ redis, prefix: config.redis.prefix });
    const usages = await limiter.inspect(values.agent === undefined ? {} : { agent: values.agent });
    process.stdout.write(values.json === true ? `${JSON.stringify(usages, null, 2)}\n` : renderUsages(usages, values.agent));
    return 0;
  } finally {
    redis.disconnect();
  }
}

/** The table `limits show` prints; one row per counter and subject with calls in its window. */
export function renderUsages(usages: readonly LimitUsage[], agent?: string): string {
  if (usages.length === 0)
    return agent === undefined ? 'no calls counted in any rate-limit window\n' : `no calls counted in any rate-limit window that binds agent ${agent}\n`;
  const header = ['COUNTER', 'SCOPE', 'SUBJECT', 'COUNT', 'MAX', 'WINDOW', 'RESETS IN'];
  const rows = usages.map((u) => [
    u.counter,
    u.scope,
    u.subject ?? '-',
    String(u.count),
    String(u.max),
    formatDurationMs(u.windowSec * 1_000),
    formatDurationMs(u.resetsInMs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
