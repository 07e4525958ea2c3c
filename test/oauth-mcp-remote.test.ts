/**
 * `mcp-remote` (the stdio↔remote bridge many desktop MCP clients use) signing in to Airlock with
 * OAuth: it finds the authorization server through Airlock's 401 and RFC 9728 metadata, registers
 * itself, and opens the sign-in page with the system opener. A fake browser ($BROWSER, which the
 * opener honours) hands the URL to the test, which opens it in Chromium (playwright-core): a
 * person signs in on the provider's pages, and the browser follows the redirect to mcp-remote's
 * own callback server. Then tools are listed over mcp-remote's stdio.
 * HOME and MCP_REMOTE_CONFIG_DIR are temp folders, so nothing leaks between runs.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { launchBrowser } from './helpers/browser.js';
import { loginPageSelectors, startOidcProvider, type TestOidcProvider } from './helpers/oidc-provider.js';
import { freePort } from './helpers/redis-server.js';
import { databricksMockStdio } from './helpers/upstreams.js';

const require = createRequire(import.meta.url);
let oidc: TestOidcProvider;
let gw: TestGateway;
let mcpUrl: string;

beforeAll(async () => {
  const port = await freePort();
  mcpUrl = `http://127.0.0.1:${port}/mcp`;
  oidc = await startOidcProvider({ defaultResource: mcpUrl });
  gw = await startTestGateway({
    port,
    mcpServers: { databricks: databricksMockStdio() },
    agents: ['agent-a'],
    config: {
      oauth: { resource: mcpUrl, authorizationServers: [oidc.issuer], scopes: ['mcp:tools'], agents: [{ match: { sub: 'alice' }, agent: 'agent-a' }] },
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await oidc?.stop();
});

/** A "browser" that only writes the URL it was asked to open to a file. */
function fakeBrowser(dir: string): { command: string; urls(): string[] } {
  const file = path.join(dir, 'opened-urls.txt');
  const command = path.join(dir, 'fake-browser');
  writeFileSync(command, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${file}'\n`);
  chmodSync(command, 0o755);
  return { command, urls: () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []) };
}

describe('mcp-remote signing in to Airlock', () => {
  it('completes the OAuth sign-in through its browser step and lists the tools over stdio', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'airlock-mcp-remote-'));
    const browser = fakeBrowser(home);
    const callbackPort = await freePort();
    const proxyJs = path.join(path.dirname(require.resolve('mcp-remote/package.json')), 'dist/proxy.js');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [proxyJs, mcpUrl, String(callbackPort), '--host', '127.0.0.1'],
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: home,
        MCP_REMOTE_CONFIG_DIR: path.join(home, '.mcp-auth'),
        BROWSER: browser.command,
      },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const client = new Client({ name: 'mcp-remote-test', version: '1.0.0' });
    const connected = client.connect(transport);

    // The browser step: wait for mcp-remote to "open" the sign-in page, sign alice in, deliver the redirect.
    const deadline = Date.now() + 20_000;
    while (browser.urls().length === 0) {
      if (Date.now() > deadline) throw new Error(`mcp-remote never opened a browser; its stderr:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const authorizationUrl = new URL(browser.urls()[0] ?? '');
    expect(authorizationUrl.origin).toBe(oidc.issuer);
    expect(authorizationUrl.searchParams.get('resource')).toBe(mcpUrl);
    const browserProcess = await launchBrowser();
    try {
      const page = await browserProcess.newPage();
      await page.goto(authorizationUrl.href);
      await page.locator(loginPageSelectors.login).fill('alice');
      await page.locator(loginPageSelectors.password).fill('any password');
      await page.locator(loginPageSelectors.submit).click();
      // The provider asks for consent the first time this person meets this client.
      const atCallback = (url: URL) => url.port === String(callbackPort);
      const consent = page.locator('input[name="prompt"][value="consent"]');
      await Promise.race([
        page.waitForURL(atCallback, { timeout: 10_000 }).catch(() => undefined),
        consent.waitFor({ state: 'attached', timeout: 10_000 }).catch(() => undefined),
      ]);
      if (!atCallback(new URL(page.url())) && (await consent.count()) > 0) await page.locator(loginPageSelectors.submit).click();
      await page.waitForURL(atCallback, { timeout: 10_000 });
      expect(new URL(page.url()).searchParams.get('code')).toBeTruthy();
    } finally {
      await browserProcess.close();
    }

    try {
      await connected;
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toContain('list_jobs');
      const result = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
      expect(textOf(result)).toContain('job_id');
    } catch (error) {
      throw new Error(`${String(error)}\nmcp-remote stderr:\n${stderr}`);
    } finally {
      await client.close();
    }
    await new Promise((r) => setTimeout(r, 200));
    const page = await gw.gateway.auditStore.query({ tool: 'list_jobs', limit: 10 });
    expect(page.events.map((e) => e.agent)).toContain('agent-a');
  }, 60_000);
});
