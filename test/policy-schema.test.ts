/**
 * policies/schema.json (the JSON Schema editors use) is exactly what the zod schema generates,
 * and the shipped policies validate against it, so editors show no false errors.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { policyJsonSchemaText, regenerateSchemaCommand } from '../src/policy/json-schema.js';

const root = path.resolve(import.meta.dirname, '..');
const committed = readFileSync(path.join(root, 'policies/schema.json'), 'utf8');

describe('policies/schema.json', () => {
  it(`matches the zod schema (regenerate with: ${regenerateSchemaCommand})`, () => {
    expect(committed, `policies/schema.json is stale: run ${regenerateSchemaCommand}`).toBe(policyJsonSchemaText());
  });

  it('accepts the shipped Databricks policy and rejects a misspelt key, as an editor would', () => {
    const validate = new Ajv2020({ strict: false }).compile(JSON.parse(committed) as object); // parsed JSON Schema text
    expect(validate(JSON.parse(readFileSync(path.join(root, 'policies/databricks.json'), 'utf8')))).toBe(true);
    expect(validate({ tools: { run_job: { actoin: 'deny' } } })).toBe(false);
  });
});
