/**
 * bench:policy — what one policy decision costs, and that the cost does not grow with the number
 * of tools a policy names.
 *
 * Generates policies of 50, 500 and 5000 tool entries (~75% exact names, 15% prefix globs
 * `svcN_*`, 10% suffix globs `*_opN`, at most 5 infix globs `*midN*` and a catch-all `*`), each
 * entry with one constraint and 5 rules (argument and agent conditions). Each scenario is warmed
 * up, then timed per call with process.hrtime.bigint() (the figures include ~30–60 ns of timer
 * overhead) and in batches for the mean. Prints a markdown table.
 *
 * Then, separately: rows where a regex actually runs (the linear-time RE2 engine) — the 500-entry
 * policy's regex rule on a SQL statement, and the reference policy's execute_sql rule on
 * statements from 20 characters to the 64 KiB max_length, including the 60,000-space statement
 * that froze the backtracking engine; and the per-call cost of the edge step every call now
 * takes: canonicalArguments (RFC 8785 copy + bytes) plus the keyed HMAC of those bytes.
 *
 *   npx tsx bench/policy.ts [--calls 200000]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatProblems } from '../src/errors.js';
import type { CompiledPolicy } from '../src/policy/compiled.js';
import { evaluate } from '../src/policy/evaluate.js';
import { parsePolicy, parsePolicyText } from '../src/policy/load.js';
import { keyedArgumentsHash } from '../src/state/arguments-hasher.js';
import { canonicalArguments } from '../src/util/canonical.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200000' } } });
const calls = Number(values.calls);
const sizes = [50, 500, 5_000];

/** 5 rules: the last matches `params.mode == "hit"`; the others never match the bench's arguments. */
function rules(i: number) {
  return [
    { when: { 'params.env': { eq: 'prod' } }, action: 'approve' },
    { agent: { in: ['intern-bot', `team-${i}`] }, action: 'deny', reason: 'no' },
    { when: { 'params.job_id': { in: [1, 2, 3, i] }, 'params.flag': { exists: true } }, action: 'deny' },
    { when: { 'params.statement': { regex: '^\\s*DROP\\b', flags: 'i' } }, action: 'approve' },
    { when: { 'params.mode': { eq: 'hit' } }, action: 'approve', reason: 'matched the fifth rule' },
  ];
}

function entryKey(i: number): string {
  const kind = i % 20;
  if (kind < 14) return `tool_${i}`;
  if (kind < 17) return `svc${i}_*`;
  if (kind < 19) return `*_op${i}`;
  // Infix globs are tested one by one (see NameIndex); real policies have a handful, so do we.
  return i < 100 ? `*mid${i}*` : `tool_${i}`;
}

function generate(size: number): CompiledPolicy {
  const tools: Record<string, unknown> = { '*': { action: 'deny' } };
  for (let i = 0; i < size; i += 1) {
    tools[entryKey(i)] = {
      action: 'allow',
      limits: [{ counter: `c${i}`, window: 'minute', max: 100 }],
      constraints: { 'params.job_id': { gte: 0 } },
      rules: rules(i),
    };
  }
  const result = parsePolicy({ version: '1', default: 'deny', tools }, `generated-${size}`);
  if (!result.ok) throw new Error(formatProblems(result.problems));
  return result.policy;
}

interface Scenario {
  name: string;
  /** Tool names to rotate through (several, so no single name stays hot in caches). */
  tools: string[];
  args: Record<string, unknown>;
  expect: string;
}

