/**
 * A real gateway (in-process, the suite's Redis, the Databricks mock) whose Slack channel talks to
 * a fresh fake of the Slack Web API: what the Slack-side tests start from. Both are closed by the
 * caller's `cleanups` (run in reverse order after each test).
 */
import type { InProcessGatewayOptions } from './in-process-gateway.js';
import { startFakeSlack, type FakeSlack } from './fake-slack.js';
import { startTestGateway, type TestGateway } from './gateway.js';
import { databricksMockStdio, type CallLog } from './upstreams.js';

export interface SlackGatewayOptions {
  policy: unknown;
  callLog: CallLog;
  /** The app's signing secret: interaction payloads must be signed with it. */
  signingSecret: string;
  cleanups: Array<() => Promise<void>>;
  owners?: InProcessGatewayOptions['owners'];
  /** Merged over `approvals.progressInterval: 300ms`. */
  config?: Record<string, unknown>;
}

export async function startSlackGateway(options: SlackGatewayOptions): Promise<{ gw: TestGateway; slack: FakeSlack }> {
  const slack = await startFakeSlack();
  options.cleanups.push(() => slack.close());
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog: options.callLog }) },
    ...(options.owners ? { owners: options.owners } : {}),
    policy: options.policy,
    config: { approvals: { progressInterval: '300ms' }, ...options.config },
    env: { SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: options.signingSecret, SLACK_API_URL: slack.url },
  });
  options.cleanups.push(() => gw.close());
  return { gw, slack };
}
