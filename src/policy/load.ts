/**
 * From policy file to compiled policy: read → JSON (duplicate keys refused) → zod schema →
 * compile. Used by the engine at start and on every reload, and by `airlock policy check`, so
 * the gateway and the CLI accept exactly the same files and report the same problems.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { AirlockError, formatProblems, jsonPath, type LoadProblem } from '../errors.js';
import { zodProblems } from '../util/zod-problems.js';
import { compilePolicy, type CompileResult } from './compile.js';
import type { CompiledPolicy } from './compiled.js';
import { findDuplicateKeys } from './duplicate-keys.js';
import { PolicyFileSchema } from './schema.js';

export type PolicyLoadResult = CompileResult;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function at(file: string | undefined, path: readonly PropertyKey[], message: string): LoadProblem {
  return file === undefined ? { path: jsonPath(path), message } : { file, path: jsonPath(path), message };
}

/** zod problems, with a bad record key (a tool key or argument path) reported by its own message. */
function schemaProblems(error: z.ZodError, file: string | undefined): LoadProblem[] {
  const out: LoadProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'invalid_key') {
      const inner = issue.issues.map((i) => i.message).join('; ');
      out.push(at(file, issue.path, `key ${JSON.stringify(String(issue.path.at(-1)))}: ${inner}`));
    } else {
      out.push(...zodProblems(new z.ZodError([issue]), file));
    }
  }
  return out;
}

/** Validates and compiles an already parsed policy object. */
export function parsePolicy(raw: unknown, file?: string): PolicyLoadResult {
  const parsed = PolicyFileSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, problems: schemaProblems(parsed.error, file) };
  return compilePolicy(parsed.data, raw, file);
}

/** Parses policy file text: JSON syntax, duplicate keys, schema, then compile. */
export function parsePolicyText(text: string, file?: string): PolicyLoadResult {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (error) {
    return { ok: false, problems: [at(file, [], `not valid JSON: ${errorText(error)}`)] };
  }
  const duplicates = findDuplicateKeys(body).map((d) =>
    at(file, d.path, 'this key appears more than once in its object; JSON keeps only the last, so merge the two'),
  );
  const result = parsePolicy(raw, file);
  if (duplicates.length === 0) return result;
  return { ok: false, problems: [...duplicates, ...(result.ok ? [] : result.problems)] };
}

/** Reads and compiles a policy file; an unreadable file is a problem, not an exception. */
export async function loadPolicyFile(file: string): Promise<PolicyLoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return { ok: false, problems: [at(file, [], `cannot read the policy file (${errorText(error)})`)] };
  }
  return parsePolicyText(text, file);
}

/** The `policy_invalid` error that stops the gateway from booting, listing every problem. */
export function policyInvalidError(problems: readonly LoadProblem[]): AirlockError {
  return new AirlockError(
    'policy_invalid',
    `The policy is invalid; fix every problem below (airlock policy check lists them too):\n${formatProblems(problems)}`,
    {
      details: { problems },
    },
  );
}

/**
 * The policy used when no policy file is configured: deny everything (fail closed), with a
 * reason that tells the operator what to do.
 */
export function builtinDenyAll(): CompiledPolicy {
  const raw = {
    version: '1',
    default: 'deny',
    default_reason: 'No policy is configured on this gateway, so every tool is denied. An operator must set "policy" in airlock.config.json.',
  };
  const result = parsePolicy(raw);
  if (!result.ok) throw new Error(`built-in policy invalid: ${formatProblems(result.problems)}`);
  return { ...result.policy, source: '(built-in deny-all)' };
}
