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
 * Target (issue 17): jwt-warm adds ≤ 0.1 ms p50 per call. Run alone with
 * `npx tsx bench/oauth-token-check.ts [-- --iterations 200000]`; `npm run bench:proxy` runs it last.
 */
import { parseArgs } from 'node:util';
import type { OAuthSpec } from '../src/config/oauth-schema.js';
import { createRequestAuthenticator, type AuthOutcome, type RequestAuthenticator } from '../src/identity/request-authenticator.js';
import { createAuthenticator, generateToken, hashToken } from '../src/identity/tokens.js';
import { createLogger } from '../src/log.js';
import { startOidcProvider } from '../test/helpers/oidc-provider.js';

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
}
