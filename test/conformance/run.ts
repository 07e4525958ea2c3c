/**
 * npm run test:conformance — the official MCP conformance suite (`@modelcontextprotocol/conformance`,
 * every server scenario: `--suite all`) against our reference server three ways:
 *
 *   direct         the reference server over Streamable HTTP
 *   airlock-http   Airlock (allow-all policy) with the reference server as an HTTP upstream
 *   airlock-stdio  Airlock (allow-all policy) with the reference server as a stdio child
 *
 * Airlock runs in this process on real Redis; an auth forwarder (auth-forwarder.ts) gives the
 * suite's header-less client an agent token. The three suite runs go in parallel, one CLI run per
 * target. Prints a scenario × target table and exits 1 unless every scenario passes directly and
 * everything that passes directly also passes through Airlock on both transports.
 *
 *   npm run test:conformance [-- --keep-output]   # keeps each target's suite log and checks.json files
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';
import { freePort, startRedisServer } from '../helpers/redis-server.js';
import { repoRoot } from '../helpers/upstreams.js';
import { startAuthForwarder, type AuthForwarder } from './auth-forwarder.js';
import { ensureNode22 } from './node22.js';
import { listServerScenarios, runSuite, type ScenarioOutcome } from './suite.js';

const targets = ['direct', 'airlock-http', 'airlock-stdio'] as const;
type Target = (typeof targets)[number];

const { values } = parseArgs({ options: { 'keep-output': { type: 'boolean', default: false } } });
const serveReference = path.join(repoRoot, 'test/conformance/serve-reference.ts');
const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const node = ensureNode22(path.join(repoRoot, '.cache'), log);
  const scenarios = await listServerScenarios(node);
  const stops: (() => Promise<void>)[] = [];
  const workDir = mkdtempSync(path.join(tmpdir(), 'airlock-conformance-'));
  try {
    const redis = process.env['REDIS_URL'] ? undefined : await startRedisServer();
    if (redis) stops.push(() => redis.stop());
    const redisUrl = process.env['REDIS_URL'] ?? (redis as { url: string }).url; // one of the two is set just above

    const reference = await startReferenceHttp();
    stops.push(reference.stop);
    const upstreams: Record<Exclude<Target, 'direct'>, unknown> = {
      'airlock-http': { url: reference.url },
      // per-agent: the suite's sampling, elicitation and per-session logging scenarios need the agent's own child.
      'airlock-stdio': { command: process.execPath, args: ['--import', 'tsx', serveReference, '--stdio'], cwd: repoRoot, session: 'per-agent' },
    };
    const urls: Record<Target, string> = { direct: reference.url, 'airlock-http': '', 'airlock-stdio': '' };
    for (const target of ['airlock-http', 'airlock-stdio'] as const) {
      const gateway: InProcessGateway = await startInProcessGateway({
        redisUrl,
        prefix: `conformance-${process.pid}-${target}:`,
        mcpServers: { reference: upstreams[target] },
        agents: ['conformance'],
      });
      stops.push(() => gateway.gateway.close());
      const forwarder: AuthForwarder = await startAuthForwarder(new URL(gateway.mcpUrl), `Bearer ${gateway.tokens['conformance']}`);
      stops.push(forwarder.close);
      urls[target] = forwarder.url;
    }

    log(`conformance: ${scenarios.length} server scenarios × ${targets.join(', ')} (suite output in ${workDir})`);
    const started = Date.now();
    const outcomes = await Promise.all(targets.map((target) => runSuite(node, urls[target], path.join(workDir, target))));
    log(`conformance: suite runs took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const results = Object.fromEntries(targets.map((target, index) => [target, outcomes[index] as Map<string, ScenarioOutcome>])) as Record<
      Target,
      Map<string, ScenarioOutcome>
    >; // built from `targets`, so every key is present
    return report(scenarios, results);
  } finally {
    for (const stop of stops.reverse()) await stop().catch((error: unknown) => log(`conformance: shutdown: ${String(error)}`));
    if (!values['keep-output']) rmSync(workDir, { recursive: true, force: true });
  }
}

function report(scenarios: string[], results: Record<Target, Map<string, ScenarioOutcome>>): number {
  const cell = (outcome: ScenarioOutcome | undefined) =>
    !outcome
      ? 'FAIL (no result)'
      : outcome.failures.length > 0
        ? 'FAIL'
        : outcome.warnings > 0
          ? `pass (${outcome.warnings} warning${outcome.warnings > 1 ? 's' : ''})`
          : 'pass';
  const passed = (target: Target, scenario: string) => results[target].get(scenario)?.failures.length === 0;
  const lines = [`| scenario | ${targets.join(' | ')} |`, `|---|${targets.map(() => '---|').join('')}`];
  for (const scenario of scenarios) lines.push(`| ${scenario} | ${targets.map((target) => cell(results[target].get(scenario))).join(' | ')} |`);
  lines.push(`| **passed** | ${targets.map((target) => `${scenarios.filter((s) => passed(target, s)).length} / ${scenarios.length}`).join(' | ')} |`);
  process.stdout.write(`\n${lines.join('\n')}\n`);

  const details: string[] = [];
  for (const target of targets) {
    for (const scenario of scenarios) {
      const outcome = results[target].get(scenario);
      if (!outcome) details.push(`  ${target} ${scenario}: the suite produced no result (it crashed or timed out)`);
      else for (const failure of outcome.failures) details.push(`  ${target} ${scenario}: ${failure}`);
    }
  }
  if (details.length > 0) process.stdout.write(`\nFailed checks:\n${details.join('\n')}\n`);

  const directFailures = scenarios.filter((s) => !passed('direct', s));
  const regressions = targets
    .filter((target) => target !== 'direct')
    .flatMap((target) => scenarios.filter((s) => passed('direct', s) && !passed(target, s)).map((s) => `${target}: ${s}`));
  const cells = targets.flatMap((target) => scenarios.map((s) => passed(target, s)));
  process.stdout.write(`\nconformance: ${cells.filter(Boolean).length} passed, ${cells.filter((ok) => !ok).length} failed\n`);
  if (directFailures.length > 0) {
    process.stdout.write(
      `The reference server failed ${directFailures.join(', ')} directly; it is written to pass every scenario, and a direct failure hides what Airlock does there.\n`,
    );
  }
  if (regressions.length > 0) process.stdout.write(`Passes directly but not through Airlock: ${regressions.join(', ')}\n`);
  return directFailures.length === 0 && regressions.length === 0 ? 0 : 1;
}

async function startReferenceHttp(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', serveReference, '--port', String(port)], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  process.on('exit', () => child.kill()); // never leave it behind, even when this process dies on an error
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the reference server exited (${child.exitCode}): ${stderr}`);
    if (stderr.includes('conformance reference server on')) return { url: `http://127.0.0.1:${port}/mcp`, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the reference server did not start within 20 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

process.exitCode = await main().catch((error: unknown) => {
  log(`conformance: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return 1;
});
