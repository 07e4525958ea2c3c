/**
 * `airlock policy check | explain | init`: the operator's tools for policy files. `check` loads
 * files exactly as the gateway does (same loader, same problems); `explain` runs the same pure
 * evaluate() the gateway runs; `init` drafts a policy from the upstreams' tools/list.
 * Exit codes: 0 success, 2 invalid input (a policy with problems, bad flags), 1 runtime failure.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadedConfig } from '../config/load.js';
import { formatProblems } from '../errors.js';
import { createLogger } from '../log.js';
import type { CompiledPolicy } from '../policy/compiled.js';
import { policyEngineOptionsFromConfig } from '../policy/engine.js';
import { evaluate, isVisible } from '../policy/evaluate.js';
import { formatDecision } from '../policy/format-decision.js';
import { builtinDenyAll, loadPolicyFile, parsePolicy } from '../policy/load.js';
import { starterPolicy, type StarterCatalog } from '../policy/starter-policy.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';
import { canonicalArguments, explainLimits } from '../util/canonical.js';
import { CliError, configOption, loadCliConfig, parse } from './common.js';

/** Where the command writes; tests pass their own. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr };

export const policyUsage = `usage:
  airlock policy check [PATH ...] [--config FILE]    validate policy files (default: those the config names)
  airlock policy explain --agent NAME --tool TOOL [--args JSON] [--config FILE | --policy FILE] [--json]
  airlock policy init [--out FILE] [--config FILE] [--force]   draft a policy from the upstreams' tools
  airlock policy replay --policy CANDIDATE [--since 7d] [--until TIME] [--agent A] [--tool T] [--examples N] [--json] [--config FILE]
                                                     what CANDIDATE would have decided for the audited calls`;

export async function runPolicyCommand(args: string[], io: CliIo = processIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'check':
      return check(rest, io);
    case 'explain':
      return explain(rest, io);
    case 'init':
      return init(rest, io);
    case 'replay':
      return (await import('./policy-replay.js')).runPolicyReplay(rest, io);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.stdout.write(`${policyUsage}\n`);
      return sub === undefined ? 2 : 0;
    default:
      throw new CliError(`unknown policy command "${sub}"\n${policyUsage}`);
  }
}

/** Every policy file a config names: the default one, then agents' own. */
function configuredFiles(config: LoadedConfig): string[] {
  const { defaultFile, agentFiles } = policyEngineOptionsFromConfig(config);
  return [...new Set([defaultFile, ...Object.values(agentFiles ?? {})].filter((f): f is string => f !== undefined))];
}

async function check(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { ...configOption });
  let files = positionals.map((p) => path.resolve(p));
  if (files.length === 0) {
    const config = loadCliConfig(values.config);
    files = configuredFiles(config);
    if (files.length === 0) {
      io.stdout.write(`${config.file}: no "policy" configured, so the gateway denies every tool (built-in deny-all). Set "policy" to a policy file.\n`);
      return 0;
    }
  }
  let failed = false;
  for (const file of files) {
    const result = await loadPolicyFile(file);
    if (result.ok) {
      const p = result.policy;
      io.stdout.write(
        `OK ${file} version ${p.version} (${p.entries.length} tool entr${p.entries.length === 1 ? 'y' : 'ies'}, default ${p.defaultOutcome.action})\n`,
      );
      for (const warning of p.warnings) io.stdout.write(`warning: ${formatProblems([warning])}\n`);
    } else {
      failed = true;
      io.stdout.write(`${formatProblems(result.problems)}\n`);
      io.stderr.write(`${file}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}; the gateway will not load it\n`);
    }
  }
  return failed ? 2 : 0;
}

function parseArgsJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(`--args is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new CliError('--args must be a JSON object, e.g. \'{"params": {"job_id": 101}}\'');
  // The same canonical form the gateway evaluates (prototype-free, nesting bounded).
  const canonical = canonicalArguments(value, explainLimits);
  if (!canonical.ok) throw new CliError(`--args refused: ${canonical.violation.path} ${canonical.violation.problem}`);
  return canonical.value;
}

async function loadOrExplainProblems(file: string, io: CliIo): Promise<CompiledPolicy | undefined> {
  const result = await loadPolicyFile(file);
  if (result.ok) return result.policy;
  io.stdout.write(`${formatProblems(result.problems)}\n`);
  return undefined;
}

async function explain(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    ...configOption,
    agent: { type: 'string' },
    tool: { type: 'string' },
    args: { type: 'string', default: '{}' },
    policy: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (values.agent === undefined || values.tool === undefined) throw new CliError(`--agent and --tool are required\n${policyUsage}`);
  const callArgs = parseArgsJson(values.args);
  let policy: CompiledPolicy | undefined;
  if (values.policy !== undefined) {
    policy = await loadOrExplainProblems(path.resolve(values.policy), io);
  } else {
    const config = loadCliConfig(values.config);
    const agent = config.agents[values.agent];
    if (agent === undefined) {
      const known = Object.keys(config.agents);
      throw new CliError(
        `no agent "${values.agent}" in ${config.file} (agents: ${known.length > 0 ? known.join(', ') : 'none'}); or pass --policy FILE to try any agent name`,
      );
    }
    const file = agent.policy ?? config.policy;
    policy = file === undefined ? builtinDenyAll() : await loadOrExplainProblems(file, io);
  }
  if (policy === undefined) return 2;
  const decision = evaluate(policy, values.agent, values.tool, callArgs);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(decision, null, 2)}\n`);
    return 0;
  }
  const visible = isVisible(policy, values.agent, values.tool);
  io.stdout.write(`${formatDecision(decision, { policyFile: policy.source, agent: values.agent, tool: values.tool, visible })}\n`);
  io.stdout.write("note: the upstream's inputSchema is checked at call time too; explain does not contact upstreams.\n");
  return 0;
}

