/**
 * `airlock agents token NAME` and `airlock dashboard token NAME`: a fresh random token and the
 * config entry holding only its SHA-256 — the token itself is shown once and stored nowhere.
 */
import { generateToken, hashToken } from '../identity/tokens.js';
import { CliError, parse } from './common.js';

const namePattern = /^[A-Za-z0-9_.-]{1,64}$/;

function tokenCommand(kind: 'agents' | 'dashboard') {
  return async (args: string[]): Promise<number> => {
    const { positionals } = parse(args, {});
    const [sub, name] = positionals;
    if (sub !== 'token' || name === undefined) throw new CliError(`usage: airlock ${kind} token NAME`);
    if (!namePattern.test(name)) throw new CliError('names use letters, digits, ".", "_" and "-" (at most 64)');
    if (kind === 'dashboard' && name === 'admin') throw new CliError('"admin" is the name the admin token signs in with; choose another user name');
    const token = generateToken();
    const entry = `${JSON.stringify(name)}: { "tokenSha256": "${hashToken(token)}"${kind === 'dashboard' ? ', "slackUserId": "U…", "role": "viewer"' : ''} }`;
    const who =
      kind === 'agents'
        ? `agent "${name}" (give it to the agent as its bearer token or AIRLOCK_TOKEN)`
        : `dashboard user "${name}" (they sign in at the dashboard with the user name "${name}" and this token; role viewer, approver or admin)`;
    const where = kind === 'agents' ? '"agents"' : '"dashboard": { "users": … }';
    process.stdout.write(
      `Token for ${who}, shown once:\n\n  ${token}\n\n` +
        `Add this entry under ${where} in airlock.config.json (only the SHA-256 hash is stored):\n\n  ${entry}\n`,
    );
    return 0;
  };
}

export const runAgentsCommand = tokenCommand('agents');
export const runDashboardCommand = tokenCommand('dashboard');
