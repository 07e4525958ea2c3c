/**
 * The cost of OAuth on the hot path: how long `/mcp`'s bearer-token check takes per request,
 * with a real OpenID Provider (oidc-provider) issuing a real RS256 JWT access token for the
 * resource. Measured on the authenticator the HTTP front calls (src/identity/request-authenticator.ts),
 * each check timed alone with hrtime:
 *
 *   static        an `alk_` token (hash map; its own small cache)
 *   jwt-warm      the same JWT again: the verified-token cache (what every request but the first costs)
 *   jwt-verify    the JWT with the cache off: full jose verification against a warm JWKS (the first request)
 *
 * Then the same through a whole in-process gateway over HTTP (`measureGatewayCalls`): an SDK
 * client with the static token and one with the JWT call `tools/call list_jobs` (the Databricks
 * mock over stdio) in alternating blocks, concurrency 1; p50 per call for each.
 *
 * Target (issue 17): jwt-warm adds ≤ 0.1 ms p50 per call. Run alone with
 * `npx tsx bench/oauth-token-check.ts [-- --iterations 200000]`; `npm run bench:proxy` runs it last.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthSpec } from '../src/config/oauth-schema.js';
import { createRequestAuthenticator, type AuthOutcome, type RequestAuthenticator } from '../src/identity/request-authenticator.js';
import { createAuthenticator, generateToken, hashToken } from '../src/identity/tokens.js';
import { createLogger } from '../src/log.js';
import { startInProcessGateway } from '../test/helpers/in-process-gateway.js';
import { startOidcProvider } from '../test/helpers/oidc-provider.js';
import { freePort, startRedisServer } from '../test/helpers/redis-server.js';
import { databricksMockStdio } from '../test/helpers/upstreams.js';

export interface TokenCheckFigures {
  name: string;
  p50Us: number;
  p99Us: number;
  meanUs: number;
}

const targetUs = 100;

async function timeChecks(auth: RequestAuthenticator, token: string, iterations: number): Promise<TokenCheckFigures & { ok: boolean }> {
  const samples = new Float64Array(iterations);
  let ok = true;
  for (let i = 0; i < iterations; i += 1) {
    const started = process.hrtime.bigint();
    const checked = auth.check(token);
    const outcome: AuthOutcome = checked instanceof Promise ? await checked : checked; // as the front does
    samples[i] = Number(process.hrtime.bigint() - started) / 1_000;
    if (!outcome.ok) ok = false;
  }
  const sorted = Array.from(samples).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { name: '', p50Us: at(0.5), p99Us: at(0.99), meanUs: sorted.reduce((a, b) => a + b, 0) / sorted.length, ok };
}

export async function measureTokenCheck(iterations = 100_000): Promise<TokenCheckFigures[]> {
  const resource = 'http://127.0.0.1:8080/mcp';
  const oidc = await startOidcProvider({ defaultResource: resource, clients: [{ clientId: 'bench-bot', clientSecret: 'bench-bot-secret-0123456789' }] });
  try {
    const staticToken = generateToken();
    const staticTokens = createAuthenticator({ 'bench-agent': { tokenSha256: hashToken(staticToken) } });
    const spec = (tokenCacheSize: number): OAuthSpec => ({
      resource,
      authorizationServers: [oidc.issuer],
      clockTolerance: 30_000,
      jwksCooldown: 30_000,
      scopes: [],
      requiredScopes: [],
      groupsClaim: 'groups',
      agents: [{ match: { clientId: 'bench-bot' }, agent: 'bench-agent' }],
      tokenCacheSize,
    });
    const log = createLogger({ level: 'silent' });
    const cached = createRequestAuthenticator({ staticTokens, oauth: spec(10_000), log });
    const uncached = createRequestAuthenticator({ staticTokens, oauth: spec(0), log });
    const { access_token: jwt } = await oidc.clientCredentialsToken('bench-bot', 'bench-bot-secret-0123456789');
    // Warm-up: JWKS fetched, JIT warm, the token verified once into the cache.
    for (const auth of [cached, uncached]) for (let i = 0; i < 2_000; i += 1) await auth.check(jwt);
    for (let i = 0; i < 2_000; i += 1) await cached.check(staticToken);
    const runs: Array<[string, RequestAuthenticator, string, number]> = [
      ['static', cached, staticToken, iterations],
      ['jwt-warm', cached, jwt, iterations],
      ['jwt-verify', uncached, jwt, Math.max(1_000, Math.round(iterations / 20))],
    ];
    const figures: TokenCheckFigures[] = [];
    for (const [name, auth, token, n] of runs) {
      const result = await timeChecks(auth, token, n);
      if (!result.ok) throw new Error(`${name}: the token was refused`);
      figures.push({ name, p50Us: result.p50Us, p99Us: result.p99Us, meanUs: result.meanUs });
    }
    return figures;
  } finally {
    await oidc.stop();
  }
}

export interface GatewayCallFigures {
  name: 'static token' | 'OAuth JWT';
  p50Ms: number;
  p99Ms: number;
  calls: number;
}

/** list_jobs through a real gateway, one client per token kind, alternating blocks of `block` calls. */
export async function measureGatewayCalls(blocks = 10, block = 200): Promise<GatewayCallFigures[]> {
  const redis = process.env['REDIS_URL'] ? undefined : await startRedisServer();
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const oidc = await startOidcProvider({ defaultResource: resource, clients: [{ clientId: 'bench-bot', clientSecret: 'bench-bot-secret-0123456789' }] });
  const gateway = await startInProcessGateway({
    redisUrl: process.env['REDIS_URL'] ?? (redis as { url: string }).url, // one of the two is set
    prefix: `bench-oauth-${randomUUID()}:`,
    port,
    mcpServers: { databricks: databricksMockStdio() },
    agents: ['bench-agent'],
    config: { oauth: { resource, authorizationServers: [oidc.issuer], agents: [{ match: { clientId: 'bench-bot' }, agent: 'bench-agent' }] } },
  });
  const clients: Client[] = [];
  try {
    const { access_token: jwt } = await oidc.clientCredentialsToken('bench-bot', 'bench-bot-secret-0123456789');
    const connect = async (token: string) => {
      const client = new Client({ name: 'bench', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      clients.push(client);
      return client;
    };
    const kinds: Array<{ name: GatewayCallFigures['name']; client: Client; samples: number[] }> = [
      { name: 'static token', client: await connect(gateway.tokens['bench-agent'] ?? ''), samples: [] },
      { name: 'OAuth JWT', client: await connect(jwt), samples: [] },
    ];
    const call = { name: 'list_jobs', arguments: { params: {} } };
    for (const kind of kinds) for (let i = 0; i < 300; i += 1) await kind.client.callTool(call); // warm-up
    for (let b = 0; b < blocks; b += 1) {
      for (const kind of b % 2 === 0 ? kinds : [...kinds].reverse()) {
        for (let i = 0; i < block; i += 1) {
          const started = process.hrtime.bigint();
          await kind.client.callTool(call);
          kind.samples.push(Number(process.hrtime.bigint() - started) / 1e6);
        }
      }
    }
    return kinds.map(({ name, samples }) => {
      const sorted = [...samples].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
      return { name, p50Ms: at(0.5), p99Ms: at(0.99), calls: sorted.length };
    });
  } finally {
    for (const client of clients) await client.close().catch(() => undefined);
    await gateway.gateway.close();
    await oidc.stop();
    await redis?.stop();
  }
}

export function reportGatewayCalls(figures: GatewayCallFigures[]): void {
  console.log('\nlist_jobs through an in-process gateway, concurrency 1 (ms)');
  console.log('| token        | p50 ms | p99 ms | calls |');
  console.log('| ------------ | ------ | ------ | ----- |');
  for (const f of figures) console.log(`| ${f.name.padEnd(12)} | ${f.p50Ms.toFixed(3)} | ${f.p99Ms.toFixed(3)} | ${f.calls} |`);
  const [stat, jwt] = figures;
  if (stat && jwt) console.log(`OAuth JWT − static token, p50: ${((jwt.p50Ms - stat.p50Ms) * 1_000).toFixed(0)} µs (within the run's noise unless large)`);
}

export function reportTokenCheck(figures: TokenCheckFigures[]): void {
  console.log('\nOAuth token check on /mcp (per request, µs)');
  console.log('| check      | p50 µs | p99 µs | mean µs |');
  console.log('| ---------- | ------ | ------ | ------- |');
  for (const f of figures)
    console.log(`| ${f.name.padEnd(10)} | ${f.p50Us.toFixed(2).padStart(6)} | ${f.p99Us.toFixed(2).padStart(6)} | ${f.meanUs.toFixed(2).padStart(7)} |`);
  const warm = figures.find((f) => f.name === 'jwt-warm');
  if (warm) {
    const met = warm.p50Us <= targetUs;
    console.log(`target: a warm OAuth JWT adds ≤ ${targetUs} µs p50 per call — ${met ? 'met' : 'NOT met'} (${warm.p50Us.toFixed(2)} µs)`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { iterations: { type: 'string', default: '100000' } } });
  reportTokenCheck(await measureTokenCheck(Number(values.iterations)));
  reportGatewayCalls(await measureGatewayCalls());
}
