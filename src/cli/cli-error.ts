/**
 * How the CLI fails: a usage error (exit 2, no stack) and the one printer for every error —
 * problems one per line, exit code 2 for the operator's input, 1 otherwise. Kept free of heavy
 * imports so that `airlock --help` and a typo cost nothing but Node's start.
 */
import { isAirlockError } from '../errors.js';

/** A usage error: printed without a stack, exit code 2. */
export class CliError extends Error {}

/** Prints an error for a person at a terminal; returns the exit code. */
export function printError(error: unknown): number {
  if (error instanceof CliError) {
    process.stderr.write(`airlock: ${error.message}\n`);
    return 2;
  }
  if (isAirlockError(error)) {
    process.stderr.write(`airlock: ${error.message}\n`);
    return error.fault === 'client' ? 2 : 1;
  }
  process.stderr.write(`airlock: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
}
