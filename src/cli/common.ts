/**
 * Shared CLI plumbing: argument parsing with node's own parseArgs, config loading, and one way
 * to print errors (problems one per line, exit code 2 for the operator's input, 1 otherwise).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
import { loadConfig, resolveConfigPath, type LoadedConfig } from '../config/load.js';
import { isAirlockError } from '../errors.js';

/** A usage error: printed without a stack, exit code 2. */
export class CliError extends Error {}

export function parse<O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

export const configOption = { config: { type: 'string', short: 'c' } } as const;

export function loadCliConfig(flag: string | undefined): LoadedConfig {
  return loadConfig(resolveConfigPath(flag));
}

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
