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
 *   npx tsx bench/policy.ts [--calls 200000]
 */
import { parseArgs } from 'node:util';
import { formatProblems } from '../src/errors.js';
import type { CompiledPolicy } from '../src/policy/compiled.js';
import { evaluate } from '../src/policy/evaluate.js';
import { parsePolicy } from '../src/policy/load.js';

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

function measure(policy: CompiledPolicy, scenario: Scenario) {
  const { tools, args } = scenario;
  const first = evaluate(policy, 'bench-bot', tools[0] ?? '', args);
  if (first.kind !== scenario.expect) throw new Error(`${scenario.name}: expected ${scenario.expect}, got ${first.kind} (${first.rule.id})`);
  for (let i = 0; i < 50_000; i += 1) sink += evaluate(policy, 'bench-bot', tools[i % tools.length] ?? '', args).trace.length;
  const samples = new Float64Array(calls);
  for (let i = 0; i < calls; i += 1) {
    const tool = tools[i % tools.length] ?? '';
    const start = process.hrtime.bigint();
    const decision = evaluate(policy, 'bench-bot', tool, args);
    samples[i] = Number(process.hrtime.bigint() - start) / 1_000;
    sink += decision.trace.length;
  }
  samples.sort();
  const batchStart = process.hrtime.bigint();
  for (let i = 0; i < calls; i += 1) sink += evaluate(policy, 'bench-bot', tools[i % tools.length] ?? '', args).rule.id.length;
  const meanUs = Number(process.hrtime.bigint() - batchStart) / 1_000 / calls;
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), meanUs };
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
      `${rows.join('\n')}\n\n(checksum ${sink})\n`,
  );
}

main();
