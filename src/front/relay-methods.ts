/**
 * The client→server methods of MCP, one handler each: what the relay does with a request once the
 * transport has parsed it. Governed methods (tools/call, resources/read and subscribe, prompts/get,
 * completion/complete) go through the call pipeline — policy, limits, approval, audit — before
 * anything reaches an upstream; list methods are answered from the agent's own upstream sessions
 * and filtered by its policy; ping is answered here; anything else is refused by name. Nothing
 * reaches an upstream by a path that is not in this table.
 */
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { RpcCode, resultResponse, type JsonRpcRequest, type JsonRpcResponse } from '../mcp/jsonrpc.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';
import type { InitializeParams, UpstreamInit } from '../upstream/upstream-session.js';
import type { CallContext } from './call-context.js';
import type { CallPipeline } from './call-pipeline.js';
import type { RequestChannel } from './channels.js';
import type { InflightRequest, SessionRelay } from './session-relay.js';
import { TaskMethods } from './task-methods.js';
import type { RedisTaskStore } from './task-store.js';
import { errorAnswer } from './wire.js';

export interface RelayMethodsDeps {
  pool: UpstreamPool;
  pipeline: CallPipeline;
  /** MCP tasks kept in Redis; when set, clients that ask for a task get one for any tools/call. */
  taskStore?: RedisTaskStore;
  log: Logger;
}

/** Facts from the agent's transport that travel with a request. */
export interface TransportInfo {
  /** W3C trace context from the HTTP request, when well-formed. */
  traceparent?: string | undefined;
}

type Handler = (relay: SessionRelay, request: JsonRpcRequest, entry: InflightRequest, info: TransportInfo) => Promise<Record<string, unknown>>;

export const serverInfo = { name: 'airlock', version: '0.1.0' };

const airlockInstructions =
  'Airlock is an approval gateway in front of these tools. Some calls are denied by policy, rate-limited, ' +
  'or held until a person approves them; such answers say why and when a retry can help.';

/** Protocol revisions the relay speaks (it relays messages; the upstream answers for its own features). */
export const supportedProtocolVersions = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];

export class RelayMethods {
  private readonly deps: RelayMethodsDeps;
  private readonly handlers: ReadonlyMap<string, Handler>;
  private readonly tasks: TaskMethods | undefined;

  constructor(deps: RelayMethodsDeps) {
    this.deps = deps;
    this.tasks = deps.taskStore ? new TaskMethods(deps.taskStore, deps.pipeline, deps.log) : undefined;
    const handlers = new Map<string, Handler>([
      ['ping', async () => ({})],
      ['tools/list', async (relay) => this.listTools(relay)],
      ['tools/call', (relay, request, entry, info) => this.callTool(relay, request, entry, info)],
      ['resources/list', (relay, request, entry) => this.listFromUpstreams(relay, request, entry, 'resources', 'resources')],
      ['resources/templates/list', (relay, request, entry) => this.listFromUpstreams(relay, request, entry, 'resources', 'resourceTemplates')],
      ['resources/read', (relay, request, entry, info) => this.forwardResource(relay, request, entry, info)],
      ['resources/subscribe', (relay, request, entry, info) => this.forwardResource(relay, request, entry, info)],
      ['resources/unsubscribe', (relay, request, entry, info) => this.forwardResource(relay, request, entry, info)],
      ['prompts/list', (relay, request, entry) => this.listFromUpstreams(relay, request, entry, 'prompts', 'prompts')],
      ['prompts/get', (relay, request, entry, info) => this.getPrompt(relay, request, entry, info)],
      ['completion/complete', (relay, request, entry) => this.complete(relay, request, entry)],
      ['logging/setLevel', (relay, request, entry) => this.setLogLevel(relay, request, entry)],
    ]);
    if (this.tasks) {
      const tasks = this.tasks;
      handlers.set('tasks/get', (relay, request) => tasks.get(relay, request));
      handlers.set('tasks/result', (relay, request, entry) => tasks.result(relay, request, entry));
      handlers.set('tasks/list', (relay, request) => tasks.list(relay, request));
      handlers.set('tasks/cancel', (relay, request) => tasks.cancel(relay, request));
    }
    this.handlers = handlers;
  }

