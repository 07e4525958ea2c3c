/**
 * Webhooks as an approval channel, registered in channel-registry.ts: every approval request and
 * update goes as signed JSON to each configured endpoint (one notification queue per endpoint),
 * and signed decisions come back on `POST /webhooks/decisions`. Secrets come from the environment
 * variables the config names; a missing or short one stops the start, naming the variable.
 */
import type { ChannelFactory } from '../channel-plugin.js';
import type { EnvSettings } from '../config/load.js';
import { AirlockError } from '../errors.js';
import { decisionRouter, type WebhookKey } from './decision-router.js';
import { createWebhookNotifier, type WebhookEndpoint } from './webhook-notifier.js';

/** Shortest secret accepted: shorter ones can be guessed offline from one signed request. */
const minSecretLength = 16;

export const webhookChannelFactory: ChannelFactory = (context) => {
  const { endpoints, keys, replayWindow } = context.config.webhooks;
  if (Object.keys(endpoints).length === 0 && Object.keys(keys).length === 0) return undefined;
  const problems: string[] = [];
  const secretOf = (where: string, variable: string): string => {
    const secret = readSecret(context.env, variable);
    if (secret === undefined) problems.push(`${where}.secretEnv names ${variable}, which is unset: set it to a random secret (e.g. \`openssl rand -hex 32\`)`);
    else if (secret.length < minSecretLength)
      problems.push(`${where}.secretEnv: ${variable} is shorter than ${minSecretLength} characters; use a random secret (e.g. \`openssl rand -hex 32\`)`);
    return secret ?? '';
  };
  const targets: WebhookEndpoint[] = Object.entries(endpoints).map(([name, spec]) => ({
    name,
    url: spec.url,
    secret: secretOf(`webhooks.endpoints.${name}`, spec.secretEnv),
    channels: spec.channels,
    timeoutMs: spec.timeout,
  }));
  const signers = new Map<string, WebhookKey>(
    Object.entries(keys).map(([name, spec]) => [
      name,
      { secret: secretOf(`webhooks.keys.${name}`, spec.secretEnv), identity: spec.identity, name: spec.name ?? name },
    ]),
  );
  if (problems.length > 0) throw new AirlockError('config_invalid', `invalid webhook configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);

  const now = context.now ?? Date.now;
  const log = context.log.child({ component: 'webhook' });
  const router = decisionRouter({ approvals: context.approvals, keys: signers, once: context.once, replayWindowMs: replayWindow, log, now });
  log.info({ endpoints: targets.map((t) => t.name), keys: [...signers.keys()] }, 'webhook approvals enabled');
  return {
    name: 'webhook',
    mount: { path: '/webhooks', router },
    describe: (channel) => {
      const reached = targets.filter((t) => t.channels === undefined || t.channels.includes(channel ?? '')).map((t) => t.name);
      return reached.length === 0 ? undefined : `the approvers reached through the webhook${reached.length === 1 ? '' : 's'} ${reached.join(', ')}`;
    },
    start: async () => ({
      notifiers: targets.map((endpoint) => createWebhookNotifier({ endpoint, publicUrl: context.config.publicUrl, log, now })),
    }),
    close: async () => undefined,
  };
};

function readSecret(env: EnvSettings, variable: string): string | undefined {
  const value = env.variable?.(variable);
  return value === undefined || value === '' ? undefined : value;
}
