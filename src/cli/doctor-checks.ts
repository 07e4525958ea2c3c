/**
 * The checks behind `airlock doctor`: each looks at one part the way the gateway would use it —
 * the same config loader, Redis choice, upstream connection code, policy loader and Slack client —
 * and returns findings with the fix for each problem. Nothing here changes anything.
 */
import type { DoctorFinding } from '../channel-plugin.js';
import type { LoadedConfig } from '../config/load.js';
import { readEnvSettings } from '../config/load.js';
import { demoTokenSha256 } from '../identity/tokens.js';
import type { Logger } from '../log.js';
import type { CompiledPolicy } from '../policy/compiled.js';
import { loadPolicyFile } from '../policy/load.js';
import { openApprovalRules } from '../policy/policy-info.js';
import type { Action } from '../policy/types.js';
import { embeddedDataDir, findOnPath, installRedisHelp, readEmbeddedRedisInfo } from '../state/embedded-redis.js';
import { redactRedisUrl } from '../state/redis.js';
import { embeddedRedisDir, localRedisUrl, probeRedis, redisSetting } from '../state/redis-location.js';
import { UpstreamConnection } from '../upstream/upstream-connection.js';
import { prefixSeparator } from '../upstream/upstream-pool.js';

/** One line of the report: what was checked, how it went, and what to do when it did not go well. */
export type Finding = DoctorFinding;
export type Severity = Finding['severity'];

/** Config facts worth a warning (the config itself loaded). */
export function checkConfig(config: LoadedConfig): Finding[] {
  const upstreams = Object.keys(config.mcpServers);
  const findings: Finding[] = [
    {
      severity: 'ok',
      subject: 'config',
      message: `valid: ${upstreams.length} upstream${upstreams.length === 1 ? '' : 's'} (${upstreams.join(', ')}), ${Object.keys(config.agents).length} agent(s), policy ${config.policy ?? '(none)'}`,
    },
  ];
  for (const [name, agent] of Object.entries(config.agents)) {
    if (agent.tokenSha256 === demoTokenSha256) {
      findings.push({
        severity: 'warn',
        subject: 'config',
        message: `agent "${name}" accepts the public demo token alk_demo-only-not-a-secret`,
        fix: `delete the "${name}" entry under "agents" before you deploy; \`airlock agents token NAME\` makes a real one`,
      });
    }
  }
  if (Object.keys(config.agents).length === 0) {
    findings.push({
      severity: 'warn',
      subject: 'config',
      message: 'no agents configured: every agent is refused (401)',
      fix: 'run `airlock agents token NAME` and paste the line under "agents"',
    });
  }
  if (readEnvSettings().adminToken === undefined) {
    findings.push({
      severity: 'info',
      subject: 'config',
      message: 'AIRLOCK_ADMIN_TOKEN is not set: the admin API is closed and the dashboard accepts only dashboard users',
    });
  }
  return findings;
}

/** Which Redis the gateway of this config would use, whether it answers, and whether it keeps data across a restart. */
export async function checkRedis(config: LoadedConfig): Promise<Finding[]> {
  const setting = redisSetting(config);
  const subject = 'redis';
  if (setting.kind === 'url') {
    const answer = await probeRedis(setting.url, 2_000);
    if (answer !== 'ok') {
      return [
        {
          severity: 'fail',
          subject,
          message: `cannot reach Redis at ${redactRedisUrl(setting.url)}${answer === 'auth' ? ' (it wants a password, or this one is wrong)' : ''}`,
          fix: `start it, or correct redis.url in ${config.file} (REDIS_URL overrides it); or set "redis": {"url": "embedded"} to let Airlock run its own`,
        },
      ];
    }
    return [{ severity: 'ok', subject, message: `${redactRedisUrl(setting.url)} answers` }, ...(await persistence(setting.url))];
  }
  const running = readEmbeddedRedisInfo(embeddedRedisDir(config));
  if (running && (await probeRedis(running.url, 1_000)) === 'ok') {
    return [
      { severity: 'ok', subject, message: `the embedded redis-server is running (pid ${running.pid}), data in ${embeddedRedisDir(config)}` },
      ...(await persistence(running.url)),
    ];
  }
  if (setting.kind === 'unset' && (await probeRedis(localRedisUrl, 1_000)) === 'ok') {
    return [
      { severity: 'ok', subject, message: `no redis.url set: the Redis on 127.0.0.1:6379 answers and will be used` },
      ...(await persistence(localRedisUrl)),
    ];
  }
  const binary = findOnPath('redis-server');
  if (binary === undefined) {
    return [
      {
        severity: 'fail',
        subject,
        message: `no Redis: ${setting.kind === 'unset' ? 'no redis.url or REDIS_URL is set, nothing answers on 127.0.0.1:6379, and ' : 'redis.url is "embedded" but '}redis-server is not installed`,
        fix: installRedisHelp,
      },
    ];
  }
  return [
    {
      severity: 'ok',
      subject,
      message: `${setting.kind === 'unset' ? 'no redis.url set and nothing on 127.0.0.1:6379' : 'redis.url is "embedded"'}: \`airlock serve\` will start ${binary} with its data in ${config.dir}/${embeddedDataDir} (append-only file on)`,
    },
  ];
}