  /** `initialize`: opens the agent's session with each upstream and answers with what they offer together. */
  async initialize(relay: SessionRelay, request: JsonRpcRequest): Promise<JsonRpcResponse> {
    const params = request.params ?? {};
    const { protocolVersion, capabilities, clientInfo } = params;
    if (typeof protocolVersion !== 'string' || !isRecord(capabilities) || !isRecord(clientInfo)) {
      return errorAnswer(
        request.id,
        new AirlockError('invalid_request', 'initialize needs params.protocolVersion (a string), params.capabilities and params.clientInfo (objects).'),
      );
    }
    const opened = await relay.openUpstreams({ ...params, protocolVersion, capabilities, clientInfo }); // fields checked above
    const inits: Array<{ upstream: UpstreamConnection; init: UpstreamInit }> = [];
    for (const upstream of this.deps.pool.connections.values()) {
      const init = opened.get(upstream.name)?.init ?? upstream.init;
      if (init) inits.push({ upstream, init });
    }
    const versions = new Set(inits.map((i) => i.init.protocolVersion));
    const [only] = versions;
    const negotiated =
      versions.size === 1 && only !== undefined ? only : supportedProtocolVersions.includes(protocolVersion) ? protocolVersion : supportedProtocolVersions[0];
    return resultResponse(request.id, {
      protocolVersion: negotiated,
      capabilities: this.capabilities(inits.map((i) => i.init.capabilities)),
      serverInfo,
      instructions: this.instructions(inits),
    });
  }

  /**
   * Carries on a session another replica opened (front/http-front.ts takes it over): opens the
   * agent's upstream sessions again with what its client sent in `initialize`.
   */
  async resume(relay: SessionRelay, clientParams: InitializeParams): Promise<void> {
    await relay.openUpstreams(clientParams);
  }

  /** Answers one request on its channel; never throws (every failure is an answer). */
  handle(relay: SessionRelay, request: JsonRpcRequest, channel: RequestChannel, info: TransportInfo = {}): void {
    const handler = this.handlers.get(request.method);
    if (!handler) {
      channel.end(
        request.method === 'initialize'
          ? errorAnswer(request.id, new AirlockError('invalid_request', 'This session is already initialized; open a new one without Mcp-Session-Id.'))
          : {
              jsonrpc: '2.0',
              id: request.id,
              error: { code: RpcCode.MethodNotFound, message: `Method not found: Airlock does not relay "${request.method}" (no policy governs it).` },
            },
      );
      return;
    }
    const entry = relay.begin(request, channel);
    void handler(relay, request, entry, info).then(
      (result) => relay.finish(entry, resultResponse(request.id, result)),
      (error: unknown) => {
        if (!(error instanceof AirlockError) && !(error instanceof Error && error.name === 'UpstreamRpcError')) {
          this.deps.log.error({ err: error, method: request.method }, 'relayed request failed');
        }
        relay.finish(entry, errorAnswer(request.id, error));
      },
    );
  }

  private capabilities(upstreams: Array<Record<string, unknown>>): Record<string, unknown> {
    const has = (key: string) => upstreams.some((c) => c[key] !== undefined);
    const flag = (key: string, sub: string) => upstreams.some((c) => isRecord(c[key]) && c[key][sub] === true);
    const out: Record<string, unknown> = { tools: { listChanged: true } };
    if (has('resources')) out['resources'] = { subscribe: flag('resources', 'subscribe'), listChanged: flag('resources', 'listChanged') };
    if (has('prompts')) out['prompts'] = { listChanged: flag('prompts', 'listChanged') };
    if (has('logging')) out['logging'] = {};
    if (has('completions')) out['completions'] = {};
    if (this.tasks) out['tasks'] = { list: {}, cancel: {}, requests: { tools: { call: {} } } };
    return out;
  }

  private instructions(inits: Array<{ upstream: UpstreamConnection; init: UpstreamInit }>): string {
    const own = inits.filter((i) => i.init.instructions !== undefined);
    if (own.length === 0) return airlockInstructions;
    const labelled = this.deps.pool.prefixed
      ? own.map((i) => `## ${i.upstream.name} (tools and prompts prefixed "${i.upstream.name}__")\n${i.init.instructions}`).join('\n\n')
      : (own[0]?.init.instructions ?? '');
    return `${labelled}\n\n${airlockInstructions}`;
  }

