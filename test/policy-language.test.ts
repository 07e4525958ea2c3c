/**
 * The policy language, table-driven: operators, globs and precedence, rules, defaults, limits and
 * approval settings — through the same loader and pure evaluate() the gateway uses.
 */
import { describe, expect, it } from 'vitest';
import { formatProblems } from '../src/errors.js';
import type { CompiledPolicy } from '../src/policy/compiled.js';
import { evaluate, isVisible } from '../src/policy/evaluate.js';
import { parsePolicy, parsePolicyText } from '../src/policy/load.js';
import type { Decision } from '../src/policy/types.js';

function compile(raw: unknown): CompiledPolicy {
  const result = parsePolicy(raw, 'test.json');
  if (!result.ok) throw new Error(formatProblems(result.problems));
  return result.policy;
}

function problems(raw: unknown): string[] {
  const result = typeof raw === 'string' ? parsePolicyText(raw, 'bad.json') : parsePolicy(raw, 'bad.json');
  if (result.ok) throw new Error('expected the policy to be rejected');
  return result.problems.map((p) => `${p.file} ${p.path}: ${p.message}`);
}

/** A policy whose only tool `t` has one constraint on `v`. */
function constrained(condition: unknown): CompiledPolicy {
  return compile({ tools: { t: { constraints: { v: condition } } } });
}

function violationsOf(decision: Decision) {
  return decision.kind === 'invalid_arguments' ? decision.violations : [];
}

describe('the PolicyLayer example', () => {
  const policy = compile({
    version: '1',
    default: 'deny',
    tools: { run_job: { limits: [{ counter: 'run_job_rate', window: 'minute', max: 10, scope: 'grant' }] } },
  });

  it('allows run_job with a limit of 10 calls a minute per grant', () => {
    const decision = evaluate(policy, 'bot', 'run_job', { params: { job_id: 101 } });
    expect(decision).toMatchObject({ kind: 'allow', rule: { id: 'tools.run_job', entry: 'run_job' } });
    expect(decision.kind === 'allow' && decision.limits).toEqual([{ counter: 'run_job_rate', windowSec: 60, max: 10, scope: 'grant' }]);
  });

  it('denies every other tool by the default, and hides it from tools/list', () => {
    const decision = evaluate(policy, 'bot', 'list_jobs', {});
    expect(decision).toMatchObject({ kind: 'deny', rule: { id: 'default' } });
    expect(isVisible(policy, 'bot', 'list_jobs')).toBe(false);
    expect(isVisible(policy, 'bot', 'run_job')).toBe(true);
  });

  it('carries a 12-hex version that ignores key order and spacing', () => {
    const reordered = compile({
      tools: { run_job: { limits: [{ scope: 'grant', max: 10, window: 'minute', counter: 'run_job_rate' }] } },
      default: 'deny',
      version: '1',
    });
    expect(policy.version).toMatch(/^[0-9a-f]{12}$/);
    expect(reordered.version).toBe(policy.version);
    expect(evaluate(policy, 'bot', 'run_job', {}).policyVersion).toBe(policy.version);
  });
});

