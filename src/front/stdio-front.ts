/**
 * The `airlock stdio` front: one agent session over this process's stdin/stdout, newline-delimited
 * JSON-RPC as MCP's stdio transport defines it. The same relay and methods as the HTTP front, so
 * an agent that launches Airlock as a local command gets exactly what a remote agent gets.
 */
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log.js';
import { errorResponse, isNotification, isRequest, parseMessage, RpcCode } from '../mcp/jsonrpc.js';
import { LineChannel } from './channels.js';
import type { RelayMethods } from './relay-methods.js';
import type { SessionRelay } from './session-relay.js';

export interface StdioFrontDeps {
  relay: SessionRelay;
  methods: RelayMethods;
  input: Readable;
  output: Writable;
  log: Logger;
}

/** Serves until stdin ends; resolves then (the caller closes the gateway). */
export async function serveStdioSession(deps: StdioFrontDeps): Promise<void> {
  const { relay, methods, input, output, log } = deps;
  const write = (line: string) => output.write(line);
  const session = new LineChannel(write);
  let initialized = false;
  let buffer = '';

  const onLine = async (line: string): Promise<void> => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      session.send(errorResponse(null, { code: RpcCode.ParseError, message: `Malformed JSON on stdin: ${(error as Error).message}` }));
      return;
    }
    const parsed = parseMessage(value);
    if (!parsed.ok) {
      session.send(errorResponse(parsed.id, { code: RpcCode.InvalidRequest, message: `Not a JSON-RPC 2.0 message: ${parsed.problem}.` }));
      return;
    }
    const message = parsed.message;
    if (isRequest(message) && message.method === 'initialize' && !initialized) {
      const answer = await methods.initialize(relay, message);
      initialized = !('error' in answer);
      LineChannel.request(write).end(answer);
      if (initialized) relay.attachStandalone(session);
      return;
    }
    if (!initialized) {
      if (isRequest(message)) {
        LineChannel.request(write).end(errorResponse(message.id, { code: RpcCode.InvalidRequest, message: 'Send "initialize" first.' }));
      }
      return;
    }
    if (isRequest(message)) methods.handle(relay, message, LineChannel.request(write));
    else if (isNotification(message)) relay.handleNotification(message);
    else relay.handleResponse(message);
  };

  input.setEncoding('utf8');
  let chain = Promise.resolve();
  await new Promise<void>((resolve) => {
    input.on('data', (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        // initialize must finish before what follows it; other messages are handled as they come.
        if (line.trim() !== '') chain = chain.then(() => onLine(line)).catch((error: unknown) => log.error({ err: error }, 'stdio message failed'));
        newline = buffer.indexOf('\n');
      }
    });
    input.once('end', () => resolve());
    input.once('close', () => resolve());
  });
  await chain;
}