  private async listTools(relay: SessionRelay): Promise<Record<string, unknown>> {
    const tools = this.deps.pipeline.listTools(relay.agent);
    // With tasks on, every call may run as a task: a held call then outlives any client timeout.
    return { tools: this.tasks ? tools.map((t) => ({ ...t, execution: { taskSupport: 'optional' as const, ...t.execution } })) : [...tools] };
  }

  private async callTool(relay: SessionRelay, request: JsonRpcRequest, entry: InflightRequest, info: TransportInfo): Promise<Record<string, unknown>> {
    const params = request.params ?? {};
    const name = params['name'];
    const args = params['arguments'] ?? {};
    if (typeof name !== 'string' || name === '')
      throw new AirlockError('invalid_request', 'tools/call needs params.name: the name of the tool to call (a string).');
    if (!isRecord(args)) throw new AirlockError('invalid_request', `tools/call "${name}": params.arguments must be a JSON object.`);
    const meta = isRecord(params['_meta']) ? params['_meta'] : undefined;
    const ctx = this.context(relay, request, entry, meta, info);
    if (this.tasks && isRecord(params['task'])) return this.tasks.runAsTask(relay, ctx, name, args, params['task']);
    // The tool result as the upstream gave it (or Airlock's own refusal); relayed as an MCP result object.
    return await this.deps.pipeline.callTool(ctx, name, args);
  }

