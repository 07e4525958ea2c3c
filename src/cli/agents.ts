/** `airlock agents token NAME`: a fresh token for an agent and the config line holding only its hash. */
import { agentConfigLine, generateToken } from '../identity/tokens.js';
import { CliError, parse } from './common.js';

export async function runAgentsCommand(args: string[]): Promise<number> {
  const { positionals } = parse(args, {});
  const [sub, name] = positionals;
  if (sub !== 'token' || name === undefined) throw new CliError('usage: airlock agents token NAME');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new CliError('agent names use letters, digits, ".", "_" and "-" (at most 64)');
  const token = generateToken();
  process.stdout.write(
    `Token for agent "${name}" (shown once; give it to the agent as its bearer token or AIRLOCK_TOKEN):\n\n  ${token}\n\n` +
      `Add this entry under "agents" in airlock.config.json (only the SHA-256 hash is stored):\n\n  ${agentConfigLine(name, token)}\n`,
  );
  return 0;
}