describe('constraint operators', () => {
  const cases: Array<{ name: string; condition: unknown; pass: unknown[]; fail: Array<[unknown, string]> }> = [
    {
      name: 'eq',
      condition: { eq: 'prod' },
      pass: ['prod'],
      fail: [
        ['dev', 'is "dev"'],
        [undefined, 'is missing'],
        ['PROD', 'is "PROD"'],
      ],
    },
    {
      name: 'eq on numbers accepts numeric strings',
      condition: { eq: 101 },
      pass: [101, '101', '0101'],
      fail: [
        [102, 'is 102'],
        ['abc', 'is "abc"'],
      ],
    },
    { name: 'eq on objects compares canonical JSON', condition: { eq: { a: 1, b: 2 } }, pass: [{ b: 2, a: 1 }], fail: [[{ a: 1 }, 'is {"a":1}']] },
    { name: 'ne', condition: { ne: 'prod' }, pass: ['dev', undefined], fail: [['prod', 'is "prod"']] },
    {
      name: 'in',
      condition: { in: [101, 102] },
      pass: [101, '102'],
      fail: [
        [999, 'is 999'],
        [undefined, 'is missing'],
        [true, 'is true'],
      ],
    },
    {
      name: 'not_in',
      condition: { not_in: [123] },
      pass: [101, undefined],
      fail: [
        [123, 'is 123'],
        ['123', 'is "123"'],
        ['0123', 'is "0123"'],
      ],
    },
    {
      name: 'regex',
      condition: { regex: '^SELECT\\b' },
      pass: ['SELECT 1'],
      fail: [
        ['select 1', 'is "select 1", which does not match'],
        [5, 'is 5 (a number, not a string)'],
        [undefined, 'is missing'],
      ],
    },
    {
      name: 'regex with flags',
      condition: { regex: '^select\\b', flags: 'i' },
      pass: ['SELECT 1', 'select 1'],
      fail: [['DROP TABLE x', 'is "DROP TABLE x", which does not match']],
    },
    {
      name: 'lt',
      condition: { lt: 10 },
      pass: [9, '9', -1],
      fail: [
        [10, 'is 10, not below 10'],
        ['abc', 'is "abc" (a string, not a number)'],
        [undefined, 'is missing'],
      ],
    },
    { name: 'lte', condition: { lte: 10 }, pass: [10], fail: [[11, 'is 11, not at most 10']] },
    {
      name: 'gt',
      condition: { gt: 0 },
      pass: [1],
      fail: [
        [0, 'is 0, not above 0'],
        [null, 'is null (null, not a number)'],
      ],
    },
    {
      name: 'gte',
      condition: { gte: 1 },
      pass: [1, 2.5],
      fail: [
        [0.5, 'is 0.5, not at least 1'],
        [[1], 'is [1] (an array, not a number)'],
      ],
    },
    { name: 'exists true', condition: { exists: true }, pass: [0, null, ''], fail: [[undefined, 'is missing']] },
    { name: 'exists false', condition: { exists: false }, pass: [undefined], fail: [['x', 'is "x" but must be absent']] },
  ];

  for (const { name, condition, pass, fail } of cases) {
    it(`${name}: passes ${pass.map((v) => JSON.stringify(v) ?? 'missing').join(', ')}`, () => {
      const policy = constrained(condition);
      for (const value of pass) expect(evaluate(policy, 'a', 't', value === undefined ? {} : { v: value }).kind).toBe('allow');
    });
    it(`${name}: rejects ${fail.map(([v]) => JSON.stringify(v) ?? 'missing').join(', ')} with the value and the rule`, () => {
      const policy = constrained(condition);
      for (const [value, problem] of fail) {
        const decision = evaluate(policy, 'a', 't', value === undefined ? {} : { v: value });
        expect(decision.kind).toBe('invalid_arguments');
        expect(violationsOf(decision)[0]).toMatchObject({ path: 'v', problem });
      }
    });
  }

  it('writes the rule as the operator and operand as written', () => {
    const decision = evaluate(compile({ tools: { run_job: { constraints: { 'params.job_id': { in: [101, 102] } } } } }), 'a', 'run_job', {
      params: { job_id: 999 },
    });
    expect(violationsOf(decision)).toEqual([{ path: 'params.job_id', rule: 'in [101,102]', problem: 'is 999' }]);
    expect(decision.rule.id).toBe('tools.run_job.constraints');
  });

  it('applies every operator of one condition and reports each that fails', () => {
    const policy = constrained({ gte: 1, lte: 5, not_in: [3] });
    expect(evaluate(policy, 'a', 't', { v: 4 }).kind).toBe('allow');
    expect(violationsOf(evaluate(policy, 'a', 't', { v: 3 })).map((v) => v.rule)).toEqual(['not_in [3]']);
    expect(violationsOf(evaluate(policy, 'a', 't', {})).map((v) => v.problem)).toEqual(['is missing']);
  });

  it('never echoes the value of a redacted path in a violation', () => {
    const policy = compile({ tools: { t: { redact: ['params.token'], constraints: { 'params.token': { regex: '^tok_' } } } } });
    const [violation] = violationsOf(evaluate(policy, 'a', 't', { params: { token: 'secret-value' } }));
    expect(violation?.problem).toBe('is a string (value redacted), which does not match');
  });

  it('checks constraints before rules, so a violating call is rejected even where a rule would allow', () => {
    const policy = compile({ tools: { t: { action: 'deny', constraints: { v: { lt: 5 } }, rules: [{ when: { v: { exists: true } }, action: 'allow' }] } } });
    expect(evaluate(policy, 'a', 't', { v: 9 }).kind).toBe('invalid_arguments');
    expect(evaluate(policy, 'a', 't', { v: 1 }).kind).toBe('allow');
  });
});

