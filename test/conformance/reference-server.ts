/**
 * The conformance reference server: one MCP `Server` per client session with every feature the
 * server scenarios of `@modelcontextprotocol/conformance` 0.1.16 exercise — tools (reference-tools.ts),
 * resources and a resource template, subscriptions, prompts, completion and per-session logging
 * levels. The npm package ships the scenarios but not its own reference server, so this one is
 * written from what the scenarios check; serve-reference.ts puts it on Streamable HTTP or stdio.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  LoggingLevelSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type ClientCapabilities,
  type GetPromptResult,
  type LoggingLevel,
  type Prompt,
  type ReadResourceResult,
  type Resource,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { callTool, pngBase64, toolDefinitions } from './reference-tools.js';

/** What a tool handler gets from the SDK for its request. */
export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Per-session state a tool may consult. */
export interface ServerContext {
  /** Whether a message at `level` passes the level the client set with logging/setLevel (all pass until it sets one). */
  isLogged(level: LoggingLevel): boolean;
  clientCapabilities(): ClientCapabilities | undefined;
  /** Changes test://watched-resource and, when the client subscribed to it, sends notifications/resources/updated. */
  updateWatchedResource(): Promise<{ notified: boolean }>;
}

const resources: Resource[] = [
  { uri: 'test://static-text', name: 'static-text', description: 'A static text resource', mimeType: 'text/plain' },
  { uri: 'test://static-binary', name: 'static-binary', description: 'A static PNG image', mimeType: 'image/png' },
  { uri: 'test://watched-resource', name: 'watched-resource', description: 'A resource clients may subscribe to', mimeType: 'text/plain' },
];

const templateUri = /^test:\/\/template\/([^/]+)\/data$/;

function readResource(uri: string, watchedVersion: number): ReadResourceResult {
  switch (uri) {
    case 'test://static-text':
      return { contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] };
    case 'test://static-binary':
      return { contents: [{ uri, mimeType: 'image/png', blob: pngBase64 }] };
    case 'test://watched-resource':
      return { contents: [{ uri, mimeType: 'text/plain', text: `Watched resource content, version ${watchedVersion}` }] };
  }
  const id = templateUri.exec(uri)?.[1];
  if (id !== undefined) {
    return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }] };
  }
  throw new McpError(-32002, `Resource not found: ${uri}. Call resources/list or resources/templates/list for what this server has.`, { uri });
}

const prompts: Prompt[] = [
  { name: 'test_simple_prompt', description: 'A prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two required arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that embeds the resource it is given',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
  },
  { name: 'test_prompt_with_image', description: 'A prompt with an image' },
];

function getPrompt(name: string, args: Record<string, string>): GetPromptResult {
  const required = (key: string): string => {
    const value = args[key];
    if (value === undefined) throw new McpError(ErrorCode.InvalidParams, `Prompt "${name}" needs the argument "${key}".`);
    return value;
  };
  switch (name) {
    case 'test_simple_prompt':
      return { messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }] };
    case 'test_prompt_with_arguments':
      return { messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${required('arg1')}', arg2='${required('arg2')}'` } }] };
    case 'test_prompt_with_embedded_resource':
      return {
        messages: [
          {
            role: 'user',
            content: { type: 'resource', resource: { uri: required('resourceUri'), mimeType: 'text/plain', text: 'Embedded resource content for testing.' } },
          },
          { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
        ],
      };
    case 'test_prompt_with_image':
      return {
        messages: [
          { role: 'user', content: { type: 'image', data: pngBase64, mimeType: 'image/png' } },
          { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
        ],
      };
  }
  throw new McpError(ErrorCode.InvalidParams, `Unknown prompt "${name}". Call prompts/list for the prompts this server has.`);
}

/** Completion candidates per prompt argument; a value completes to the candidates it is a prefix of. */
const completions: Record<string, Record<string, string[]>> = {
  test_prompt_with_arguments: { arg1: ['paris', 'park', 'party', 'test-value'], arg2: ['world', 'word'] },
};

/** A fresh server for one client session. */
export function createReferenceServer(): Server {
  const server = new Server(
    { name: 'airlock-conformance-reference', version: '1.0.0' },
    { instructions: 'Conformance reference server: every MCP server feature the official conformance suite checks.' },
  );
  // Registered after construction so the SDK does not install its own logging/setLevel handler:
  // this server keeps the level itself and filters the messages its tools send on their requests.
  server.registerCapabilities({
    tools: { listChanged: true },
    resources: { subscribe: true, listChanged: true },
    prompts: { listChanged: true },
    logging: {},
    completions: {},
  });
  const levels = LoggingLevelSchema.options;
  let minimumLevel: LoggingLevel | undefined;
  const subscriptions = new Set<string>();
  let watchedVersion = 1;
  const context: ServerContext = {
    isLogged: (level) => minimumLevel === undefined || levels.indexOf(level) >= levels.indexOf(minimumLevel),
    clientCapabilities: () => server.getClientCapabilities(),
    updateWatchedResource: async () => {
      watchedVersion += 1;
      const uri = 'test://watched-resource';
      if (!subscriptions.has(uri)) return { notified: false };
      await server.sendResourceUpdated({ uri });
      return { notified: true };
    },
  };

  server.setRequestHandler(SetLevelRequestSchema, (request) => {
    minimumLevel = request.params.level;
    return {};
  });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: toolDefinitions }));
  server.setRequestHandler(CallToolRequestSchema, (request, extra) => callTool(request.params.name, request.params.arguments ?? {}, extra, context));
  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [{ uriTemplate: 'test://template/{id}/data', name: 'template-data', description: 'Data for one id', mimeType: 'application/json' }],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (request) => readResource(request.params.uri, watchedVersion));
  server.setRequestHandler(SubscribeRequestSchema, (request) => {
    readResource(request.params.uri, watchedVersion); // refuses a URI this server does not have
    subscriptions.add(request.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    subscriptions.delete(request.params.uri);
    return {};
  });
  server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts }));
  server.setRequestHandler(GetPromptRequestSchema, (request) => getPrompt(request.params.name, request.params.arguments ?? {}));
  server.setRequestHandler(CompleteRequestSchema, (request) => {
    const { ref, argument } = request.params;
    const candidates = ref.type === 'ref/prompt' ? (completions[ref.name]?.[argument.name] ?? []) : [];
    const values = candidates.filter((candidate) => candidate.startsWith(argument.value));
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return server;
}
