/**
 * `airlock doctor [--config FILE] [--json]`: checks everything the gateway of this config needs —
 * the config, Redis (reachable, persistent), each upstream (connects, lists its tools), the policy
 * (loads; which tools are held or denied), Slack (the token, the channels) — and prints one line
 * per finding with the fix for each problem. Exit 0 when nothing failed (warnings allowed), 1 when
 * something must be fixed.
 */
import { createLogger, type Logger } from '../log.js';
import { loadConfig, resolveConfigPath, type LoadedConfig } from '../config/load.js';
import { isAirlockError } from '../errors.js';
import { checkConfig, checkPolicies, checkRedis, checkUpstreams, policyChannels, type Finding } from './doctor-checks.js';
import { checkOAuth } from './doctor-oauth.js';
import { checkDashboardOidc } from './doctor-oidc.js';
import { configOption, parse } from './common.js';

const marks: Record<Finding['severity'], string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', info: 'info' };

export async function runDoctor(args: string[]): Promise<number> {
  const { values } = parse(args, { ...configOption, json: { type: 'boolean' } });
  const file = resolveConfigPath(values.config);
  const findings = await diagnose(file);
  const failed = findings.filter((f) => f.severity === 'fail').length;
  const warned = findings.filter((f) => f.severity === 'warn').length;
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ config: file, ok: failed === 0, findings }, null, 2)}\n`);
    return failed === 0 ? 0 : 1;
  }
  process.stdout.write(`airlock doctor: ${file}\n\n${findings.map(formatFinding).join('\n')}\n\n`);
  const warnings = warned > 0 ? ` ${warned} warning${warned === 1 ? '' : 's'} to read.` : '';
  process.stdout.write(
    failed === 0 ? `All is well: nothing needs fixing.${warnings}\n` : `${failed} problem${failed === 1 ? '' : 's'} to fix (see "fix:" above).${warnings}\n`,
  );
  return failed === 0 ? 0 : 1;
}

/** Every finding for the config at `file`; a config that does not load is the only finding. */
async function diagnose(file: string): Promise<Finding[]> {
  let config;
  try {
    config = loadConfig(file);
  } catch (error) {
    if (!isAirlockError(error)) throw error;
    return [{ severity: 'fail', subject: 'config', message: error.message, fix: `edit ${file}; every problem above names its JSON path` }];
  }
  // The upstreams' own log lines (stderr of a child that fails) would drown the report: the findings carry the reason.
  const log = createLogger({ stderr: true, level: 'silent', ignoreEnvLevel: true });
  const [redis, upstreams, channels, oauth] = await Promise.all([checkRedis(config), checkUpstreams(config, log), policyChannels(config), checkOAuth(config)]);
  const [policy, slack, signIn] = await Promise.all([checkPolicies(config, upstreams.tools), checkChannels(config, channels, log), checkDashboardOidc(config)]);
  return [...checkConfig(config), ...oauth, ...redis, ...upstreams.findings, ...policy, ...slack, ...signIn];
}

/** `  FAIL  upstream databricks  reason` then an indented `fix:` line. */
function formatFinding(finding: Finding): string {
  const head = `${marks[finding.severity]}  ${finding.subject.padEnd(20)} `;
  const indent = ' '.repeat(head.length);
  const body = finding.message.split('\n').join(`\n${indent}`);
  return `${head}${body}${finding.fix ? `\n${indent}fix: ${finding.fix}` : ''}`;
}

/** Every registered channel's doctor checks (the registry is loaded lazily: it names the channels). */
async function checkChannels(config: LoadedConfig, channels: string[], log: Logger): Promise<Finding[]> {
  const { channelDoctors } = await import('../channel-registry.js');
  const findings = await Promise.all(channelDoctors.map((doctor) => doctor(config, channels, log)));
  return findings.flat();
}
