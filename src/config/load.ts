/**
 * Loads `airlock.config.json`: read → JSON parse → `${ENV}` interpolation → zod → env overrides.
 * Every problem is reported at once, each with its JSON path and what to do, so an operator fixes
 * the file in one pass instead of one error per restart.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AirlockError, formatProblems, type LoadProblem } from '../errors.js';
import { zodProblems } from '../util/zod-problems.js';
import { interpolateEnv } from './interpolate.js';
import { ConfigSchema, type Config } from './schema.js';
import { clusterPrefixProblem } from '../state/redis.js';

export interface LoadedConfig extends Config {
  /**
   * Absolute path of the file this came from. Relative paths inside it resolve against its folder:
   * policy files, `audit.file`, and stdio upstreams' `cwd` (default: that folder itself).
   */
  file: string;
  dir: string;
}

/** Settings that only ever come from the environment (the DESIGN "Interfaces" contract). */
export interface EnvSettings {
  slackBotToken: string | undefined;
  slackSigningSecret: string | undefined;
  slackAppToken: string | undefined;
  slackApiUrl: string | undefined;
  adminToken: string | undefined;
  /** `AIRLOCK_HASH_SECRET`: keys the argument hashes; unset → generated once and kept in Redis. */
  hashSecret?: string | undefined;
  /** Any other variable, by name: secrets the config names (e.g. a webhook's `secretEnv`); an empty value reads as unset. */
  variable?(name: string): string | undefined;
}

export const defaultConfigFile = 'airlock.config.json';

/** The config path: `--config` wins, then `AIRLOCK_CONFIG`, then ./airlock.config.json. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(flag ?? env['AIRLOCK_CONFIG'] ?? defaultConfigFile);
}

/** Reads and validates a config file; throws `config_invalid` listing every problem. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    throw configError([
      { file: absolute, path: '$', message: `cannot read the config file (${(error as Error).message}); pass --config FILE or set AIRLOCK_CONFIG` },
    ]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw configError([{ file: absolute, path: '$', message: `not valid JSON: ${(error as Error).message}` }]);
  }
  return parseConfig(raw, absolute, env);
}

/** Validates an already parsed config object; `file` anchors relative paths. */
export function parseConfig(raw: unknown, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const { value, problems } = interpolateEnv(raw, env);
  const parsed = ConfigSchema.safeParse(value);
  const all: LoadProblem[] = problems.map((p) => ({ ...p, file }));
  if (!parsed.success) all.push(...zodProblems(parsed.error, file));
  if (all.length > 0 || !parsed.success) throw configError(all);

  const config = parsed.data;
  const dir = path.dirname(file);
  const port = env['PORT'];
  if (port !== undefined && port !== '') {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 0 || n > 65_535) throw configError([{ path: 'PORT', message: `PORT must be a port number, got ${JSON.stringify(port)}` }]);
    config.port = n;
  }
  if (env['REDIS_URL']) config.redis.url = env['REDIS_URL'];
  const prefixProblem = clusterPrefixProblem(config.redis.url, config.redis.prefix);
  if (prefixProblem) throw configError([{ file, path: '$.redis.prefix', message: prefixProblem }]);
  const resolve = (p: string | undefined) => (p === undefined ? undefined : path.resolve(dir, p));
  config.policy = resolve(config.policy);
  config.audit.file = resolve(config.audit.file);
  for (const agent of Object.values(config.agents)) agent.policy = resolve(agent.policy);
  // A stdio upstream runs in `cwd` (relative to this file), by default in this file's folder, so
  // relative paths in its `command` and `args` mean the same wherever the gateway is started from.
  for (const upstream of Object.values(config.mcpServers)) {
    if (upstream.kind === 'stdio') upstream.cwd = resolve(upstream.cwd) ?? dir;
  }
  return { ...config, file, dir };
}

export function readEnvSettings(env: NodeJS.ProcessEnv = process.env): EnvSettings {
  const get = (name: string) => (env[name] === '' ? undefined : env[name]);
  return {
    slackBotToken: get('SLACK_BOT_TOKEN'),
    slackSigningSecret: get('SLACK_SIGNING_SECRET'),
    slackAppToken: get('SLACK_APP_TOKEN'),
    slackApiUrl: get('SLACK_API_URL'),
    adminToken: get('AIRLOCK_ADMIN_TOKEN'),
    hashSecret: get('AIRLOCK_HASH_SECRET'),
    variable: get,
  };
}

function configError(problems: LoadProblem[]): AirlockError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return new AirlockError('config_invalid', `invalid configuration (${count}):\n${formatProblems(problems)}`, {
    details: { problems },
  });
}
