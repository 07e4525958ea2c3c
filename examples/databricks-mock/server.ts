/**
 * A Databricks-shaped MCP server for the demo, the tests and the benchmarks.
 *
 *   node dist/examples/databricks-mock/server.js            # stdio (what the shipped config starts)
 *   node dist/examples/databricks-mock/server.js --http     # Streamable HTTP on $PORT (default 8090) at /mcp
 *
 * Env: HOST (default 127.0.0.1) and PORT for --http; DATABRICKS_MOCK_CALL_LOG=FILE appends one JSON line per tools/call received, so a test can
 * prove whether a call reached the upstream; DATABRICKS_MOCK_DELAY_MS delays every tools/call.
 */
import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, isInitializeRequest, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { DatabricksApiError, initialState, runTool, toolDefinitions, type MockState } from './tools.js';

const callLog = process.env['DATABRICKS_MOCK_CALL_LOG'];
const delayMs = Number(process.env['DATABRICKS_MOCK_DELAY_MS'] ?? '0');

function createMockServer(state: MockState): Server {
  const server = new Server({ name: 'databricks-mcp-mock', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: toolDefinitions }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const { name, arguments: args = {} } = request.params;
    record('call', name, args);
    if (delayMs > 0) {
      try {
        await sleep(delayMs, extra.signal);
      } catch (error) {
        record('cancelled', name, args);
        throw error;
      }
    }
    const params = args['params'];
    try {
      if (params === null || typeof params !== 'object' || Array.isArray(params)) {
        throw new DatabricksApiError("Missing required argument 'params' (an object)");
      }
      const result = runTool(name, params as Record<string, unknown>, state); // checked to be a plain object just above
      return { content: [{ type: 'text', text: JSON.stringify(result) }] };
    } catch (error) {
      if (!(error instanceof DatabricksApiError)) throw error;
      // The real server reports API errors as ordinary text, without isError.
      return { content: [{ type: 'text', text: JSON.stringify({ error: error.message }) }] };
    }
  });
  return server;
}

/** One JSON line per event in the call log: `call` when a tools/call arrives, `cancelled` when it is aborted. */
function record(event: 'call' | 'cancelled', tool: string, args: Record<string, unknown>): void {
  if (callLog) appendFileSync(callLog, `${JSON.stringify({ time: new Date().toISOString(), event, tool, arguments: args, pid: process.pid })}\n`);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('cancelled'));
    });
  });
}

async function serveStdio(): Promise<void> {
  await createMockServer(initialState()).connect(new StdioServerTransport());
}

function serveHttp(port: number): void {
  const state = initialState();
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const http = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!req.url?.startsWith('/mcp')) {
      res.writeHead(404).end();
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (existing) {
      await existing.handleRequest(req, res);
      return;
    }
    if (req.method !== 'POST' || sessionId !== undefined) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
      return;
    }
    const body = await readJson(req);
    if (!isInitializeRequest(body)) {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Bad Request: no session' } }));
      return;
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await createMockServer(state).connect(transport);
    await transport.handleRequest(req, res, body);
  }
  http.keepAliveTimeout = 65_000;
  http.listen(port, process.env['HOST'] ?? '127.0.0.1', () => {
    const address = http.address();
    process.stderr.write(`databricks mock listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/mcp\n`);
  });
  process.on('SIGTERM', () => http.close(() => process.exit(0)));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

if (process.argv.includes('--http')) serveHttp(Number(process.env['PORT'] ?? '8090'));
else await serveStdio();