/** Whether a Redis keeps holds and the audit history across a restart. */
async function persistence(url: string): Promise<Finding[]> {
  const { openRedis } = await import('../state/redis.js');
  const redis = openRedis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, commandTimeout: 2_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
    const findings: Finding[] = [];
    if (version !== 'unknown' && Number(version.split('.')[0]) < 6) {
      findings.push({
        severity: 'warn',
        subject: 'redis',
        message: `Redis ${version} is older than the 6.2 BullMQ expects`,
        fix: 'upgrade Redis to 6.2 or later',
      });
    }
    let aof: string | undefined;
    let save: string | undefined;
    let fsync: string | undefined;
    try {
      [, aof] = (await redis.config('GET', 'appendonly')) as [string, string]; // CONFIG GET answers [name, value]
      [, save] = (await redis.config('GET', 'save')) as [string, string];
      [, fsync] = (await redis.config('GET', 'appendfsync')) as [string, string];
    } catch {
      findings.push({
        severity: 'info',
        subject: 'redis',
        message: `Redis ${version}: persistence unknown (CONFIG GET is not allowed here); make sure the append-only file is on`,
      });
      return findings;
    }
    if (aof === 'yes') findings.push({ severity: 'ok', subject: 'redis', message: `Redis ${version}, append-only file on (appendfsync ${fsync ?? '?'})` });
    else if (save !== undefined && save.trim() !== '')
      findings.push({
        severity: 'warn',
        subject: 'redis',
        message: `Redis ${version} keeps only snapshots (save ${save}): a crash loses the holds and audit events since the last one`,
        fix: 'turn the append-only file on: appendonly yes (redis.conf, or CONFIG SET appendonly yes and CONFIG REWRITE)',
      });
    else
      findings.push({
        severity: 'warn',
        subject: 'redis',
        message: `Redis ${version} does not persist (appendonly no, no snapshots): a restart loses every hold and the audit history`,
        fix: 'turn the append-only file on: appendonly yes (redis.conf, or CONFIG SET appendonly yes and CONFIG REWRITE)',
      });
    return findings;
  } catch (error) {
    return [{ severity: 'fail', subject: 'redis', message: `Redis answered PING but not INFO: ${(error as Error).message}` }];
  } finally {
    redis.disconnect();
  }
}

export interface UpstreamReport {
  findings: Finding[];
  /** Tool names as agents see them (prefixed when there are several upstreams); undefined when some upstream did not answer. */
  tools: string[] | undefined;
}

/** Connects to each upstream with the gateway's own connection code and lists its tools. */
export async function checkUpstreams(config: LoadedConfig, log: Logger): Promise<UpstreamReport> {
  const entries = Object.entries(config.mcpServers);
  const prefixed = entries.length > 1;
  const results = await Promise.all(
    entries.map(async ([name, spec]) => {
      const connection = new UpstreamConnection(name, spec, log);
      try {
        await connection.start();
        const where = spec.kind === 'stdio' ? `"${[spec.command, ...spec.args].join(' ')}" in ${spec.cwd}` : spec.url;
        if (connection.state === 'connected') {
          const tools = connection.tools.map((t) => (prefixed ? `${name}${prefixSeparator}${t.name}` : t.name));
          return {
            tools,
            finding: { severity: 'ok', subject: `upstream ${name}`, message: `connected (${where}), ${tools.length} tool(s)` } satisfies Finding,
          };
        }
        const fix = connection.misconfigured
          ? spec.kind === 'stdio'
            ? `fix mcpServers.${name} in ${config.file}: run ${where} by hand to see what it needs (the child gets HOME, PATH, USER… plus its own "env")`
            : `fix mcpServers.${name}.url or .${spec.auth ? 'auth' : 'headers'} in ${config.file}`
          : `start it (Airlock reconnects by itself), or correct mcpServers.${name} in ${config.file}`;
        return {
          tools: undefined,
          finding: {
            severity: 'fail',
            subject: `upstream ${name}`,
            message: `${connection.misconfigured ? 'cannot start' : 'not reachable'}: ${connection.lastError}`,
            fix,
          } satisfies Finding,
        };
      } finally {
        await connection.close();
      }
    }),
  );
  const findings = results.map((r) => r.finding);
  const tools = results.every((r) => r.tools !== undefined) ? results.flatMap((r) => r.tools ?? []) : undefined;
  return { findings, tools };
}