  /** The context the pipeline acts in: this request's signal, its stream for progress, and the way upstream. */
  context(relay: SessionRelay, request: JsonRpcRequest, entry: InflightRequest, meta: Record<string, unknown> | undefined, info: TransportInfo): CallContext {
    const token = meta?.['progressToken'];
    const progressToken = typeof token === 'string' || typeof token === 'number' ? token : undefined;
    const signal = entry.controller.signal;
    const channel = entry.channel;
    return {
      agent: relay.agent,
      sessionId: relay.sessionId,
      requestId: request.id,
      progressToken,
      signal,
      traceparent: info.traceparent ?? traceparentOf(meta),
      canWaitLong: progressToken !== undefined,
      onHold: () => channel.hold?.(),
      sendProgress: async (update) => {
        if (progressToken === undefined || signal.aborted) return;
        channel.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken, ...update } });
      },
      forward: (upstream, method, forwarded, rawArguments) => relay.forward(upstream, method, forwarded, { signal, channel, rawArguments }),
      ...(relay.canElicit
        ? {
            elicit: (elicitParams: Record<string, unknown>, stop: AbortSignal) =>
              relay.request('elicitation/create', elicitParams, channel, AbortSignal.any([signal, stop])),
          }
        : {}),
    };
  }

  /** resources/list, resources/templates/list, prompts/list: from the agent's own sessions, names prefixed when there are several upstreams. */
  private async listFromUpstreams(
    relay: SessionRelay,
    request: JsonRpcRequest,
    entry: InflightRequest,
    capability: 'resources' | 'prompts',
    key: 'resources' | 'resourceTemplates' | 'prompts',
  ): Promise<Record<string, unknown>> {
    const upstreams = this.withCapability(capability);
    const { pool } = this.deps;
    const cursor = request.params?.['cursor'];
    const options = { signal: entry.controller.signal, channel: entry.channel };
    // Only what the agent's policy could ever allow is listed; how many were shown is audited.
    const kind = capability === 'prompts' ? 'prompt' : 'resource';
    const field = key === 'resourceTemplates' ? 'uriTemplate' : key === 'prompts' ? 'name' : 'uri';
    const visible = (items: unknown[]) =>
      items.filter((item) => isRecord(item) && typeof item[field] === 'string' && this.deps.pipeline.isVisible(relay.agent, item[field], kind));
    const audit = (shown: number, of: number) => this.deps.pipeline.auditRelayed(relay, { method: request.method, details: { shown, of } });
    if (!pool.prefixed) {
      const [only] = upstreams;
      if (!only) return { [key]: [] };
      const page = await relay.forward(only, request.method, typeof cursor === 'string' ? { cursor } : undefined, options);
      const items = Array.isArray(page[key]) ? (page[key] as unknown[]) : [];
      if (key === 'resources') relay.rememberOwners(only.name, items);
      const shown = visible(items);
      audit(shown.length, items.length);
      return { ...page, [key]: shown };
    }
    const all = await Promise.all(
      upstreams.map(async (upstream) => {
        const items: unknown[] = [];
        let next: string | undefined;
        do {
          const page = await relay.forward(upstream, request.method, next === undefined ? undefined : { cursor: next }, options);
          if (Array.isArray(page[key])) items.push(...(page[key] as unknown[]));
          next = typeof page['nextCursor'] === 'string' ? page['nextCursor'] : undefined;
        } while (next !== undefined);
        if (key === 'resources') relay.rememberOwners(upstream.name, items);
        return key === 'prompts'
          ? items.map((p) => (isRecord(p) && typeof p['name'] === 'string' ? { ...p, name: pool.exposedName(upstream.name, p['name']) } : p))
          : items;
      }),
    );
    const items = all.flat();
    const shown = visible(items);
    audit(shown.length, items.length);
    return { [key]: shown };
  }

  /**
   * resources/read and subscribe pass the policy's `resources` section (conditions see the URI and
   * the operation) and are audited; unsubscribe only narrows what the agent gets, so it is relayed
   * and audited. Routed to the upstream that listed the URI, else each resource upstream in turn.
   */
  private async forwardResource(relay: SessionRelay, request: JsonRpcRequest, entry: InflightRequest, info: TransportInfo): Promise<Record<string, unknown>> {
    const uri = request.params?.['uri'];
    if (typeof uri !== 'string' || uri === '') throw new AirlockError('invalid_request', `${request.method} needs params.uri: the resource's URI (a string).`);
    const candidates = relay.ownerOf(uri) ?? this.withCapability('resources');
    if (candidates.length === 0) throw new AirlockError('not_found', `No upstream offers the resource ${uri}. Call resources/list to see what is available.`);
    const options = { signal: entry.controller.signal, channel: entry.channel };
    const send = async (): Promise<Record<string, unknown>> => {
      let lastError: unknown;
      for (const upstream of candidates) {
        try {
          return await relay.forward(upstream, request.method, request.params, options);
        } catch (error) {
          lastError = error;
        }
      }
      throw lastError;
    };
    const [first] = candidates;
    if (request.method === 'resources/unsubscribe' || !first) {
      const answer = await send();
      this.deps.pipeline.auditRelayed(relay, { method: request.method, details: { uri } });
      return answer;
    }
    const operation = request.method === 'resources/subscribe' ? 'subscribe' : 'read';
    const ctx = this.context(relay, request, entry, isRecord(request.params?.['_meta']) ? request.params['_meta'] : undefined, info);
    return this.deps.pipeline.govern(ctx, { kind: 'resource', method: request.method, name: uri, upstream: first, args: { uri, operation }, forward: send });
  }

  /** prompts/get passes the policy's `prompts` section (conditions see the prompt's arguments), like a tool call. */
  private async getPrompt(relay: SessionRelay, request: JsonRpcRequest, entry: InflightRequest, info: TransportInfo): Promise<Record<string, unknown>> {
    const name = request.params?.['name'];
    if (typeof name !== 'string' || name === '') throw new AirlockError('invalid_request', 'prompts/get needs params.name: the name of the prompt (a string).');
    const args = request.params?.['arguments'] ?? {};
    if (!isRecord(args)) throw new AirlockError('invalid_request', `prompts/get "${name}": params.arguments must be an object of strings.`);
    const upstream = this.promptUpstream(name);
    const ctx = this.context(relay, request, entry, isRecord(request.params?.['_meta']) ? request.params['_meta'] : undefined, info);
    const forward = () =>
      relay.forward(
        upstream,
        'prompts/get',
        { ...request.params, name: this.deps.pool.upstreamName(name) },
        { signal: entry.controller.signal, channel: entry.channel },
      );
    return this.deps.pipeline.govern(ctx, { kind: 'prompt', method: 'prompts/get', name, upstream, args, forward });
  }

  private async complete(relay: SessionRelay, request: JsonRpcRequest, entry: InflightRequest): Promise<Record<string, unknown>> {
    const ref = request.params?.['ref'];
    if (!isRecord(ref))
      throw new AirlockError('invalid_request', 'completion/complete needs params.ref: {"type": "ref/prompt", "name"} or {"type": "ref/resource", "uri"}.');
    const options = { signal: entry.controller.signal, channel: entry.channel };
    // Completing an argument of a prompt or resource the agent may never use would leak what it
    // cannot see: the ref must be visible under its policy; each completion is audited.
    const governed = async (kind: 'prompt' | 'resource', name: string, upstream: UpstreamConnection, params: Record<string, unknown> | undefined) => {
      const label = `completion/complete ${kind}:${name}`;
      if (!this.deps.pipeline.isVisible(relay.agent, name, kind)) {
        const reason = `The ${kind} ${name} is not available to this agent under the Airlock policy, so neither are completions for it.`;
        this.deps.pipeline.auditRelayed(relay, { method: label, upstream: upstream.name, details: { refused: true, reason } });
        throw new AirlockError('policy_denied', reason, { details: { reason } });
      }
      const answer = await relay.forward(upstream, 'completion/complete', params, options);
      this.deps.pipeline.auditRelayed(relay, { method: label, upstream: upstream.name, details: { argument: request.params?.['argument'] } });
      return answer;
    };
    if (ref['type'] === 'ref/prompt' && typeof ref['name'] === 'string') {
      const upstream = this.promptUpstream(ref['name']);
      return governed('prompt', ref['name'], upstream, { ...request.params, ref: { ...ref, name: this.deps.pool.upstreamName(ref['name']) } });
    }
    if (ref['type'] === 'ref/resource' && typeof ref['uri'] === 'string') {
      const [upstream] = relay.ownerOf(ref['uri']) ?? this.withCapability('completions');
      if (!upstream) throw new AirlockError('not_found', `No upstream offers completions for ${ref['uri']}.`);
      return governed('resource', ref['uri'], upstream, request.params);
    }
    throw new AirlockError(
      'invalid_request',
      'completion/complete: params.ref must be {"type": "ref/prompt", "name": …} or {"type": "ref/resource", "uri": …}.',
    );
  }

  private async setLogLevel(relay: SessionRelay, request: JsonRpcRequest, entry: InflightRequest): Promise<Record<string, unknown>> {
    const level = request.params?.['level'];
    if (typeof level !== 'string') throw new AirlockError('invalid_request', 'logging/setLevel needs params.level, e.g. "info" or "debug".');
    // Only what the upstream tells this agent changes: always relayed, and audited.
    await Promise.all(
      this.withCapability('logging').map((upstream) =>
        relay.forward(upstream, 'logging/setLevel', request.params, { signal: entry.controller.signal, channel: entry.channel }),
      ),
    );
    this.deps.pipeline.auditRelayed(relay, { method: 'logging/setLevel', details: { level } });
    return {};
  }

  private promptUpstream(name: string): UpstreamConnection {
    const upstream = this.deps.pool.upstreamForName(name);
    if (!upstream || upstream.capabilities['prompts'] === undefined) {
      if (upstream && upstream.state !== 'connected') throw upstream.unavailable();
      throw new AirlockError('not_found', `No upstream offers the prompt "${name}". Call prompts/list to see what is available.`);
    }
    return upstream;
  }

  private withCapability(capability: string): UpstreamConnection[] {
    return [...this.deps.pool.connections.values()].filter((c) => c.capabilities[capability] !== undefined);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const traceparentPattern = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;

/** W3C `traceparent` from the request's `_meta`, when well-formed. */
function traceparentOf(meta: Record<string, unknown> | undefined): string | undefined {
  const candidate = meta?.['traceparent'];
  return typeof candidate === 'string' && traceparentPattern.test(candidate) ? candidate : undefined;
}

/** A well-formed W3C traceparent header value, or undefined. */
export function validTraceparent(value: string | undefined): string | undefined {
  return value !== undefined && traceparentPattern.test(value) ? value : undefined;
}
