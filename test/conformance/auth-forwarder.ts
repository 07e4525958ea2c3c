/**
 * An HTTP forwarder that adds `Authorization: Bearer <agent token>` and changes nothing else.
 *
 * The conformance suite's client sends no Authorization header, and Airlock rightly refuses an
 * agent without one. Rather than weaken the gateway, the test puts this in front of it: method,
 * path, headers (Host and Origin included: the DNS-rebinding scenario sends foreign ones and must
 * reach the gateway as sent), bodies and status pass through unchanged, and responses stream as
 * they arrive, so SSE events are not held back.
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AuthForwarder {
  /** The forwarder's own URL for the target's path, e.g. http://127.0.0.1:PORT/mcp. */
  url: string;
  close(): Promise<void>;
}

/** Starts a forwarder on a free loopback port in front of `target` (an http:// URL). */
export async function startAuthForwarder(target: URL, authorization: string): Promise<AuthForwarder> {
  if (target.protocol !== 'http:') throw new Error(`the forwarder speaks plain HTTP to its target; got ${target.href}`);
  const agent = new Agent({ keepAlive: true });

  function forward(req: IncomingMessage, res: ServerResponse): void {
    const headers: string[] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i] as string; // rawHeaders alternates names and values; i + 1 is in bounds
      if (name.toLowerCase() !== 'authorization') headers.push(name, req.rawHeaders[i + 1] as string);
    }
    headers.push('Authorization', authorization);
    const outgoing = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent });
    outgoing.on('response', (incoming) => {
      res.writeHead(incoming.statusCode ?? 502, incoming.statusMessage, incoming.rawHeaders);
      res.flushHeaders(); // an SSE response's headers go out before its first event
      incoming.pipe(res);
      incoming.on('error', () => res.destroy());
    });
    outgoing.on('error', (error) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: `forwarder: target unreachable: ${error.message}` } }));
    });
    // The client went away (e.g. it closed an SSE stream): end the forwarded request too.
    res.on('close', () => {
      if (!res.writableFinished) outgoing.destroy();
    });
    req.pipe(outgoing);
  }

  const server = createServer(forward);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo; // a TCP listener's address is an AddressInfo
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    close: async () => {
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
