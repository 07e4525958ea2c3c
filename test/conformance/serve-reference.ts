/**
 * Runs the conformance reference server (reference-server.ts):
 *
 *   tsx test/conformance/serve-reference.ts --port 3000   # Streamable HTTP at http://127.0.0.1:3000/mcp (or PORT=3000)
 *   tsx test/conformance/serve-reference.ts --stdio       # stdio, one session
 *
 * Over HTTP it is stateful (one server per session), resumable (an in-memory event store and an
 * SSE retry hint, for SEP-1699 polling), and refuses a request whose Host or Origin is not a
 * loopback name with 403, as the spec's DNS-rebinding protection requires of a local server.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createReferenceServer } from './reference-server.js';

const loopbackNames = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether a Host header (`name[:port]`) or an Origin (`scheme://name[:port]`) names this machine's loopback. */
export function isLoopback(value: string, kind: 'host' | 'origin'): boolean {
  try {
    return loopbackNames.has(new URL(kind === 'host' ? `http://${value}` : value).hostname.toLowerCase());
  } catch {
    return false;
  }
}

function sendError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer); // an IncomingMessage without setEncoding yields Buffers
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function serveHttp(port: number): void {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const eventStore = new InMemoryEventStore();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/mcp') return sendError(res, 404, -32601, 'Not found: the MCP endpoint is /mcp');
    const host = req.headers.host;
    const origin = req.headers.origin;
    if (host === undefined || !isLoopback(host, 'host')) return sendError(res, 403, -32000, `Forbidden: Host "${host ?? ''}" is not a loopback name`);
    if (origin !== undefined && !isLoopback(origin, 'origin')) return sendError(res, 403, -32000, `Forbidden: Origin "${origin}" is not a loopback origin`);

    const sessionId = req.headers['mcp-session-id'];
    const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (existing) return existing.handleRequest(req, res);
    if (sessionId !== undefined) return sendError(res, 404, -32001, 'Session not found: initialize a new session');
    if (req.method !== 'POST') return sendError(res, 400, -32000, 'Bad Request: no session; POST an initialize request first');
    let body: unknown;
    try {
      body = await readJson(req);
    } catch {
      return sendError(res, 400, -32700, 'Parse error: the body is not JSON');
    }
    if (!isInitializeRequest(body)) return sendError(res, 400, -32000, 'Bad Request: no session; POST an initialize request first');
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore,
      retryInterval: 100,
      onsessioninitialized: (id) => void sessions.set(id, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await createReferenceServer().connect(transport);
    await transport.handleRequest(req, res, body);
  }

  const http = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, -32603, `Internal error: ${error instanceof Error ? error.message : String(error)}`);
      else res.end();
    });
  });
  http.listen(port, '127.0.0.1', () => {
    const address = http.address();
    process.stderr.write(`conformance reference server on http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/mcp\n`);
  });
  process.on('SIGTERM', () => {
    for (const transport of sessions.values()) void transport.close();
    http.close(() => process.exit(0));
  });
}

const { values } = parseArgs({ options: { stdio: { type: 'boolean', default: false }, port: { type: 'string' } } });
if (values.stdio) await createReferenceServer().connect(new StdioServerTransport());
else serveHttp(Number(values.port ?? process.env['PORT'] ?? '3000'));
