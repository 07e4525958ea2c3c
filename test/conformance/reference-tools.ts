/**
 * The tools of the conformance reference server, written from what each server scenario of
 * `@modelcontextprotocol/conformance` 0.1.16 calls and checks: names, arguments, content types,
 * and the traffic a tool causes while it runs (log messages, progress, sampling and elicitation
 * requests). Everything a tool sends to the client goes through the request's own `extra`, so on
 * Streamable HTTP it rides the POST's SSE stream, tied to the call that caused it.
 */
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  type CallToolResult,
  type ElicitRequestFormParams,
  type LoggingLevel,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { ServerContext, ToolExtra } from './reference-server.js';

/** A 1×1 red PNG. */
export const pngBase64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

/** A valid WAV file: 16-bit mono PCM at 8 kHz, four silent samples. */
export const wavBase64 = ((): string => {
  const samples = Buffer.alloc(8);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + samples.length, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // channels
  header.writeUInt32LE(8_000, 24); // sample rate
  header.writeUInt32LE(16_000, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(samples.length, 40);
  return Buffer.concat([header, samples]).toString('base64');
})();

const noArguments = { type: 'object', properties: {} } as const;

interface ToolEntry {
  definition: Tool;
  run(args: Record<string, unknown>, extra: ToolExtra, context: ServerContext): Promise<CallToolResult>;
}

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function log(context: ServerContext, extra: ToolExtra, level: LoggingLevel, data: string): Promise<void> {
  if (context.isLogged(level)) await extra.sendNotification({ method: 'notifications/message', params: { level, logger: 'conformance-reference', data } });
}

async function progress(extra: ToolExtra, value: number): Promise<void> {
  const progressToken = extra._meta?.progressToken;
  if (progressToken !== undefined) {
    await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: value, total: 100, message: `step ${value} of 100` } });
  }
}

