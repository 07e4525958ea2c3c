/**
 * Drives the conformance suite's CLI (`@modelcontextprotocol/conformance`, run on Node 22) and
 * reads its results: one `checks.json` per scenario under the output folder. A scenario passes
 * when none of its checks is a FAILURE (warnings are recommendations, as in the suite's summary).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const cli = path.join(path.dirname(require.resolve('@modelcontextprotocol/conformance/package.json')), 'dist/index.js');

/** A whole suite run is cut off after this long; scenarios it had not finished count as failed. */
const suiteDeadlineMs = 10 * 60_000;

export interface ScenarioOutcome {
  /** `CheckName: message` of each failed check. */
  failures: string[];
  warnings: number;
}

interface Check {
  name: string;
  status: string;
  description?: string;
  errorMessage?: string;
}

/** The names of every server scenario the installed suite has, in its order. */
export async function listServerScenarios(node: string): Promise<string[]> {
  const { code, output } = await runCli(node, ['list', '--server']);
  const names = [...output.matchAll(/^\s+- (\S+)/gm)].map((match) => match[1] as string); // the pattern has one capture group
  if (code !== 0 || names.length === 0) throw new Error(`conformance list --server failed (exit ${code}): ${output}`);
  return names;
}

/**
 * Runs every server scenario (`--suite all`: the default "active" suite leaves out the pending
 * ones) against `url`, writing the CLI's output to `outDir/suite.log`, and returns each scenario's
 * outcome. A scenario the suite did not report on is absent from the map.
 */
export async function runSuite(node: string, url: string, outDir: string): Promise<Map<string, ScenarioOutcome>> {
  const resultsDir = path.join(outDir, 'results');
  mkdirSync(outDir, { recursive: true });
  await runCli(node, ['server', '--url', url, '--suite', 'all', '--output-dir', resultsDir], path.join(outDir, 'suite.log'));
  return readOutcomes(resultsDir);
}

/** Folder names are `server-<scenario>-<ISO time with : and . as ->`. */
function readOutcomes(resultsDir: string): Map<string, ScenarioOutcome> {
  const outcomes = new Map<string, ScenarioOutcome>();
  if (!existsSync(resultsDir)) return outcomes;
  for (const entry of readdirSync(resultsDir)) {
    const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/.exec(entry)?.[1];
    const file = path.join(resultsDir, entry, 'checks.json');
    if (scenario === undefined || !existsSync(file)) continue;
    const checks = JSON.parse(readFileSync(file, 'utf8')) as Check[]; // written by the suite: an array of checks
    outcomes.set(scenario, {
      failures: checks.filter((c) => c.status === 'FAILURE').map((c) => `${c.name}: ${c.errorMessage ?? c.description ?? 'failed'}`),
      warnings: checks.filter((c) => c.status === 'WARNING').length,
    });
  }
  return outcomes;
}

async function runCli(node: string, args: string[], logFile?: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(node, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const sink = logFile ? createWriteStream(logFile) : undefined;
  let output = '';
  const collect = (chunk: Buffer) => {
    if (sink) sink.write(chunk);
    else output += chunk.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const timer = setTimeout(() => child.kill('SIGKILL'), suiteDeadlineMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  if (sink) await new Promise((resolve) => sink.end(resolve));
  return { code, output };
}