function scenarios(size: number): Scenario[] {
  const pick = (predicate: (i: number) => boolean, name: (i: number) => string) =>
    Array.from({ length: size }, (_, i) => i)
      .filter(predicate)
      .slice(0, 32)
      .map(name);
  const exact = pick(
    (i) => i % 20 < 14,
    (i) => `tool_${i}`,
  );
  const glob = pick(
    (i) => i % 20 >= 14 && i % 20 < 17,
    (i) => `svc${i}_run`,
  );
  const miss = { params: { job_id: 900, env: 'dev' } };
  return [
    { name: 'exact name, 5 rules miss', tools: exact, args: miss, expect: 'allow' },
    { name: 'prefix glob, 5 rules miss', tools: glob, args: miss, expect: 'allow' },
    {
      name: 'suffix glob',
      tools: pick(
        (i) => i % 20 >= 17 && i % 20 < 19,
        (i) => `x_op${i}`,
      ),
      args: miss,
      expect: 'allow',
    },
    { name: 'exact name, 5th rule hits', tools: exact, args: { params: { job_id: 900, mode: 'hit' } }, expect: 'approve' },
    { name: 'no entry (catch-all *)', tools: ['unknown_a', 'unknown_b'], args: miss, expect: 'deny' },
  ];
}

/** Consumed results, printed at the end, so the JIT cannot drop an unused decision. */
let sink = 0;

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

function measure(policy: CompiledPolicy, scenario: Scenario, count = calls) {
  const { tools, args } = scenario;
  const first = evaluate(policy, 'bench-bot', tools[0] ?? '', args);
  if (first.kind !== scenario.expect) throw new Error(`${scenario.name}: expected ${scenario.expect}, got ${first.kind} (${first.rule.id})`);
  return time((i) => evaluate(policy, 'bench-bot', tools[i % tools.length] ?? '', args).trace.length, count);
}

/** Times `run` per call (p50, p99) and in one batch (mean), after a warm-up; `run` returns something to consume. */
function time(run: (i: number) => number, count: number) {
  for (let i = 0; i < Math.min(50_000, count); i += 1) sink += run(i);
  const samples = new Float64Array(count);
  for (let i = 0; i < count; i += 1) {
    const start = process.hrtime.bigint();
    const out = run(i);
    samples[i] = Number(process.hrtime.bigint() - start) / 1_000;
    sink += out;
  }
  samples.sort();
  const batchStart = process.hrtime.bigint();
  for (let i = 0; i < count; i += 1) sink += run(i);
  const meanUs = Number(process.hrtime.bigint() - batchStart) / 1_000 / count;
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), meanUs };
}

const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
const us = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2));

/** Rows where a regex runs: the generated 500-entry policy's DROP rule, and the reference execute_sql rule. */
function regexRows(): string[] {
  const rows: string[] = [];
  const generated = generate(500);
  const exact = Array.from({ length: 32 }, (_, k) => `tool_${k}`);
  const statement = 'SELECT region, sum(amount) FROM sales WHERE year = 2026 GROUP BY region';
  const m = measure(generated, { name: 'regex', tools: exact, args: { params: { job_id: 900, statement } }, expect: 'allow' });
  rows.push(row([`500-entry policy, exact name, rule 4 regex runs on a ${statement.length}-char statement (miss)`, us(m.p50), us(m.p99), m.meanUs.toFixed(3)]));

  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'policies', 'databricks.json');
  const loaded = parsePolicyText(readFileSync(file, 'utf8'), file);
  if (!loaded.ok) throw new Error(formatProblems(loaded.problems));
  const sql = (text: string) => ({ params: { statement: text, warehouse_id: 'wh-1' } });
  const cases: Array<[string, string, string, number]> = [
    ['reference execute_sql: plain SELECT, 20 chars → allow', 'SELECT * FROM sales;', 'allow', calls],
    ['reference execute_sql: SELECT with a second statement → approve', 'SELECT 1; DROP TABLE sales', 'approve', calls],
    ['reference execute_sql: 4 KiB SELECT → allow', `SELECT ${'a, '.repeat(1_364)}b FROM t`, 'allow', 20_000],
    ['reference execute_sql: 64 KiB SELECT (max_length) → allow', `SELECT ${'a, '.repeat(21_840)}b FROM t`, 'allow', 2_000],
    ['reference execute_sql: "SELECT" + 60,000 spaces + ";x" (froze the old engine for 3 s) → approve', `SELECT${' '.repeat(60_000)};x`, 'approve', 2_000],
  ];
  for (const [name, text, expect, count] of cases) {
    const r = measure(loaded.policy, { name, tools: ['execute_sql'], args: sql(text), expect }, count);
    rows.push(row([name, us(r.p50), us(r.p99), r.meanUs.toFixed(3)]));
  }
  // For contrast, once: the old rule in JavaScript's backtracking RegExp on the same statement.
  const old = /^\s*SELECT\b[^;]*;?\s*$/i;
  const started = process.hrtime.bigint();
  sink += old.test(`SELECT${' '.repeat(60_000)};x`) ? 1 : 0;
  const oldUs = Number(process.hrtime.bigint() - started) / 1_000;
  rows.push(row(['for contrast: the old rule in JavaScript RegExp (backtracking), same 60,000-space statement, 1 call', us(oldUs), '', '']));
  return rows;
}

