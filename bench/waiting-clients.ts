/**
 * The agents of bench:approvals (b) and (c), in a process of their own so their memory and CPU
 * stay out of the gateway's figures: 100 SDK client sessions send N calls of one tool, in waves
 * of 500 (20 ms apart), each with a progress token and an hour's timeout, and keep them open.
 *
 *   node --import tsx bench/waiting-clients.ts URL TOKEN TOOL N
 */
import { setMaxListeners } from 'node:events';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { fetchWithOwnSignal } from '../test/helpers/fetch.js';

const [url = '', token = '', tool = 'run_job', countText = '10000'] = process.argv.slice(2);
const count = Number(countText);
const sessions = 100;

const clients = await Promise.all(
  Array.from({ length: sessions }, async () => {
    const client = new Client({ name: 'bench', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } }, fetch: fetchWithOwnSignal }),
    );
    return client;
  }),
);
const controller = new AbortController();
setMaxListeners(count + 10, controller.signal); // one listener per open call, on purpose
for (let i = 0; i < count; i++) {
  // 10,000 connections opened in the same millisecond overflow the listen backlog: that would
  // measure the kernel, not the gateway.
  if (i > 0 && i % 500 === 0) await new Promise((r) => setTimeout(r, 20));
  void (clients[i % sessions] as Client)
    .callTool({ name: tool, arguments: { params: { job_id: i } } }, CallToolResultSchema, {
      onprogress: () => undefined,
      resetTimeoutOnProgress: true,
      timeout: 3_600_000,
      signal: controller.signal,
    })
    .then(
      (result) => process.stderr.write(`call ${i} answered before a decision: ${JSON.stringify(result).slice(0, 200)}\n`),
      (error: unknown) => process.stderr.write(`call ${i} failed: ${(error as Error).message}\n`),
    );
}
await new Promise(() => undefined); // keep them open until the benchmark kills this process
