/**
 * Turns zod issues into LoadProblems with JSON paths, so config, policy and API validation all
 * report "where, what is wrong" the same way.
 */
import type { z } from 'zod';
import { jsonPath, type LoadProblem } from '../errors.js';

/** One problem per zod issue; unrecognised keys name the key so the operator can find the typo. */
export function zodProblems(error: z.ZodError, file?: string, basePath: readonly PropertyKey[] = []): LoadProblem[] {
  return error.issues.map((issue) => {
    const path = [...basePath, ...issue.path];
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}: remove it or check the spelling`;
    }
    return file === undefined ? { path: jsonPath(path), message } : { file, path: jsonPath(path), message };
  });
}

/** The first problem as one line, for HTTP 400 bodies. */
export function firstProblemLine(error: z.ZodError): string {
  const [first] = zodProblems(error);
  return first ? `${first.path}: ${first.message}` : 'invalid input';
}