describe('tool globs and precedence', () => {
  const policy = compile({
    default: 'deny',
    tools: {
      '*': { action: 'approve' },
      'list_*': { action: 'allow' },
      '*_cluster': { action: 'deny', reason: 'Clusters are off limits.' },
      'list_c*': { action: 'approve' },
      'list_*s': { action: 'deny' },
      list_clusters: { action: 'allow' },
    },
  });
  const cases: Array<[string, string, string]> = [
    ['list_clusters', 'allow', 'tools.list_clusters'],
    ['list_jobs', 'deny', 'tools["list_*s"]'],
    ['list_job', 'allow', 'tools["list_*"]'],
    ['list_cat', 'approve', 'tools["list_c*"]'],
    ['start_cluster', 'deny', 'tools["*_cluster"]'],
    ['run_job', 'approve', 'tools["*"]'],
  ];
  for (const [tool, kind, rule] of cases) {
    it(`${tool} is decided by ${rule}`, () => {
      expect(evaluate(policy, 'a', tool, {})).toMatchObject({ kind, rule: { id: rule } });
    });
  }

  it('breaks a tie in literal characters by fewer stars, then by file order', () => {
    const byStars = compile({ tools: { 'a*b*': { action: 'deny' }, 'ab*': { action: 'allow' } } });
    expect(evaluate(byStars, 'x', 'abxb', {}).kind).toBe('allow');
    const byOrder = compile({ tools: { 'x_*': { action: 'deny' }, '*_y': { action: 'allow' } } });
    expect(evaluate(byOrder, 'a', 'x_y', {}).rule.id).toBe('tools["x_*"]');
  });

  it('compares prefix globs, suffix globs and globs with neither by the same precedence', () => {
    const mixed = compile({
      tools: { 'start_*': { action: 'allow' }, '*_cluster': { action: 'approve' }, '*clu*': { action: 'deny' }, 'start_cl*r': { action: 'deny' } },
    });
    expect(evaluate(mixed, 'a', 'start_cluster', {}).rule.id).toBe('tools["start_cl*r"]');
    expect(evaluate(mixed, 'a', 'stop_cluster', {}).rule.id).toBe('tools["*_cluster"]');
    expect(evaluate(mixed, 'a', 'start_job', {}).rule.id).toBe('tools["start_*"]');
    expect(evaluate(mixed, 'a', 'reclude', {}).rule.id).toBe('tools["*clu*"]');
    expect(evaluate(mixed, 'a', 'other', {}).rule.id).toBe('default');
  });

  it('matches a star against an empty run of characters', () => {
    expect(evaluate(compile({ tools: { 'run_*job': {} } }), 'a', 'run_job', {}).kind).toBe('allow');
  });
});

describe('rules', () => {
  const policy = compile({
    default: 'deny',
    tools: {
      run_job: {
        action: 'allow',
        rules: [
          { when: { 'params.notebook_params.env': { eq: 'prod' } }, action: 'approve', reason: 'Production runs need a person.' },
          { agent: { in: ['intern-bot'] }, action: 'deny', reason: 'Interns do not run jobs.' },
          { agent: { in: ['analytics-bot'] }, when: { 'params.job_id': { in: [101] } }, action: 'allow' },
          { when: { 'params.job_id': { gte: 100 } }, action: 'approve' },
        ],
      },
    },
  });

  it('approves run_job only when params.notebook_params.env is prod, with the rule as the reason', () => {
    const decision = evaluate(policy, 'bot', 'run_job', { params: { job_id: 1, notebook_params: { env: 'prod' } } });
    expect(decision).toMatchObject({ kind: 'approve', reason: 'Production runs need a person.', rule: { id: 'tools.run_job.rules[0]' } });
    expect(evaluate(policy, 'bot', 'run_job', { params: { job_id: 1, notebook_params: { env: 'dev' } } })).toMatchObject({
      kind: 'allow',
      rule: { id: 'tools.run_job' },
    });
  });

  it('takes the first rule that matches, even when a later one would too', () => {
    const decision = evaluate(policy, 'intern-bot', 'run_job', { params: { job_id: 500, notebook_params: { env: 'prod' } } });
    expect(decision.rule.id).toBe('tools.run_job.rules[0]');
    expect(decision.trace).toEqual(['"run_job" matched tools.run_job (exact name)', 'tools.run_job.rules[0] matched', expect.stringContaining('→ approve')]);
  });

  it('matches agent conditions on the calling agent name', () => {
    expect(evaluate(policy, 'intern-bot', 'run_job', { params: { job_id: 1 } })).toMatchObject({ kind: 'deny', reason: 'Interns do not run jobs.' });
    expect(evaluate(policy, 'analytics-bot', 'run_job', { params: { job_id: 101 } }).rule.id).toBe('tools.run_job.rules[2]');
    expect(evaluate(policy, 'other-bot', 'run_job', { params: { job_id: 101 } }).rule.id).toBe('tools.run_job.rules[3]');
  });

  it('hides a tool from an agent that a rule denies outright, and only from that agent', () => {
    const strict = compile({ tools: { t: { rules: [{ agent: { eq: 'intern-bot' }, action: 'deny' }] } } });
    expect(isVisible(strict, 'intern-bot', 't')).toBe(false);
    expect(isVisible(strict, 'other', 't')).toBe(true);
  });

  it('expresses "allow execute_sql for SELECT, hold everything else"', () => {
    const sql = compile({
      tools: { execute_sql: { action: 'approve', rules: [{ when: { 'params.statement': { regex: '^\\s*SELECT\\b', flags: 'i' } }, action: 'allow' }] } },
    });
    expect(evaluate(sql, 'a', 'execute_sql', { params: { statement: '  select 1' } }).kind).toBe('allow');
    expect(evaluate(sql, 'a', 'execute_sql', { params: { statement: 'DROP TABLE x' } }).kind).toBe('approve');
  });
});

