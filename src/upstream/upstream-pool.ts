/**
 * All configured upstreams behind one catalog. With a single upstream, tool and prompt names pass
 * through unchanged; with several, each is exposed as `<upstream>__<name>` (two underscores), a
 * prefix that depends only on the config's upstream names, so it is stable across restarts and
 * within the `^[A-Za-z0-9_-]{1,64}$` names clients such as Claude accept. The pool owns naming;
 * the relay (front/session-relay.ts) owns the per-agent sessions and the traffic.
 */
import { EventEmitter } from 'node:events';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamSpec } from '../config/schema.js';
import type { Logger } from '../log.js';
import { UpstreamConnection } from './upstream-connection.js';

export const prefixSeparator = '__';

/** A tool as agents see it, tied to the upstream and name it really has. */
export interface ExposedTool {
  /** Name agents call (prefixed when there are several upstreams). */
  name: string;
  upstream: UpstreamConnection;
  /** The upstream's own definition (its name is the unprefixed one). */
  definition: Tool;
}

export interface UpstreamStatus {
  name: string;
  state: string;
  tools: number;
  lastError?: string;
}

/** Emits `toolsChanged` whenever the exposed catalog changes (an upstream (re)connected or listed anew). */
export class UpstreamPool extends EventEmitter {
  readonly connections: ReadonlyMap<string, UpstreamConnection>;
  readonly prefixed: boolean;
  private toolsByName = new Map<string, ExposedTool>();
  private toolList: Tool[] = [];

  constructor(specs: Record<string, UpstreamSpec>, log: Logger) {
    super();
    const connections = new Map<string, UpstreamConnection>();
    for (const [name, spec] of Object.entries(specs)) {
      const connection = new UpstreamConnection(name, spec, log);
      connection.on('toolsChanged', () => this.rebuildCatalog());
      connection.on('stateChanged', () => this.rebuildCatalog());
      connections.set(name, connection);
    }
    this.connections = connections;
    this.prefixed = connections.size > 1;
  }

  async start(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.start()));
  }

  async close(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.close()));
  }

  get(name: string): UpstreamConnection | undefined {
    return this.connections.get(name);
  }

  /** Exposed tools in a stable order, as `tools/list` returns them (before policy filtering). */
  tools(): readonly Tool[] {
    return this.toolList;
  }

  resolveTool(exposedName: string): ExposedTool | undefined {
    return this.toolsByName.get(exposedName);
  }

  /** The upstream a tool or prompt name routes to, even while that upstream is down (for clear errors). */
  upstreamForName(exposedName: string): UpstreamConnection | undefined {
    if (!this.prefixed) return this.connections.values().next().value;
    const index = exposedName.indexOf(prefixSeparator);
    return index > 0 ? this.connections.get(exposedName.slice(0, index)) : undefined;
  }

  /** The name agents see for an upstream's own tool or prompt name. */
  exposedName(upstream: string, name: string): string {
    return this.prefixed ? `${upstream}${prefixSeparator}${name}` : name;
  }

  /** The upstream's own name for an exposed tool or prompt name. */
  upstreamName(exposedName: string): string {
    if (!this.prefixed) return exposedName;
    const index = exposedName.indexOf(prefixSeparator);
    return index > 0 ? exposedName.slice(index + prefixSeparator.length) : exposedName;
  }

  status(): UpstreamStatus[] {
    return [...this.connections.values()].map((c) => ({
      name: c.name,
      state: c.state,
      tools: c.tools.length,
      ...(c.state === 'connected' ? {} : { lastError: c.lastError }),
    }));
  }

  private rebuildCatalog(): void {
    const byName = new Map<string, ExposedTool>();
    const list: Tool[] = [];
    for (const upstream of this.connections.values()) {
      if (upstream.state !== 'connected') continue;
      for (const definition of upstream.tools) {
        const name = this.exposedName(upstream.name, definition.name);
        byName.set(name, { name, upstream, definition });
        list.push(name === definition.name ? definition : { ...definition, name });
      }
    }
    this.toolsByName = byName;
    this.toolList = list;
    this.emit('toolsChanged');
  }
}
