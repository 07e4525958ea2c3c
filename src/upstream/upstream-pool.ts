/**
 * All configured upstreams behind one catalog. With a single upstream, tool and prompt names pass
 * through unchanged; with several, each is exposed as `<upstream>__<name>` (two underscores), a
 * prefix that depends only on the config's upstream names, so it is stable across restarts and
 * within the `^[A-Za-z0-9_-]{1,64}$` names clients such as Claude accept.
 */
import { EventEmitter } from 'node:events';
import {
  GetPromptResultSchema,
  ListPromptsResultSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesResultSchema,
  ReadResourceResultSchema,
  type GetPromptResult,
  type Prompt,
  type ReadResourceResult,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamSpec } from '../config/schema.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ZodType } from 'zod';
import { UpstreamConnection, type UpstreamRequestOptions } from './upstream-connection.js';

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
  private readonly prefixed: boolean;
  private toolsByName = new Map<string, ExposedTool>();
  private toolList: Tool[] = [];
  private resourceOwners = new Map<string, UpstreamConnection>();

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

  /** The upstream a tool name would route to, even while that upstream is down (for clear errors). */
  upstreamForName(exposedName: string): UpstreamConnection | undefined {
    if (!this.prefixed) return this.connections.values().next().value;
    const index = exposedName.indexOf(prefixSeparator);
    return index > 0 ? this.connections.get(exposedName.slice(0, index)) : undefined;
  }

  status(): UpstreamStatus[] {
    return [...this.connections.values()].map((c) => ({
      name: c.name,
      state: c.state,
      tools: c.tools.length,
      ...(c.state === 'connected' ? {} : { lastError: c.lastError }),
    }));
  }

  allConnected(): boolean {
    return [...this.connections.values()].every((c) => c.state === 'connected');
  }

  hasCapability(capability: 'resources' | 'prompts'): boolean {
    return [...this.connections.values()].some((c) => c.capabilities[capability] !== undefined);
  }

  private exposedName(upstream: UpstreamConnection, name: string): string {
    return this.prefixed ? `${upstream.name}${prefixSeparator}${name}` : name;
  }

  private rebuildCatalog(): void {
    const byName = new Map<string, ExposedTool>();
    const list: Tool[] = [];
    for (const upstream of this.connections.values()) {
      if (upstream.state !== 'connected') continue;
      for (const definition of upstream.tools) {
        const name = this.exposedName(upstream, definition.name);
        byName.set(name, { name, upstream, definition });
        list.push(name === definition.name ? definition : { ...definition, name });
      }
    }
    this.toolsByName = byName;
    this.toolList = list;
    this.emit('toolsChanged');
  }

  private withCapability(capability: 'resources' | 'prompts'): UpstreamConnection[] {
    return [...this.connections.values()].filter((c) => c.state === 'connected' && c.capabilities[capability] !== undefined);
  }

  async listResources(options: UpstreamRequestOptions): Promise<Resource[]> {
    const pages = await Promise.all(
      this.withCapability('resources').map(async (upstream) => {
        const resources = await this.listAll(upstream, 'resources/list', ListResourcesResultSchema, (r) => r.resources, options);
        for (const resource of resources) this.resourceOwners.set(resource.uri, upstream);
        return resources;
      }),
    );
    return pages.flat();
  }

  async listResourceTemplates(options: UpstreamRequestOptions): Promise<ResourceTemplate[]> {
    const pages = await Promise.all(
      this.withCapability('resources').map((upstream) =>
        this.listAll(upstream, 'resources/templates/list', ListResourceTemplatesResultSchema, (r) => r.resourceTemplates, options),
      ),
    );
    return pages.flat();
  }

  /** Routes by the upstream that listed the URI; otherwise asks each resource-capable upstream in turn. */
  async readResource(uri: string, options: UpstreamRequestOptions): Promise<ReadResourceResult> {
    const owner = this.resourceOwners.get(uri);
    const candidates = owner ? [owner] : this.withCapability('resources');
    let lastError: unknown = new AirlockError('not_found', `No upstream offers the resource ${uri}. Call resources/list to see what is available.`);
    for (const upstream of candidates) {
      try {
        return await upstream.request('resources/read', { uri }, ReadResourceResultSchema, options);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  async listPrompts(options: UpstreamRequestOptions): Promise<Prompt[]> {
    const pages = await Promise.all(
      this.withCapability('prompts').map(async (upstream) => {
        const prompts = await this.listAll(upstream, 'prompts/list', ListPromptsResultSchema, (r) => r.prompts, options);
        return prompts.map((p) => ({ ...p, name: this.exposedName(upstream, p.name) }));
      }),
    );
    return pages.flat();
  }

  async getPrompt(exposedName: string, args: Record<string, string> | undefined, options: UpstreamRequestOptions): Promise<GetPromptResult> {
    const upstream = this.upstreamForName(exposedName);
    if (!upstream || upstream.capabilities.prompts === undefined) {
      throw new AirlockError('not_found', `No upstream offers the prompt "${exposedName}". Call prompts/list to see what is available.`);
    }
    const name = this.prefixed ? exposedName.slice(upstream.name.length + prefixSeparator.length) : exposedName;
    return upstream.request('prompts/get', { name, ...(args ? { arguments: args } : {}) }, GetPromptResultSchema, options);
  }

  private async listAll<T, R extends { nextCursor?: string | undefined }>(
    upstream: UpstreamConnection,
    method: string,
    schema: ZodType<R>,
    items: (page: R) => T[],
    options: UpstreamRequestOptions,
  ): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | undefined;
    do {
      const page: R = await upstream.request(method, cursor === undefined ? {} : { cursor }, schema, options);
      out.push(...items(page));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return out;
  }
}
