/**
 * `airlock agents token NAME` and `airlock dashboard token NAME`: a fresh random token and the
 * config entry holding only its SHA-256 — the token itself is shown once and stored nowhere.
 */
import { existsSync } from 'node:fs';
import { resolveConfigPath } from '../config/load.js';
import { generateToken, hashToken } from '../identity/tokens.js';
import { CliError, configOption, loadCliConfig, parse } from './common.js';

const namePattern = /^[A-Za-z0-9_.-]{1,64}$/;

function tokenCommand(kind: 'agents' | 'dashboard') {
  return async (args: string[]): Promise<number> => {
    const { positionals, values } = parse(args, configOption);
    const [sub, name] = positionals;
    if (sub !== 'token' || name === undefined) throw new CliError(`usage: airlock ${kind} token NAME [--config FILE]`);
    if (!namePattern.test(name)) throw new CliError('names use letters, digits, ".", "_" and "-" (at most 64)');
    if (kind === 'dashboard' && name === 'admin') throw new CliError('"admin" is the name the admin token signs in with; choose another user name');
    const token = generateToken();
    const entry = `${JSON.stringify(name)}: { "tokenSha256": "${hashToken(token)}"${kind === 'dashboard' ? ', "slackUserId": "U…", "role": "viewer"' : ''} }`;
    const who =
      kind === 'agents'
        ? `agent "${name}" (give it to the agent as its bearer token or AIRLOCK_TOKEN)`
        : `dashboard user "${name}" (they sign in at the dashboard with the user name "${name}" and this token; role viewer, approver or admin)`;
    const where = kind === 'agents' ? '"agents"' : '"dashboard": { "users": … }';
    const file = resolveConfigPath(values.config);
    const existing = existingNames(values.config, kind);
    const replace = existing?.includes(name)
      ? `\n${JSON.stringify(name)} is already in ${file}: replace its "tokenSha256" with the one above (the old token then stops working).\n`
      : '';
    process.stdout.write(
      `Token for ${who}, shown once:\n\n  ${token}\n\n` +
        `Add this entry under ${where} in ${existing ? file : 'airlock.config.json'} (only the SHA-256 hash is stored):\n\n  ${entry}\n${replace}`,
    );
    return 0;
  };
}

/** Names already in the config (when it exists and loads), so a repeat name is said to be a replacement. */
function existingNames(flag: string | undefined, kind: 'agents' | 'dashboard'): string[] | undefined {
  if (flag === undefined && !existsSync(resolveConfigPath(undefined))) return undefined;
  try {
    const config = loadCliConfig(flag);
    return Object.keys(kind === 'agents' ? config.agents : config.dashboard.users);
  } catch (error) {
    if (flag !== undefined) throw error; // the config named on the command line must load
    return undefined; // a token does not need a valid default config
  }
}

export const runAgentsCommand = tokenCommand('agents');
export const runDashboardCommand = tokenCommand('dashboard');
