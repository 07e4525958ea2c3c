/**
 * The policy language against hostile values: regexes in the linear-time engine with a length
 * cap that fails closed, `not_regex`, `normalize` (so "PROD" and "prod " are "prod"), the
 * reference SQL rule after Unicode normalisation, patterns the engine cannot run refused at load,
 * patterns that would backtrack elsewhere warned about, and redaction that follows every rule.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPolicyCommand, type CliIo } from '../src/cli/policy.js';
import { formatProblems } from '../src/errors.js';
import type { CompiledPolicy } from '../src/policy/compiled.js';
import { evaluate } from '../src/policy/evaluate.js';
import { parsePolicy, parsePolicyText } from '../src/policy/load.js';
import { backtrackingWarnings } from '../src/policy/regex-lint.js';
import { repoRoot } from './helpers/upstreams.js';

function compile(raw: unknown): CompiledPolicy {
  const result = parsePolicy(raw, 'p.json');
  if (!result.ok) throw new Error(formatProblems(result.problems));
  return result.policy;
}

function problemsOf(raw: unknown): string[] {
  const result = parsePolicy(raw, 'p.json');
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

const databricksFile = path.join(repoRoot, 'policies/databricks.json');

describe('the reference execute_sql rule', () => {
  const loaded = parsePolicyText(readFileSync(databricksFile, 'utf8'), databricksFile);
  if (!loaded.ok) throw new Error(formatProblems(loaded.problems));
  const policy = loaded.policy;
  const sql = (statement: string) => evaluate(policy, 'analytics-bot', 'execute_sql', { params: { statement, warehouse_id: 'wh-1' } }).kind;

  it('allows one plain SELECT, with or without one trailing semicolon, in any case', () => {
    for (const statement of [
      'SELECT 1',
      'select * from sales',
      "  SELECT a, b FROM t WHERE c = 'x' ;  ",
      'SELECT\n  region,\n  sum(x)\nFROM t\nGROUP BY region;',
    ])
      expect(sql(statement), statement).toBe('allow');
  });

  it('holds a second statement, SELECT … INTO, and separators that only Unicode normalisation reveals', () => {
    const held = [
      'SELECT 1; DROP TABLE x',
      'SELECT * INTO backup FROM sales',
      'select a into b from c',
      'SELECT 1\u037e DROP TABLE x', // Greek question mark: NFKC ";"
      'SELECT 1\uff1b DROP TABLE x', // fullwidth semicolon
      'SELECT 1\ufe54 DROP TABLE x', // small semicolon
      'SELECT * \uff29\uff2e\uff34\uff2f backup FROM sales', // fullwidth INTO
      'WITH x AS (SELECT 1) SELECT * FROM x',
      'DELETE FROM sales',
      'SELECTION',
      `SELECT${' '.repeat(60_000)};x`,
    ];
    for (const statement of held) expect(sql(statement), statement.slice(0, 40)).toBe('approve');
  });

  it('rejects a statement longer than the rule examines instead of guessing about it', () => {
    const decision = evaluate(policy, 'analytics-bot', 'execute_sql', { params: { statement: `SELECT ${'x'.repeat(70_000)}`, warehouse_id: 'wh-1' } });
    expect(decision).toMatchObject({ kind: 'invalid_arguments', rule: { id: 'tools.execute_sql.max_length' } });
    if (decision.kind !== 'invalid_arguments') return;
    expect(decision.violations).toEqual([
      { path: 'params.statement', rule: 'max_length 65536', problem: expect.stringContaining('is a string of 70007 characters, longer than the 65536') },
    ]);
  });

  it('has no pattern that would backtrack, while the old one is flagged', () => {
    expect(policy.warnings).toEqual([]);
    expect(backtrackingWarnings('^\\s*SELECT\\b[^;]*;?\\s*$', 'i')).toEqual([
      'overlapping quantifiers: [^;]* and \\s* can match the same characters with only optional parts between them',
    ]);
  });
});

describe('linear-time matching', () => {
  it('runs a pattern that is quadratic in a backtracking engine over a million characters (a backtracking engine would take minutes)', () => {
    const policy = compile({
      tools: {
        t: { action: 'approve', rules: [{ when: { s: { regex: '^\\s*SELECT\\b[^;]*;?\\s*$', flags: 'i', max_length: 2_000_000 } }, action: 'allow' }] },
      },
    });
    expect(evaluate(policy, 'a', 't', { s: `SELECT${' '.repeat(1_000_000)};x` }).kind).toBe('approve');
    expect(evaluate(policy, 'a', 't', { s: `SELECT${' '.repeat(1_000_000)};` }).kind).toBe('allow');
  }, 20_000);

  it('fails closed on a value over max_length whether the regex guards a constraint, an allow rule or a deny rule', () => {
    const policy = compile({
      default: 'allow',
      tools: {
        c: { constraints: { v: { regex: '^[a-z]+$', max_length: 10 } } },
        deny: { rules: [{ when: { v: { regex: 'DROP', max_length: 10 } }, action: 'deny' }] },
        allow: { action: 'approve', rules: [{ when: { v: { not_regex: ';', max_length: 10 } }, action: 'allow' }] },
      },
    });
    for (const tool of ['c', 'deny', 'allow']) {
      const decision = evaluate(policy, 'a', tool, { v: 'abcdefghijk; DROP' });
      expect(decision, tool).toMatchObject({ kind: 'invalid_arguments', violations: [{ path: 'v', rule: 'max_length 10' }] });
      expect(evaluate(policy, 'a', tool, { v: 'abc' }).kind).not.toBe('invalid_arguments');
    }
    expect(evaluate(policy, 'a', 'deny', { v: 'x DROP' }).kind).toBe('deny');
  });

  it('refuses at load, with the path, a pattern the linear-time engine cannot run', () => {
    expect(problemsOf({ tools: { t: { constraints: { v: { regex: '^(?!admin).*$' } } } } })).toEqual([
      expect.stringMatching(
        /^\$\.tools\.t\.constraints\.v\.regex: the linear-time regex engine \(RE2 syntax\) cannot run this pattern: .*Lookahead and lookbehind/,
      ),
    ]);
    expect(problemsOf({ tools: { t: { constraints: { v: { not_regex: '(a)\\1' } } } } })).toEqual([
      expect.stringMatching(/^\$\.tools\.t\.constraints\.v\.not_regex: .*Backreferences \(\\1\) are not supported/),
    ]);
    expect(problemsOf({ tools: { t: { constraints: { v: { max_length: 5, eq: 'x' } } } } })).toEqual([
      '$.tools.t.constraints.v.max_length: "max_length" only applies together with "regex", "not_regex" or "normalize"',
    ]);
  });

  it('not_regex holds for a string that does not match, and fails for one that does or for a non-string', () => {
    const policy = compile({ tools: { t: { constraints: { v: { not_regex: '\\bDROP\\b', flags: 'i' } } } } });
    expect(evaluate(policy, 'a', 't', { v: 'select 1' }).kind).toBe('allow');
    expect(evaluate(policy, 'a', 't', { v: 'x drop y' })).toMatchObject({
      kind: 'invalid_arguments',
      violations: [{ problem: 'is "x drop y", which matches' }],
    });
    expect(evaluate(policy, 'a', 't', { v: 5 })).toMatchObject({ kind: 'invalid_arguments', violations: [{ problem: 'is 5 (a number, not a string)' }] });
  });
});

describe('normalize', () => {
  const policy = compile({
    default: 'allow',
    tools: {
      run_job: {
        rules: [{ when: { 'params.env': { eq: 'prod', normalize: ['nfkc', 'lower', 'trim'] } }, action: 'approve' }],
      },
      exact: { rules: [{ when: { 'params.env': { eq: 'prod' } }, action: 'approve' }] },
      listed: { rules: [{ when: { 'params.env': { in: ['PROD', 'Live '], normalize: ['lower', 'trim'] } }, action: 'deny' }] },
    },
  });
  const kind = (tool: string, env: unknown) => evaluate(policy, 'a', tool, { params: { env } }).kind;

  it('makes eq "prod" hold for "PROD", "prod ", "\\tProd" and fullwidth "ｐｒｏｄ", which plain eq lets through', () => {
    for (const env of ['prod', 'PROD', 'prod ', '\tProd', '\uff50\uff52\uff4f\uff44']) {
      expect(kind('run_job', env), env).toBe('approve');
    }
    expect(kind('exact', 'PROD')).toBe('allow');
    expect(kind('exact', 'prod ')).toBe('allow');
    expect(kind('run_job', 'staging')).toBe('allow');
    expect(kind('run_job', 7)).toBe('allow');
  });

  it('normalises the operands too, and names the normalisation in the rule text', () => {
    expect(kind('listed', 'prod')).toBe('deny');
    expect(kind('listed', ' LIVE')).toBe('deny');
    const constrained = compile({ tools: { t: { constraints: { e: { in: ['prod'], normalize: ['lower'] } } } } });
    expect(evaluate(constrained, 'a', 't', { e: 'dev' })).toMatchObject({ violations: [{ rule: 'in ["prod"] (normalize lower)' }] });
  });
});

describe('policy check warnings', () => {
  it('prints a warning for a pattern that would backtrack elsewhere and still exits 0', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-policy-')), 'backtracking.json');
    writeFileSync(file, JSON.stringify({ tools: { execute_sql: { constraints: { 'params.statement': { regex: '(a+)+$' } } } } }));
    let stdout = '';
    const io: CliIo = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: () => true } };
    expect(await runPolicyCommand(['check', file], io)).toBe(0);
    expect(stdout).toContain(
      `warning: ${file} $.tools.execute_sql.constraints["params.statement"].regex: nested quantifiers: a repeated group contains a repeat ((a+)+)`,
    );
  });
});

describe('redaction', () => {
  it("masks a path listed only under one rule's approval settings whichever rule decides", () => {
    const policy = compile({
      tools: {
        run_job: {
          action: 'allow',
          rules: [{ when: { 'params.env': { eq: 'prod' } }, action: 'approve', approval: { redact: ['params.token'] } }],
          constraints: { 'params.job_id': { gte: 1 } },
        },
      },
    });
    expect(evaluate(policy, 'a', 'run_job', { params: { env: 'dev', job_id: 1, token: 's3cret' } }).redact).toEqual(['params.token']);
    expect(evaluate(policy, 'a', 'run_job', { params: { env: 'prod', job_id: 1, token: 's3cret' } }).redact).toEqual(['params.token']);
    expect(evaluate(policy, 'a', 'run_job', { params: { env: 'dev', job_id: 0, token: 's3cret' } }).redact).toEqual(['params.token']);
  });
});
