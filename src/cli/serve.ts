/**
 * `airlock serve` and `airlock stdio`: start a Gateway, stop it cleanly on SIGTERM/SIGINT
 * (a second signal exits at once).
 */
import { readEnvSettings } from '../config/load.js';
import { Gateway } from '../gateway.js';
import { createAuthenticator } from '../identity/tokens.js';
import { createLogger } from '../log.js';
import { CliError, configOption, loadCliConfig, parse } from './common.js';

export async function runServe(args: string[]): Promise<number> {
  const { values } = parse(args, configOption);
  const config = loadCliConfig(values.config);
  const log = createLogger();
  const gateway = new Gateway({ config, env: readEnvSettings(), log });
  const stopped = onShutdownSignal(log, () => gateway.close());
  await gateway.start();
  await gateway.listen();
  await stopped;
  return 0;
}

export async function runStdio(args: string[]): Promise<number> {
  const { values } = parse(args, configOption);
  const config = loadCliConfig(values.config);
  // stdout carries the MCP protocol here: every log line goes to stderr.
  const log = createLogger({ stderr: true });
  const agent = createAuthenticator(config.agents).authenticate(process.env['AIRLOCK_TOKEN']);
  if (!agent) {
    throw new CliError(
      process.env['AIRLOCK_TOKEN']
        ? 'AIRLOCK_TOKEN is not a known agent token: check the token your Airlock operator issued (airlock agents token NAME)'
        : 'set AIRLOCK_TOKEN to the agent token your Airlock operator issued (airlock agents token NAME)',
    );
  }
  const gateway = new Gateway({ config, env: readEnvSettings(), log });
  void onShutdownSignal(log, () => gateway.close());
  await gateway.start();
  await gateway.serveStdio(agent);
  await gateway.close();
  return 0;
}

function onShutdownSignal(log: { info: (o: object, m: string) => void }, close: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(1);
      stopping = true;
      log.info({ signal }, 'shutting down');
      void close().then(resolve, () => resolve());
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}