/** Loads each policy file the gateway would load, then says what it does with the upstreams' tools. */
export async function checkPolicies(config: LoadedConfig, tools: string[] | undefined): Promise<Finding[]> {
  const files = [...new Set([config.policy, ...Object.values(config.agents).map((a) => a.policy)].filter((f): f is string => f !== undefined))];
  if (config.policy === undefined) {
    return [
      {
        severity: 'warn',
        subject: 'policy',
        message: 'no "policy" configured: the built-in deny-all policy denies every tool',
        fix: 'set "policy" in the config to a policy file (policies/databricks.json is the reference one; `airlock policy init` drafts one)',
      },
    ];
  }
  const findings: Finding[] = [];
  for (const file of files) {
    const result = await loadPolicyFile(file);
    if (!result.ok) {
      findings.push({
        severity: 'fail',
        subject: 'policy',
        message: `${file} has ${result.problems.length} problem(s):\n${result.problems.map((p) => `${p.path}: ${p.message}`).join('\n')}`,
        fix: `edit ${file} (\`airlock policy check\` lists the same problems); the gateway will not start with it`,
      });
      continue;
    }
    findings.push(...describeTools(file, result.policy, tools));
  }
  return findings;
}

function describeTools(file: string, policy: CompiledPolicy, tools: string[] | undefined): Finding[] {
  const subject = 'policy';
  const findings: Finding[] = [];
  if (tools === undefined) {
    findings.push({
      severity: 'ok',
      subject,
      message: `${file} (version ${policy.version}) loads; which tools it holds or denies is shown once every upstream answers`,
    });
  } else {
    const groups = { allow: [] as string[], approve: [] as string[], deny: [] as string[], mixed: [] as string[] };
    for (const tool of tools) {
      const actions = possibleActions(policy, tool);
      const only = actions.length === 1 ? actions[0] : undefined;
      if (only === undefined) groups.mixed.push(`${tool} (${actions.join(' or ')}, by arguments or agent)`);
      else groups[only].push(tool);
    }
    const list = (names: string[]) => (names.length === 0 ? 'none' : names.join(', '));
    findings.push({
      severity: 'ok',
      subject,
      message: `${file} (version ${policy.version}) loads. Allowed: ${list(groups.allow)}. Held for approval: ${list(groups.approve)}. Denied: ${list(groups.deny)}.${groups.mixed.length > 0 ? ` Depends: ${groups.mixed.join('; ')}.` : ''}`,
    });
    const offered = new Set(tools);
    const unknown = policy.entries.filter((e) => e.kind === 'exact' && !offered.has(e.key)).map((e) => e.key);
    if (unknown.length > 0) {
      findings.push({
        severity: 'warn',
        subject,
        message: `${file} names tools no upstream offers: ${unknown.join(', ')}`,
        fix: "check the names against the upstreams' tools (with several upstreams, tools are named <upstream>__<tool>)",
      });
    }
  }
  const open = openApprovalRules(policy);
  if (open.length > 0) {
    findings.push({
      severity: 'warn',
      subject,
      message: `${file} holds calls without naming approvers (${open.join(', ')}): any signed-in approver may decide them (every dashboard user, anyone who can click in the Slack channel)`,
      fix: 'name "approvers" (Slack user or user-group IDs) in the approval settings, or [] for admins only',
    });
  }
  return findings;
}

/** Every action a call of this tool can end in, by the entry's own action and its rules. */
function possibleActions(policy: CompiledPolicy, tool: string): Action[] {
  const entry = policy.index.lookup(tool);
  if (entry === undefined) return [policy.defaultOutcome.action];
  if (entry.alwaysDenied) return ['deny'];
  return [...new Set([...entry.rules.map((r) => r.outcome.action), entry.fallback.action])];
}

/** The Slack channels the policies name (`approval.channel`), for the channel check. */
export async function policyChannels(config: LoadedConfig): Promise<string[]> {
  const out = new Set<string>();
  for (const file of [config.policy, ...Object.values(config.agents).map((a) => a.policy)]) {
    if (file === undefined) continue;
    const result = await loadPolicyFile(file);
    if (!result.ok) continue;
    const p = result.policy;
    for (const outcome of [p.defaultOutcome, ...p.entries.flatMap((e) => [e.fallback, ...e.rules.map((r) => r.outcome)])]) {
      if (outcome.action === 'approve' && outcome.approval.channel !== undefined) out.add(outcome.approval.channel);
    }
  }
  return [...out];
}
