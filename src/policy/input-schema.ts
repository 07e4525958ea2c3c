/**
 * Checks a call's arguments against the upstream tool's own `inputSchema` (JSON Schema), the
 * pipeline step right after the policy's constraints and before rate limits and holds: an
 * approver is never asked about a call the upstream would reject. Each schema is compiled once
 * (ajv) and cached by the schema object and by its content hash, so a re-listed catalog with the
 * same schemas reuses them. Validation never coerces, fills defaults or removes anything: the
 * arguments forwarded are exactly the arguments checked.
 */
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import type { ConstraintViolation } from './types.js';

type Compiled = { validate: ValidateFunction } | { error: string };

const ajvOptions: Options = {
  allErrors: true,
  // Upstream schemas carry keywords and formats ajv does not know; ignore them rather than fail.
  strict: false,
  validateFormats: false,
  validateSchema: false,
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false,
  logger: false,
};

/** MCP's default dialect is 2020-12; schemas that name draft-07 or draft-06 get the draft-07 validator. */
const ajv2020 = new Ajv2020(ajvOptions);
const ajvDraft7 = new Ajv(ajvOptions);

const byObject = new WeakMap<object, Compiled>();
const byHash = new Map<string, Compiled>();
const maxHashedSchemas = 2_000;
const maxViolations = 20;

function compile(schema: Tool['inputSchema']): Compiled {
  const hash = sha256Hex(canonicalJson(schema));
  const cached = byHash.get(hash);
  if (cached) return cached;
  const dialect = typeof schema['$schema'] === 'string' ? schema['$schema'] : '';
  const ajv = /draft-0[67]/.test(dialect) ? ajvDraft7 : ajv2020;
  let compiled: Compiled;
  try {
    compiled = { validate: ajv.compile(schema) };
  } catch (error) {
    compiled = { error: error instanceof Error ? error.message : String(error) };
  } finally {
    // The validator keeps what it needs; dropping ajv's own entry keeps memory flat across
    // catalog refreshes and lets a later schema reuse the same $id.
    ajv.removeSchema(schema);
  }
  if (byHash.size >= maxHashedSchemas) byHash.clear();
  byHash.set(hash, compiled);
  return compiled;
}

function validatorFor(definition: Tool): Compiled {
  const schema = definition.inputSchema;
  let compiled = byObject.get(schema);
  if (compiled === undefined) {
    compiled = compile(schema);
    byObject.set(schema, compiled);
  }
  return compiled;
}

/** `/params/job_id` → `params.job_id` (JSON Pointer escapes undone). */
function dotted(pointer: string, child?: unknown): string {
  const segments =
    pointer === ''
      ? []
      : pointer
          .slice(1)
          .split('/')
          .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (typeof child === 'string') segments.push(child);
  return segments.length === 0 ? '(arguments)' : segments.join('.');
}

function toViolation(error: ErrorObject): ConstraintViolation {
  const rule = `inputSchema ${error.schemaPath}`;
  const params: Record<string, unknown> = error.params;
  switch (error.keyword) {
    case 'required':
      return { path: dotted(error.instancePath, params['missingProperty']), rule, problem: 'is missing' };
    case 'additionalProperties':
      return { path: dotted(error.instancePath, params['additionalProperty']), rule, problem: 'is not a parameter of this tool' };
    case 'unevaluatedProperties':
      return { path: dotted(error.instancePath, params['unevaluatedProperty']), rule, problem: 'is not a parameter of this tool' };
    default:
      return { path: dotted(error.instancePath), rule, problem: error.message ?? 'is invalid' };
  }
}

/**
 * The ways the arguments break the tool's inputSchema (empty when they fit). A schema that
 * cannot be compiled fails closed: the call is refused with one violation saying so, since the
 * gateway would otherwise hold or forward a call it could not check.
 */
export function validateInput(definition: Tool, args: Record<string, unknown>): ConstraintViolation[] {
  const compiled = validatorFor(definition);
  if ('error' in compiled) {
    return [
      {
        path: '(arguments)',
        rule: 'inputSchema',
        problem: `cannot be checked: the upstream's inputSchema for ${definition.name} does not compile (${compiled.error}); the gateway refuses calls it cannot check, so ask the operator`,
      },
    ];
  }
  if (compiled.validate(args)) return [];
  const violations = (compiled.validate.errors ?? []).slice(0, maxViolations).map(toViolation);
  const unique = new Map(violations.map((v) => [`${v.path}\u0000${v.problem}`, v]));
  return [...unique.values()];
}