/** `$schema` for a written policy: the repository's policies/schema.json, relative to the output. */
function schemaRefFor(out: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i += 1) {
    const candidate = path.join(dir, 'policies', 'schema.json');
    if (existsSync(candidate)) {
      const relative = path.relative(path.dirname(out), candidate).split(path.sep).join('/');
      return relative.startsWith('.') ? relative : `./${relative}`;
    }
    dir = path.dirname(dir);
  }
  return './schema.json';
}

/** Resource URIs, templates and prompt names every upstream lists (all pages), for the draft. */
async function listCatalog(pool: UpstreamPool): Promise<StarterCatalog> {
  const out = { resources: [] as string[], resourceTemplates: [] as string[], prompts: [] as string[] };
  const all = async (upstream: UpstreamConnection, method: string, key: string, field: string): Promise<string[]> => {
    const found: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await upstream.request(method, cursor === undefined ? undefined : { cursor }, 15_000);
      const items = Array.isArray(page[key]) ? (page[key] as Array<Record<string, unknown>>) : []; // listed items are objects
      for (const item of items) if (typeof item[field] === 'string') found.push(item[field]);
      cursor = typeof page['nextCursor'] === 'string' ? page['nextCursor'] : undefined;
    } while (cursor !== undefined);
    return found;
  };
  for (const upstream of pool.connections.values()) {
    if (upstream.capabilities['resources'] !== undefined) {
      out.resources.push(...(await all(upstream, 'resources/list', 'resources', 'uri')));
      out.resourceTemplates.push(...(await all(upstream, 'resources/templates/list', 'resourceTemplates', 'uriTemplate')));
    }
    if (upstream.capabilities['prompts'] !== undefined) {
      out.prompts.push(...(await all(upstream, 'prompts/list', 'prompts', 'name')).map((name) => pool.exposedName(upstream.name, name)));
    }
  }
  return out;
}

async function init(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, { ...configOption, out: { type: 'string' }, force: { type: 'boolean', default: false } });
  const config = loadCliConfig(values.config);
  const out = path.resolve(values.out ?? config.policy ?? path.join(config.dir, 'policy.json'));
  if (existsSync(out) && !values.force) throw new CliError(`${out} already exists; pass --force to overwrite it or --out FILE to write elsewhere`);
  const { UpstreamPool } = await import('../upstream/upstream-pool.js'); // the MCP client: only `init` talks to upstreams
  const pool = new UpstreamPool(config.mcpServers, createLogger({ stderr: true, level: 'warn' }));
  let tools;
  let catalog: StarterCatalog | undefined;
  try {
    await pool.start();
    const down = pool.status().filter((s) => s.state !== 'connected');
    if (down.length > 0) {
      for (const s of down) io.stderr.write(`upstream "${s.name}" is not connected (${s.lastError ?? s.state})\n`);
      io.stderr.write('nothing written: every upstream must answer tools/list for a complete draft\n');
      return 1;
    }
    tools = [...pool.tools()];
    catalog = await listCatalog(pool);
  } finally {
    await pool.close();
  }
  const draft = starterPolicy(tools, schemaRefFor(out), catalog);
  const checked = parsePolicy(draft.policy, out);
  if (!checked.ok) throw new Error(`the drafted policy does not validate:\n${formatProblems(checked.problems)}`);
  writeFileSync(out, `${JSON.stringify(draft.policy, null, 2)}\n`, { flag: values.force ? 'w' : 'wx' });
  for (const name of draft.skipped) io.stderr.write(`skipped tool "${name}": its name cannot be a policy key, so the default (deny) applies to it\n`);
  io.stdout.write(
    `wrote ${out}: ${tools.length} tools (${draft.counts.allow} allowed, ${draft.counts.approve} need approval, everything else denied), ` +
      `${draft.counts.resources} resource and ${draft.counts.prompts} prompt entries (allowed), version ${checked.policy.version}\n` +
      `Review it, add approvers, then set "policy" in ${config.file} (and run: airlock policy check).\n`,
  );
  return 0;
}
