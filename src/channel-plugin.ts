/**
 * What an approval channel (Slack today; Teams, e-mail… tomorrow) gives the gateway: a notifier
 * the approvals core delivers events to, optionally a directory of approver groups and HTTP
 * routes, and a lifecycle. A channel is built from the channels' port of approvals and the
 * config, and registered with one line in channel-registry.ts; nothing else names it.
 */
import type { Router } from 'express';
import type { ApprovalChannels } from './approvals/ports.js';
import type { ApprovalNotifier, ApproverDirectory } from './approvals/types.js';
import type { EnvSettings, LoadedConfig } from './config/load.js';
import type { Logger } from './log.js';
import type { PostingSlots } from './state/posting-slots.js';

/** What a channel may use to build itself. */
export interface ChannelContext {
  approvals: ApprovalChannels;
  config: LoadedConfig;
  env: EnvSettings;
  log: Logger;
  /** Shared across replicas: lets a channel refuse a replayed request (e.g. a signature seen before). */
  once: OnceStore;
  now?: () => number;
  /** Posting slots shared by every replica (Redis): a channel with a posting rate keeps it cluster-wide. */
  postingSlots?: PostingSlots;
}

/** A set of keys shared by every replica, each remembered for a while (Redis `SET NX PX`). */
export interface OnceStore {
  /** True the first time `key` is claimed within `ttlMs`; false when any replica claimed it before. Throws `state_store_unavailable` when it cannot tell. */
  claim(key: string, ttlMs: number): Promise<boolean>;
}

/** What a started channel hands the approvals core. */
export interface StartedChannel {
  /** Each gets its own notification queue (its own retries, its own outage); most channels have one. */
  readonly notifiers: readonly ApprovalNotifier[];
  /** Resolves approver groups named in policies (Slack user groups). */
  readonly directory?: ApproverDirectory;
}

/**
 * A configured channel. Building one must be cheap (config checks only): a channel's libraries
 * load in `start()`, so a gateway without, say, Slack never pays for Bolt.
 */
export interface ApprovalChannelPlugin {
  /** Names its notification queue and its metrics label. */
  readonly name: string;
  /** Endpoints it serves (mounted before any body parser), e.g. `/slack` for Slack's events; they may answer 503 until started. */
  readonly mount?: { path: string; router: Router };
  /** Where a policy's `approval.channel` (or the default) sends requests, in words for agents; undefined when this channel does not serve it. */
  describe?(channel: string | undefined): string | undefined;
  /** Loads and starts the channel; what it returns is registered with the approvals core. */
  start(): Promise<StartedChannel>;
  close(): Promise<void>;
}

/** Builds a channel from the config, or returns undefined when it is not configured (cheap: no heavy imports). */
export type ChannelFactory = (context: ChannelContext) => ApprovalChannelPlugin | undefined;

/** One line of `airlock doctor`'s report. */
export interface DoctorFinding {
  severity: 'ok' | 'info' | 'warn' | 'fail';
  subject: string;
  message: string;
  /** What to do about it. */
  fix?: string;
}

/** A channel's part of `airlock doctor`: its credentials and reachability, for the channels the config and policies name. */
export type ChannelDoctor = (config: LoadedConfig, policyChannels: string[], log: Logger) => Promise<DoctorFinding[]>;