async function elicit(
  extra: ToolExtra,
  context: ServerContext,
  message: string,
  requestedSchema: ElicitRequestFormParams['requestedSchema'],
  describe: string,
): Promise<CallToolResult> {
  if (!context.clientCapabilities()?.elicitation) return { isError: true, content: [{ type: 'text', text: 'The client does not support elicitation.' }] };
  const result = await extra.sendRequest({ method: 'elicitation/create', params: { mode: 'form', message, requestedSchema } }, ElicitResultSchema);
  return text(`${describe}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
}

function stringArgument(args: Record<string, unknown>, name: string): string {
  const value = args[name];
  if (typeof value !== 'string') throw new Error(`argument "${name}" must be a string`);
  return value;
}

const tools: ToolEntry[] = [
  {
    definition: { name: 'test_simple_text', description: 'Returns one text item.', inputSchema: noArguments },
    run: async () => text('This is a simple text response for testing.'),
  },
  {
    definition: { name: 'test_image_content', description: 'Returns one PNG image.', inputSchema: noArguments },
    run: async () => ({ content: [{ type: 'image', data: pngBase64, mimeType: 'image/png' }] }),
  },
  {
    definition: { name: 'test_audio_content', description: 'Returns one WAV audio clip.', inputSchema: noArguments },
    run: async () => ({ content: [{ type: 'audio', data: wavBase64, mimeType: 'audio/wav' }] }),
  },
  {
    definition: { name: 'test_embedded_resource', description: 'Returns one embedded text resource.', inputSchema: noArguments },
    run: async () => ({
      content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
    }),
  },
  {
    definition: { name: 'test_multiple_content_types', description: 'Returns text, an image and an embedded resource.', inputSchema: noArguments },
    run: async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: pngBase64, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) },
        },
      ],
    }),
  },
  {
    definition: { name: 'test_tool_with_logging', description: 'Sends three info log messages 50 ms apart while it runs.', inputSchema: noArguments },
    run: async (_args, extra, context) => {
      await log(context, extra, 'info', 'Tool execution started');
      await sleep(50);
      await log(context, extra, 'info', 'Tool processing data');
      await sleep(50);
      await log(context, extra, 'info', 'Tool execution completed');
      return text('Tool with logging executed successfully');
    },
  },
  {
    definition: {
      name: 'test_tool_with_progress',
      description: "Reports progress 0, 50 and 100 of 100, 50 ms apart, to the request's progress token.",
      inputSchema: noArguments,
    },
    run: async (_args, extra) => {
      await progress(extra, 0);
      await sleep(50);
      await progress(extra, 50);
      await sleep(50);
      await progress(extra, 100);
      return text('Tool with progress executed successfully');
    },
  },
  {
    definition: { name: 'test_error_handling', description: 'Always fails with a tool error (isError: true).', inputSchema: noArguments },
    run: async () => ({ isError: true, content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }] }),
  },
  {
    definition: {
      name: 'test_sampling',
      description: 'Asks the client to sample an LLM completion for the prompt and returns it.',
      inputSchema: { type: 'object', properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } }, required: ['prompt'] },
    },
    run: async (args, extra, context) => {
      if (!context.clientCapabilities()?.sampling) return { isError: true, content: [{ type: 'text', text: 'The client does not support sampling.' }] };
      const params = { messages: [{ role: 'user' as const, content: { type: 'text' as const, text: stringArgument(args, 'prompt') } }], maxTokens: 100 };
      const result = await extra.sendRequest({ method: 'sampling/createMessage', params }, CreateMessageResultSchema);
      const reply = result.content.type === 'text' ? result.content.text : `[${result.content.type}]`;
      return text(`LLM response: ${reply}`);
    },
  },
  {
    definition: {
      name: 'test_elicitation',
      description: 'Asks the user, through the client, for a username and an email address.',
      inputSchema: { type: 'object', properties: { message: { type: 'string', description: 'The message to show the user' } }, required: ['message'] },
    },
    run: async (args, extra, context) => {
      const schema: ElicitRequestFormParams['requestedSchema'] = {
        type: 'object',
        properties: { username: { type: 'string', description: "User's response" }, email: { type: 'string', description: "User's email address" } },
        required: ['username', 'email'],
      };
      return elicit(extra, context, stringArgument(args, 'message'), schema, 'User response');
    },
  },
  {
    definition: {
      name: 'test_elicitation_sep1034_defaults',
      description: 'Elicits a form whose fields of every primitive type carry defaults (SEP-1034).',
      inputSchema: noArguments,
    },
    run: async (_args, extra, context) =>
      elicit(
        extra,
        context,
        'Please review and update the form fields with defaults',
        {
          type: 'object',
          properties: {
            name: { type: 'string', description: 'User name', default: 'John Doe' },
            age: { type: 'integer', description: 'User age', default: 30 },
            score: { type: 'number', description: 'User score', default: 95.5 },
            status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
            verified: { type: 'boolean', description: 'Verification status', default: true },
          },
        },
        'Elicitation completed',
      ),
  },
  {
    definition: { name: 'test_elicitation_sep1330_enums', description: 'Elicits a form with the five enum shapes of SEP-1330.', inputSchema: noArguments },
    run: async (_args, extra, context) => {
      const titled = (prefix: string, names: string[]) => names.map((title, index) => ({ const: `${prefix}${index + 1}`, title }));
      return elicit(
        extra,
        context,
        'Please pick from each list',
        {
          type: 'object',
          properties: {
            untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            titledSingle: { type: 'string', oneOf: titled('value', ['First Option', 'Second Option', 'Third Option']) },
            legacyEnum: { type: 'string', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
            untitledMulti: { type: 'array', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
            titledMulti: { type: 'array', items: { anyOf: titled('value', ['First Choice', 'Second Choice', 'Third Choice']) } },
          },
        },
        'Elicitation completed',
      );
    },
  },
  {
    definition: {
      name: 'json_schema_2020_12_tool',
      description: 'Has an input schema using JSON Schema 2020-12 keywords ($schema, $defs, $ref, additionalProperties).',
      inputSchema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
        properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
        additionalProperties: false,
      },
    },
    run: async (args) => text(`Received: ${JSON.stringify(args)}`),
  },
  {
    definition: {
      name: 'test_reconnection',
      description: 'Closes its SSE stream mid-call (when the client can resume) and answers after the client reconnects (SEP-1699).',
      inputSchema: noArguments,
    },
    run: async (_args, extra) => {
      extra.closeSSEStream?.();
      await sleep(100);
      return text('Reconnection test completed.');
    },
  },
  {
    definition: {
      name: 'test_update_watched_resource',
      description: 'Changes test://watched-resource; a client subscribed to it gets notifications/resources/updated. (Not a suite scenario: for relay tests.)',
      inputSchema: noArguments,
    },
    run: async (_args, _extra, context) => {
      const { notified } = await context.updateWatchedResource();
      return text(notified ? 'Updated; subscribers notified.' : 'Updated; nobody subscribed.');
    },
  },
];

const byName = new Map(tools.map((tool) => [tool.definition.name, tool]));

/** Every tool's definition, as `tools/list` returns them. */
export const toolDefinitions: Tool[] = tools.map((tool) => tool.definition);

/** Runs the named tool; an unknown name is a tool error the caller can read. */
export async function callTool(name: string, args: Record<string, unknown>, extra: ToolExtra, context: ServerContext): Promise<CallToolResult> {
  const tool = byName.get(name);
  if (!tool) return { isError: true, content: [{ type: 'text', text: `Unknown tool "${name}". Call tools/list for the tools this server has.` }] };
  return tool.run(args, extra, context);
}
