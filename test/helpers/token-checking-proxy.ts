/**
 * An MCP upstream that demands OAuth: a reverse proxy in front of a real MCP server (e.g. the
 * Databricks mock over HTTP) that checks every request's bearer token with jose against the
 * provider's JWKS (issuer, audience, expiry with no tolerance), records what it saw, answers 401
 * with `WWW-Authenticate` to a bad token, and forwards good requests unchanged (SSE streams too).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { freePort } from './redis-server.js';

export interface SeenRequest {
  token: string | undefined;
  /** Every header the request carried. */
  headers: Record<string, string | string[] | undefined>;
  /** Token expiry (epoch seconds) when it verified. */
  exp: number | undefined;
  usedAtMs: number;
  accepted: boolean;
  reason?: string;
  /** The JSON-RPC method of a POST, when its body was JSON. */
  method?: string;
}

export interface TokenCheckingProxy {
  /** The proxied MCP endpoint, also the audience tokens must carry. */
  url: string;
  seen: SeenRequest[];
  /** Answer the next `n` POSTs of JSON-RPC `method` with 401 even when their token is good (an upstream that revoked it). */
  refuseNext(n: number, method: string): void;
  stop(): Promise<void>;
}

export interface TokenCheckingProxyOptions {
  /** The real MCP server behind. */
  target: string;
  issuer: string;
  jwksUri: string;
  port?: number;
  /** Check no token: only record what arrived (to prove what an upstream without `auth` is sent). */
  recordOnly?: boolean;
}

export async function startTokenCheckingProxy(options: TokenCheckingProxyOptions): Promise<TokenCheckingProxy> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}/mcp`;
  const target = new URL(options.target);
  const keys = createRemoteJWKSet(new URL(options.jwksUri));
  const seen: SeenRequest[] = [];
  let refusals = { left: 0, method: '' };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer); // node:http yields Buffers
    const body = Buffer.concat(chunks);
    let method: string | undefined;
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { method?: unknown };
      if (typeof parsed.method === 'string') method = parsed.method;
    } catch {
      // not JSON (GET, DELETE)
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const entry: SeenRequest = { token, headers: { ...req.headers }, exp: undefined, usedAtMs: Date.now(), accepted: false, ...(method ? { method } : {}) };
    seen.push(entry);
    try {
      if (options.recordOnly) {
        if (token) throw new Error('recordOnly: this upstream expects no bearer token at all');
        entry.accepted = true;
      } else {
        if (!token) throw new Error('no bearer token');
        const { payload } = await jwtVerify(token, keys, { issuer: options.issuer, audience: url, clockTolerance: 0 });
        entry.exp = payload.exp;
        if (refusals.left > 0 && method === refusals.method) {
          refusals.left -= 1;
          throw new Error('token refused by the test (refuseNext)');
        }
      }
    } catch (error) {
      entry.reason = error instanceof Error ? error.message : String(error);
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_token', error_description: entry.reason }));
      return;
    }
    entry.accepted = true;
    const headers = { ...req.headers, host: target.host };
    delete headers.authorization; // the real server behind needs no token
    const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502).end(error.message);
      else res.destroy();
    });
    res.on('close', () => upstream.destroy());
    upstream.end(body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    url,
    seen,
    refuseNext(n, method) {
      refusals = { left: n, method };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
