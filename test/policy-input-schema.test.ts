/**
 * validateInput: arguments checked against the upstream tool's own inputSchema, so an approver is
 * never asked about a call the upstream would reject.
 */
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { toolDefinitions } from '../examples/databricks-mock/tools.js';
import { validateInput } from '../src/policy/input-schema.js';

function mockTool(name: string): Tool {
  const tool = toolDefinitions.find((t) => t.name === name);
  if (!tool) throw new Error(`no mock tool ${name}`);
  return tool;
}

const typed: Tool = {
  name: 'typed',
  inputSchema: {
    type: 'object',
    properties: {
      job_id: { type: 'integer', minimum: 1 },
      env: { enum: ['dev', 'prod'] },
      tags: { type: 'array', items: { $ref: '#/$defs/tag' } },
    },
    required: ['job_id'],
    additionalProperties: false,
    $defs: { tag: { type: 'string', maxLength: 5 } },
  },
};

describe('validateInput', () => {
  it("accepts run_job arguments that fit the mock's schema", () => {
    expect(validateInput(mockTool('run_job'), { params: { job_id: 101, notebook_params: { env: 'dev' } } })).toEqual([]);
  });

  it('reports the missing params object of run_job by its path', () => {
    expect(validateInput(mockTool('run_job'), { job_id: 101 })).toEqual([{ path: 'params', rule: 'inputSchema #/required', problem: 'is missing' }]);
  });

  it('reports params of the wrong type with the dotted path', () => {
    expect(validateInput(mockTool('run_job'), { params: 'job 101' })).toEqual([
      { path: 'params', rule: 'inputSchema #/properties/params/type', problem: 'must be object' },
    ]);
  });

  it('reports every problem at once, nested paths dotted, through $refs', () => {
    const violations = validateInput(typed, { job_id: 0, env: 'staging', tags: ['ok', 'too-long'], extra: true });
    expect(violations).toEqual(
      expect.arrayContaining([
        { path: 'job_id', rule: 'inputSchema #/properties/job_id/minimum', problem: 'must be >= 1' },
        { path: 'env', rule: 'inputSchema #/properties/env/enum', problem: 'must be equal to one of the allowed values' },
        { path: 'tags.1', rule: 'inputSchema #/$defs/tag/maxLength', problem: 'must NOT have more than 5 characters' },
        { path: 'extra', rule: 'inputSchema #/additionalProperties', problem: 'is not a parameter of this tool' },
      ]),
    );
    expect(violations).toHaveLength(4);
  });

  it('never changes the arguments it checks (no defaults filled, nothing coerced or removed)', () => {
    const tool: Tool = {
      name: 'd',
      inputSchema: { type: 'object', properties: { n: { type: 'number', default: 5 }, s: { type: 'string' } }, additionalProperties: false },
    };
    const args = { s: 'x' };
    validateInput(tool, args);
    expect(args).toEqual({ s: 'x' });
    expect(validateInput(tool, { s: 1 })).toHaveLength(1);
  });

  it('compiles a re-listed copy of the same schema only once and keeps answering the same', () => {
    const copy: Tool = structuredClone(typed);
    expect(validateInput(copy, { job_id: 3 })).toEqual([]);
    expect(validateInput(typed, { job_id: 3 })).toEqual([]);
  });

  it('refuses calls when the upstream schema cannot be compiled, rather than letting them through unchecked', () => {
    const broken: Tool = { name: 'broken', inputSchema: { type: 'object', properties: { x: { $ref: '#/$defs/missing' } } } };
    const [violation] = validateInput(broken, { x: 1 });
    expect(violation).toMatchObject({ path: '(arguments)', rule: 'inputSchema' });
    expect(violation?.problem).toContain('does not compile');
  });

  it('validates draft-07 schemas with the draft-07 dialect', () => {
    const draft7: Tool = {
      name: 'd7',
      inputSchema: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { a: { type: 'string' } }, definitions: {} },
    };
    expect(validateInput(draft7, { a: 'x' })).toEqual([]);
    expect(validateInput(draft7, { a: 1 })).toHaveLength(1);
  });
});