describe('limits, approval settings and defaults', () => {
  it('reads the window as a name or a number of seconds', () => {
    const policy = compile({
      tools: { a: { limits: [{ counter: 'a', window: 'minute', max: 1 }] }, b: { limits: [{ counter: 'b', window: 60, max: 1, scope: 'global' }] } },
    });
    const limits = (tool: string) => {
      const d = evaluate(policy, 'x', tool, {});
      return d.kind === 'allow' ? d.limits : [];
    };
    expect(limits('a')).toEqual([{ counter: 'a', windowSec: 60, max: 1, scope: 'grant' }]);
    expect(limits('b')).toEqual([{ counter: 'b', windowSec: 60, max: 1, scope: 'global' }]);
  });

  it('merges approval settings top-level ← tool ← rule and unions every redact list', () => {
    const policy = compile({
      approval: { approvers: ['U01AAA', 'S01GRP'], timeout: '15m', channel: '#approvals', redact: ['params.password'] },
      redact: ['params.token'],
      tools: {
        run_job: {
          action: 'approve',
          approval: { show: ['params.job_id'], quorum: 2 },
          rules: [{ when: { x: { exists: true } }, action: 'approve', approval: { timeout: 60, allow_self_approval: true } }],
        },
      },
    });
    const plain = evaluate(policy, 'a', 'run_job', {});
    expect(plain.kind === 'approve' && plain.approval).toEqual({
      approvers: ['U01AAA', 'S01GRP'],
      quorum: 2,
      timeoutMs: 900_000,
      channel: '#approvals',
      show: ['params.job_id'],
      allowSelfApproval: false,
      grants: undefined,
      context: [],
      askClient: false,
    });
    expect(plain.redact).toEqual(['params.token', 'params.password']);
    const byRule = evaluate(policy, 'a', 'run_job', { x: 1 });
    expect(byRule.kind === 'approve' && byRule.approval).toMatchObject({ timeoutMs: 60_000, allowSelfApproval: true, quorum: 2 });
  });

  it('accepts an empty approver list (only admins decide) and defaults to quorum 1, no timeout', () => {
    const decision = evaluate(compile({ default: 'approve', approval: { approvers: [] } }), 'a', 'anything', {});
    expect(decision).toMatchObject({
      kind: 'approve',
      rule: { id: 'default' },
      approval: { approvers: [], quorum: 1, timeoutMs: undefined, allowSelfApproval: false },
    });
  });

  it('uses the default reason and on_state_error, and lets a tool override on_state_error', () => {
    const policy = compile({ default: 'deny', default_reason: 'Ask the platform team.', on_state_error: 'open', tools: { t: { on_state_error: 'closed' } } });
    expect(evaluate(policy, 'a', 'x', {})).toMatchObject({ kind: 'deny', reason: 'Ask the platform team.', onStateError: 'open' });
    expect(evaluate(policy, 'a', 't', {}).onStateError).toBe('closed');
  });

  it('keeps denied tools listed when hide_denied is false', () => {
    expect(isVisible(compile({ hide_denied: false }), 'a', 'anything')).toBe(true);
  });

  it('freezes what decisions share, so no consumer can change the policy', () => {
    const decision = evaluate(compile({ tools: { t: { limits: [{ counter: 'c', window: 1, max: 1 }] } } }), 'a', 't', {});
    expect(() => decision.kind === 'allow' && decision.limits.push({ counter: 'x', windowSec: 1, max: 1, scope: 'global' })).toThrow();
  });
});

