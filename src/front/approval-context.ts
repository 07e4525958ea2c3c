/**
 * Context for approvers (policy `approval.context`): after a call is held, read-only upstream
 * calls whose answers are shown with the request — e.g. the job a run_job starts, found in
 * list_jobs. They run on the holding agent's own upstream session, with arguments taken from the
 * held call; each has a deadline (a late or failing one shows "context unavailable"), its answer
 * is redacted and cut to a size an approver can read, and answers are cached briefly per
 * replica. It runs beside the hold, never before it: nothing here can delay or fail the hold.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ContextEntry } from '../approvals/types.js';
import type { ContextCall } from '../policy/types.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';
import { canonicalArguments, canonicalJson } from '../util/canonical.js';
import { getPath, parsePath, redactPaths } from '../util/paths.js';
import type { CallContext } from './call-context.js';

export interface ContextFetcherOptions {
  pool: Pick<UpstreamPool, 'resolveTool'>;
  /** How long an answer is reused for the same call. Default 30 s. */
  cacheMs?: number;
  now?: () => number;
}

const maxCached = 500;

export class ContextFetcher {
  private readonly cache = new Map<string, { until: number; answer: unknown }>();
  private readonly cacheMs: number;
  private readonly now: () => number;

  constructor(private readonly options: ContextFetcherOptions) {
    this.cacheMs = options.cacheMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** Every context call's entry, in the policy's order; never throws. */
  fetchAll(ctx: CallContext, calls: readonly ContextCall[], held: Record<string, unknown>): Promise<ContextEntry[]> {
    return Promise.all(calls.map((call) => this.fetchOne(ctx, call, held)));
  }

  private async fetchOne(ctx: CallContext, call: ContextCall, held: Record<string, unknown>): Promise<ContextEntry> {
    const base = { label: call.label, tool: call.tool };
    try {
      const args = structuredClone(call.arguments);
      for (const [target, source] of call.from) setPath(args, target, getPath(held, parsePath(source)));
      const canonical = canonicalArguments(args);
      if (!canonical.ok)
        return { ...base, state: 'unavailable', why: `its arguments cannot be sent (${canonical.violation.path}: ${canonical.violation.problem})` };
      const answer = await withDeadline(this.answer(ctx, call.tool, canonical.json), call.timeoutMs);
      if (answer === timedOut) return { ...base, state: 'unavailable', why: `no answer within ${call.timeoutMs} ms` };
      const shown = call.find ? findItem(answer, call.find, held) : answer;
      if (shown === undefined) return { ...base, state: 'unavailable', why: 'no matching item in the answer' };
      const text = JSON.stringify(redactPaths(shown, call.redact.map(parsePath)), null, 2) ?? 'null';
      const bytes = Buffer.byteLength(text, 'utf8');
      if (bytes <= call.maxBytes) return { ...base, state: 'ok', text };
      return { ...base, state: 'ok', text: `${Buffer.from(text, 'utf8').subarray(0, call.maxBytes).toString('utf8')}…`, truncated: true };
    } catch (error) {
      return { ...base, state: 'unavailable', why: (error instanceof Error ? error.message : String(error)).slice(0, 300) };
    }
  }

  /** The parsed answer of one call, from the cache when it was asked for lately. */
  private async answer(ctx: CallContext, name: string, argumentsJson: string): Promise<unknown> {
    const key = `${name}\u0000${argumentsJson}`;
    const cached = this.cache.get(key);
    if (cached && cached.until > this.now()) return cached.answer;
    const tool = this.options.pool.resolveTool(name);
    if (!tool) throw new Error(`tool ${name} is not offered by any connected upstream`);
    const result = (await ctx.forward(tool.upstream, 'tools/call', { name: tool.definition.name }, argumentsJson)) as CallToolResult;
    const answer = parseAnswer(result);
    if (this.cache.size >= maxCached) this.cache.delete(this.cache.keys().next().value as string); // the oldest entry
    this.cache.set(key, { until: this.now() + this.cacheMs, answer });
    return answer;
  }
}

const timedOut = Symbol('timed out');

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | typeof timedOut> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined); // a late failure after the deadline is nobody's to handle
  try {
    return await Promise.race([work, new Promise<typeof timedOut>((resolve) => (timer = setTimeout(() => resolve(timedOut), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A tool answer as a value: its text parsed as JSON (twice when the upstream encoded it twice), else the text. */
function parseAnswer(result: CallToolResult): unknown {
  const text = (result.content ?? [])
    .map((c) => (c.type === 'text' ? c.text : ''))
    .join('\n')
    .trim();
  if (result.isError) throw new Error(`the upstream answered an error: ${text.slice(0, 200)}`);
  let value: unknown = text;
  for (let i = 0; i < 2 && typeof value === 'string'; i++) {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      break;
    }
  }
  return value;
}

/** The first item of the list at `find.in` whose values at the match paths equal the held call's (canonical JSON equality). */
function findItem(answer: unknown, find: NonNullable<ContextCall['find']>, held: Record<string, unknown>): unknown {
  const list = find.in === undefined ? answer : getPath(answer, parsePath(find.in));
  if (!Array.isArray(list)) return undefined;
  const wanted = find.match.map(([itemPath, heldPath]) => [parsePath(itemPath), canonicalJson(getPath(held, parsePath(heldPath)) ?? null)] as const);
  return list.find((item) => wanted.every(([path, value]) => canonicalJson(getPath(item, path) ?? null) === value));
}

/** Sets a dotted path in a plain object, creating objects on the way. */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const segments = parsePath(path);
  let node: Record<string, unknown> = target;
  for (const segment of segments.slice(0, -1)) {
    const next = Object.prototype.hasOwnProperty.call(node, segment) ? node[segment] : undefined;
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[segment] = {};
    node = node[segment] as Record<string, unknown>; // just made sure it is a plain object
  }
  const last = segments.at(-1);
  if (last !== undefined) node[last] = value;
}
