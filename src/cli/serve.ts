/**
 * `airlock serve` and `airlock stdio`: pick the Redis (configured, 127.0.0.1:6379, or an embedded
 * redis-server started here), start a Gateway — HTTP listens as soon as the policy has loaded,
 * whatever Redis and the upstreams do — and stop on SIGTERM/SIGINT within `shutdownGrace`
 * (a second signal exits at once).
 */
import { readEnvSettings, type LoadedConfig } from '../config/load.js';
import type { Gateway } from '../gateway.js';
import { AirlockError } from '../errors.js';
import { createAuthenticator } from '../identity/tokens.js';
import { createLogger, type Logger } from '../log.js';
import { resolveRedisForServer } from '../state/redis-location.js';
import { CliError, configOption, loadCliConfig, parse, printError } from './common.js';

export async function runServe(args: string[]): Promise<number> {
  const { values } = parse(args, configOption);
  const config = loadCliConfig(values.config);
  const log = createLogger();
  return runGateway(config, log, async (gateway) => {
    await gateway.start({ afterPolicyLoaded: () => listenOrExplain(gateway, config) });
    await new Promise<never>(() => undefined); // serves until a signal ends the process
  });
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
  return runGateway(config, log, async (gateway) => {
    await gateway.start();
    await gateway.serveStdio(agent);
  });
}

/**
 * Runs `serve` (until a signal) or `stdio` (until stdin ends) and then stops everything — the
 * gateway, then the embedded redis-server if this process started it — within `shutdownGrace`,
 * and exits: a part still hanging on an unreachable Redis cannot keep the process alive.
 */
async function runGateway(config: LoadedConfig, log: Logger, run: (gateway: Gateway) => Promise<void>): Promise<never> {
  const env = readEnvSettings();
  // The whole server is loaded only by the commands that run one, while Redis is found or started.
  const gatewayModule = import('../gateway.js');
  const redis = await resolveRedisForServer(config, { log });
  const graceMs = config.shutdownGrace;
  // The embedded redis-server gets a slice of the grace to write its append-only file and exit;
  // the gateway closes within the rest, a little before the hard stop at the end of the grace.
  const redisReserveMs = redis.started ? Math.min(1_000, graceMs / 5) : 0;
  const gatewayGraceMs = Math.max(0, graceMs - redisReserveMs - Math.min(250, graceMs / 10));
  let gateway: Gateway | undefined;
  let stopping: Promise<never> | undefined;
  const stop = (code: number, why: string): Promise<never> => {
    stopping ??= (async () => {
      log.info({ reason: why }, 'shutting down');
      const hardStop = setTimeout(() => {
        log.error({ shutdownGraceMs: graceMs }, 'shutdown grace ran out: exiting now');
        void exit(log, 1);
      }, graceMs);
      hardStop.unref();
      await gateway?.close();
      await redis.started?.stop(Math.max(100, redisReserveMs));
      return exit(log, code);
    })();
    return stopping;
  };
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1)
      void exit(log, 1); // the second signal: at once
    else void stop(0, signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const { Gateway } = await gatewayModule;
    // The gateway closes within the grace minus what the embedded redis-server needs after it.
    gateway = new Gateway({ config: { ...config, redis: { ...config.redis, url: redis.url }, shutdownGrace: gatewayGraceMs }, env, log });
    await run(gateway);
  } catch (error) {
    // A failed start (a broken policy, a taken port): stop what did start, say why, and exit.
    const code = printError(error);
    await gateway?.close();
    await redis.started?.stop(Math.max(100, redisReserveMs));
    return exit(log, code);
  }
  return stop(0, 'stdin closed');
}

/** Listens on the configured address; a taken port or a bad host is the operator's to fix, said plainly. */
async function listenOrExplain(gateway: Gateway, config: LoadedConfig): Promise<void> {
  try {
    await gateway.listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use by another process' : code === 'EACCES' ? 'not allowed to use this port' : (error as Error).message;
    throw new AirlockError('config_invalid', `cannot listen on ${config.host}:${config.port}: ${why}; set "port" in ${config.file} or PORT`);
  }
}

/** Flushes the log and ends the process (an embedded redis-server still running gets SIGTERM on the way out). */
async function exit(log: Logger, code: number): Promise<never> {
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  process.exit(code);
}