describe('bad policy files', () => {
  const cases: Array<[string, unknown, string]> = [
    ['an unknown key', { tools: { run_job: { actoin: 'deny' } } }, 'bad.json $.tools.run_job: unknown key "actoin": remove it or check the spelling'],
    ['an unknown action', { default: 'maybe' }, 'bad.json $.default: Invalid option: expected one of "allow"|"deny"|"approve"'],
    [
      'a bad window',
      { tools: { t: { limits: [{ counter: 'c', window: 'minutes', max: 1 }] } } },
      'bad.json $.tools.t.limits[0].window: window is "second", "minute", "hour", "day" or a whole number of seconds (≥ 1)',
    ],
    ['max 0', { tools: { t: { limits: [{ counter: 'c', window: 1, max: 0 }] } } }, 'bad.json $.tools.t.limits[0].max: max is at least 1'],
    [
      'an invalid regex',
      { tools: { t: { constraints: { 'params.sql': { regex: '(' } } } } },
      'bad.json $.tools.t.constraints["params.sql"].regex: the linear-time regex engine (RE2 syntax) cannot run this pattern: missing closing ): `(`',
    ],
    [
      'a stateful regex flag',
      { tools: { t: { constraints: { v: { regex: 'a', flags: 'g' } } } } },
      'bad.json $.tools.t.constraints.v.flags: flags are any of "i", "m", "s", "u", each at most once ("g" and "y" are not allowed)',
    ],
    [
      'an empty condition',
      { tools: { t: { constraints: { v: {} } } } },
      'bad.json $.tools.t.constraints.v: a condition needs at least one operator: eq, ne, in, not_in, regex, not_regex, lt, lte, gt, gte, exists',
    ],
    [
      'a bad argument path',
      { tools: { t: { constraints: { 'a..b': { eq: 1 } } } } },
      'bad.json $.tools.t.constraints["a..b"]: key "a..b": an argument path is dot-separated names such as "params.job_id" (no empty parts, no spaces)',
    ],
    [
      'a bad approver',
      { approval: { approvers: ['alice'] } },
      'bad.json $.approval.approvers[0]: an approver is a Slack user ID (U… or W…) or user-group ID (S…), e.g. U012ABCDEF',
    ],
    [
      'a bad timeout',
      { approval: { timeout: 'soon' } },
      'bad.json $.approval.timeout: expected a duration such as "500ms", "30s", "15m", "1h", "180d" or a number of seconds, at least 1 second',
    ],
    [
      'an unreachable quorum',
      { tools: { t: { action: 'approve', approval: { approvers: ['U01AAA'], quorum: 2 } } } },
      'bad.json $.tools.t.approval.quorum: quorum 2 can never be reached: only 1 approver (U01AAA) may decide; lower the quorum or add approvers or a user group (S…)',
    ],
    [
      'a rule with no condition',
      { tools: { t: { rules: [{ action: 'deny' }] } } },
      'bad.json $.tools.t.rules[0]: a rule needs "when" conditions or an "agent" condition; to decide every call of the tool, set the tool\'s "action" instead',
    ],
    ['a version other than 1', { version: '2' }, 'bad.json $.version: version must be "1" (the only policy language version)'],
    [
      'a counter defined two ways',
      { tools: { a: { limits: [{ counter: 'c', window: 60, max: 1 }] }, b: { limits: [{ counter: 'c', window: 60, max: 2 }] } } },
      'bad.json $.tools.b.limits[0]: counter "c" is also defined at $.tools.a.limits[0] as max 1 per 60 s, scope grant; tools naming one counter share one count, so window, max and scope must agree (or use another counter name)',
    ],
    [
      'a duplicate key',
      '{"tools": {"run_job": {"action": "approve"}, "run_job": {}}}',
      'bad.json $.tools.run_job: this key appears more than once in its object; JSON keeps only the last, so merge the two',
    ],
    ['broken JSON', '{"tools": ', 'bad.json $: not valid JSON: '],
  ];
  for (const [what, raw, expected] of cases) {
    it(`reports ${what} with the file and JSON path`, () => {
      expect(problems(raw).some((line) => line.startsWith(expected))).toBe(true);
    });
  }

  it('reports every problem of a file at once', () => {
    expect(problems({ default: 'maybe', tools: { a: { actoin: 1 }, b: { limits: [{ counter: 'c', window: 0, max: 1 }] } } })).toHaveLength(3);
  });

  it('allows tools to share a counter that is defined the same way', () => {
    expect(() =>
      compile({ tools: { a: { limits: [{ counter: 'c', window: 'hour', max: 5 }] }, b: { limits: [{ counter: 'c', window: 3600, max: 5 }] } } }),
    ).not.toThrow();
  });
});
