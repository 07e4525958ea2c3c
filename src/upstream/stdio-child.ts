/**
 * An upstream MCP server as a child process speaking newline-delimited JSON-RPC on stdin/stdout
 * (the MCP stdio transport). Owns the process: starts it with only the environment it is given
 * (plus the few variables a program needs to run), logs its stderr line by line, and reports
 * its exit once. Messages are decoded here, once, and handed on in the order the child wrote them.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { StdioUpstreamSpec } from '../config/schema.js';
import type { Logger } from '../log.js';
import { parseMessage, type JsonRpcMessage } from '../mcp/jsonrpc.js';

/** A child's stdout line longer than this is not an MCP message we can relay (64 MiB). */
const maxLineBytes = 64 * 1024 * 1024;

export class StdioChild {
  /** Every decoded message, in order. */
  onMessage: ((message: JsonRpcMessage) => void) | undefined;
  /** Once, when the process ends or cannot start; `reason` says which, `error` is the spawn error if any. */
  onExit: ((reason: string, error?: Error) => void) | undefined;
  /** The child's last stderr lines (for the reason when it dies during start-up). */
  stderrTail: string[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly log: Logger;
  private buffer = '';
  private exited = false;

  constructor(spec: StdioUpstreamSpec, log: Logger) {
    this.log = log;
    // Only HOME, PATH, USER … plus the upstream's own env: never the gateway's whole environment.
    this.child = spawn(spec.command, spec.args, {
      env: { ...getDefaultEnvironment(), ...spec.env },
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.read(chunk));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        if (line.trim() === '') continue;
        this.log.info({ stderr: line.slice(0, 2_000) }, 'upstream stderr');
        this.stderrTail = [...this.stderrTail.slice(-19), line.trim().slice(0, 300)];
      }
    });
    this.child.stdin.on('error', (error) => this.log.debug({ err: error.message }, 'upstream stdin closed'));
    this.child.on('error', (error) => this.exit(`could not start "${spec.command}": ${error.message}`, error));
    this.child.on('exit', (code, signal) => this.exit(signal ? `exited on ${signal}` : `exited with code ${code ?? 'unknown'}`));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  send(message: JsonRpcMessage): void {
    this.sendText(JSON.stringify(message));
  }

  /** One message already encoded as JSON text (one line: JSON text has no raw newlines). */
  sendText(json: string): void {
    if (this.exited) return;
    this.child.stdin.write(`${json}\n`);
  }

  /** Ends the child: stdin closed, then SIGTERM, then SIGKILL if it lingers. */
  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const term = setTimeout(() => this.child.kill('SIGTERM'), 1_000);
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await gone;
    clearTimeout(term);
    clearTimeout(kill);
  }

  private read(chunk: string): void {
    this.buffer += chunk;
    let newline = this.buffer.indexOf('\n');
    while (newline !== -1) {
      const line = this.buffer.slice(0, newline).replace(/\r$/, '');
      this.buffer = this.buffer.slice(newline + 1);
      if (line.trim() !== '') this.decode(line);
      newline = this.buffer.indexOf('\n');
    }
    if (this.buffer.length > maxLineBytes) {
      this.log.error({ bytes: this.buffer.length }, 'upstream wrote an over-long line on stdout; dropping it');
      this.buffer = '';
    }
  }

  private decode(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.log.warn({ line: line.slice(0, 200) }, 'upstream wrote a non-JSON line on stdout; ignored (logs belong on stderr)');
      return;
    }
    const parsed = parseMessage(value);
    if (!parsed.ok) {
      this.log.warn({ problem: parsed.problem }, 'upstream wrote an invalid JSON-RPC message; ignored');
      return;
    }
    this.onMessage?.(parsed.message);
  }

  private exit(reason: string, error?: Error): void {
    if (this.exited) return;
    this.exited = true;
    this.onExit?.(reason, error);
  }
}