/** The edge step of every call: canonicalArguments (copy + RFC 8785 bytes) and the keyed hash of the bytes. */
function canonicalRows(): string[] {
  const key = Buffer.alloc(32, 7);
  const typical = { params: { job_id: 123, notebook_params: { env: 'prod', date: '2026-11-01', region: 'eu-west-1' } } };
  const wide = {
    params: { warehouse_id: 'wh-1', statement: `SELECT ${'col, '.repeat(800)}x FROM t`, tags: Array.from({ length: 50 }, (_, i) => ({ k: `k${i}`, v: i })) },
  };
  const big = { params: { rows: Array.from({ length: 1_000 }, (_, i) => ({ id: i, name: `row-${i}`, values: [i, i * 2, i * 3], ok: i % 2 === 0 })) } };
  const rows: string[] = [];
  for (const [name, args, count] of [
    ['run_job arguments', typical, calls],
    ['4 KiB statement + 50 tags', wide, 50_000],
    ['1,000 nested rows (~45 KiB)', big, 5_000],
  ] as const) {
    const bytes = Buffer.byteLength(JSON.stringify(args));
    const edge = time((i) => {
      const result = canonicalArguments(args);
      return result.ok ? keyedArgumentsHash(key, result.json).length + (i & 1) : 0;
    }, count);
    const plain = time(() => JSON.stringify(args).length, count);
    rows.push(row([`${name} (${bytes} B)`, us(edge.p50), us(edge.p99), edge.meanUs.toFixed(3), plain.meanUs.toFixed(3)]));
  }
  return rows;
}

function main(): void {
  const rows: string[] = [];
  for (const size of sizes) {
    const compileStart = process.hrtime.bigint();
    const policy = generate(size);
    const compileMs = Number(process.hrtime.bigint() - compileStart) / 1e6;
    for (const scenario of scenarios(size)) {
      const { p50, p99, meanUs } = measure(policy, scenario);
      rows.push(`| ${size} | ${scenario.name} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${meanUs.toFixed(3)} | ${compileMs.toFixed(0)} |`);
    }
  }
  process.stdout.write(
    `evaluate() on generated policies (5 rules + 1 constraint per entry), ${calls} timed calls per row, node ${process.version}\n\n` +
      '| tool entries | scenario | p50 µs | p99 µs | mean µs (batch) | compile ms |\n|---:|---|---:|---:|---:|---:|\n' +
      `${rows.join('\n')}\n\n`,
  );
  process.stdout.write(
    'Decisions where a regex runs (RE2 engine, re2js)\n\n| scenario | p50 µs | p99 µs | mean µs (batch) |\n|---|---:|---:|---:|\n' +
      `${regexRows().join('\n')}\n\n`,
  );
  process.stdout.write(
    'Edge step per call: canonicalArguments + HMAC-SHA256 of the bytes (vs. a bare JSON.stringify)\n\n' +
      '| arguments | p50 µs | p99 µs | mean µs (batch) | JSON.stringify mean µs |\n|---|---:|---:|---:|---:|\n' +
      `${canonicalRows().join('\n')}\n\n(checksum ${sink})\n`,
  );
}

main();
