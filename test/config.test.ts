import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { loadConfig, parseConfig } from '../src/config/load.js';
import { AirlockError } from '../src/errors.js';
import { repoRoot } from './helpers/upstreams.js';

const base = { mcpServers: { databricks: { command: 'node', args: ['mock.js'] } } };

function problemsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(raw, '/etc/airlock/airlock.config.json', env);
  } catch (error) {
    if (!(error instanceof AirlockError)) throw error;
    return (error.details['problems'] as Array<{ path: string; message: string }>).map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

describe('config', () => {
  it('fills documented defaults and resolves paths against the config file', () => {
    const config = parseConfig({ ...base, policy: 'policies/databricks.json' }, '/etc/airlock/airlock.config.json', {});
    expect(config.port).toBe(8080);
    // No url: `airlock serve` uses 127.0.0.1:6379 when something answers there, else an embedded redis-server.
    expect(config.redis).toEqual({ prefix: 'airlock:' });
    expect(config.policy).toBe('/etc/airlock/policies/databricks.json');
    expect(config.approvals.defaultTimeout).toBe(15 * 60_000);
    expect(config.mcpServers['databricks']).toMatchObject({ kind: 'stdio', command: 'node', env: {}, callTimeout: 120_000 });
  });

  it("runs stdio upstreams in the config file's folder, or in their cwd resolved against it", () => {
    const config = parseConfig(
      {
        mcpServers: {
          here: { command: 'node', args: ['dist/server.js'] },
          there: { command: './run.sh', cwd: '../tools' },
          abs: { command: 'x', cwd: '/opt/x' },
        },
      },
      '/etc/airlock/airlock.config.json',
      {},
    );
    expect(config.mcpServers['here']).toMatchObject({ cwd: '/etc/airlock', args: ['dist/server.js'] });
    expect(config.mcpServers['there']).toMatchObject({ cwd: '/etc/tools' });
    expect(config.mcpServers['abs']).toMatchObject({ cwd: '/opt/x' });
  });

  it('ships a config that names no Redis (so `npm start` uses 127.0.0.1:6379 or starts its own) and runs the mock from its own folder', () => {
    const config = loadConfig(path.join(repoRoot, 'airlock.config.json'), {});
    expect(config.redis.url).toBeUndefined();
    expect(config.mcpServers['databricks']).toMatchObject({ kind: 'stdio', cwd: repoRoot, args: ['dist/examples/databricks-mock/server.js'] });
  });

  it('takes "embedded" or a redis URL for redis.url and names what else it could be', () => {
    expect(parseConfig({ ...base, redis: { url: 'embedded' } }, '/x/airlock.config.json', {}).redis.url).toBe('embedded');
    expect(problemsOf({ ...base, redis: { url: 'localhost:6379' } })).toContainEqual(expect.stringMatching(/^\$\.redis\.url: .*"embedded"/));
  });

  it('lets PORT and REDIS_URL from the environment override the file', () => {
    const config = parseConfig({ ...base, port: 9000 }, '/x/airlock.config.json', { PORT: '7001', REDIS_URL: 'redis://cache:6380' });
    expect(config.port).toBe(7001);
    expect(config.redis.url).toBe('redis://cache:6380');
  });

  it('interpolates ${VAR} and ${VAR:-default} from the environment', () => {
    const config = parseConfig(
      {
        mcpServers: {
          remote: { url: '${DBX_URL}', headers: { Authorization: 'Bearer ${DBX_TOKEN}' } },
          local: { command: 'node', env: { DATABRICKS_HOST: '${DBX_HOST:-https://example.cloud.databricks.com}', PRICE: '$${literal}' } },
        },
      },
      '/x/airlock.config.json',
      { DBX_URL: 'https://mcp.example.com/mcp', DBX_TOKEN: 's3cret' },
    );
    expect(config.mcpServers['remote']).toMatchObject({ kind: 'http', url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer s3cret' } });
    expect(config.mcpServers['local']).toMatchObject({ env: { DATABRICKS_HOST: 'https://example.cloud.databricks.com', PRICE: '${literal}' } });
  });

  it('reports a missing environment variable with its path and how to fix it', () => {
    expect(problemsOf({ mcpServers: { remote: { url: '${DBX_URL}' } } })).toContainEqual(
      expect.stringMatching(/^\$\.mcpServers\.remote\.url: environment variable DBX_URL is not set: export it/),
    );
  });

  it('refuses credentials written literally into the file and names the env var to use', () => {
    const problems = problemsOf({
      mcpServers: {
        remote: { url: 'https://x.example/mcp', headers: { Authorization: 'Bearer dapi123' } },
        local: { command: 'node', env: { DATABRICKS_TOKEN: 'dapi456' } },
      },
    });
    expect(problems).toContainEqual(expect.stringMatching(/headers\.Authorization: looks like a credential .*\$\{UPSTREAM_TOKEN\}/));
    expect(problems).toContainEqual(expect.stringMatching(/env\.DATABRICKS_TOKEN: looks like a credential .*\$\{DATABRICKS_TOKEN\}/));
  });

  it('needs at least one upstream, and says an upstream needs command or url', () => {
    expect(problemsOf({ mcpServers: {} })).toContainEqual(expect.stringMatching(/configure at least one upstream/));
    expect(problemsOf({ mcpServers: { x: { args: [] } } })).toContainEqual(expect.stringMatching(/needs either "command" \(stdio\) or "url"/));
  });
});
