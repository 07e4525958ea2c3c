/**
 * The keyed argument hash: `hmac-sha256:<hex>` of a call's canonical arguments (RFC 8785 bytes)
 * under a server secret. It binds a retry to its approval (dedup key) and links audit events of
 * one argument set, and it stands beside redacted arguments in the audit history and its
 * exports — so it must not let a reader confirm a guessed redacted value, which an unkeyed
 * SHA-256 would (hash the guess, compare). Without the secret a guess cannot be checked.
 *
 * The secret comes from `AIRLOCK_HASH_SECRET` when set (at least 32 characters); otherwise the
 * first replica to start generates 32 random bytes and stores them with `SET NX` under
 * `<prefix>hash-secret`, and every replica reads that one value, so all of them hash alike.
 * Rotation (README): a new secret changes every hash from then on.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Redis } from './redis.js';
import { withStateStore } from './state-store.js';

/** Shortest `AIRLOCK_HASH_SECRET` accepted. */
export const minHashSecretLength = 32;

/** Prefix of every keyed argument hash, naming the algorithm. */
export const argumentsHashPrefix = 'hmac-sha256:';

export interface ArgumentsHasherOptions {
  /** Redis holding the generated secret (the call-path connection). */
  redis: Redis;
  /** Key prefix from the config (`airlock:`). */
  prefix: string;
  /** `AIRLOCK_HASH_SECRET`; when set, Redis is not consulted. */
  secret?: string | undefined;
  log?: Logger;
}

/** Checks `AIRLOCK_HASH_SECRET` at start: undefined when fine, else what to fix. */
export function hashSecretProblem(secret: string | undefined): string | undefined {
  if (secret === undefined || secret.length >= minHashSecretLength) return undefined;
  return `AIRLOCK_HASH_SECRET must be at least ${minHashSecretLength} characters (it keys the argument hashes); generate one with \`openssl rand -hex 32\`, or unset it to let the gateway generate and keep one in Redis`;
}

/** The HMAC of canonical arguments under a fixed key (what ArgumentsHasher computes once loaded). */
export function keyedArgumentsHash(key: Buffer, canonicalArgumentsJson: string): string {
  return argumentsHashPrefix + createHmac('sha256', key).update(canonicalArgumentsJson, 'utf8').digest('hex');
}

/**
 * Loads the secret once (`start()`, or lazily on the first hash when Redis was down at start)
 * and hashes with it. A class because it holds the key for the gateway's life.
 */
export class ArgumentsHasher {
  private key: Buffer | undefined;
  private loading: Promise<Buffer> | undefined;

  constructor(private readonly options: ArgumentsHasherOptions) {
    const problem = hashSecretProblem(options.secret);
    if (problem) throw new AirlockError('config_invalid', problem);
    if (options.secret !== undefined) this.key = Buffer.from(options.secret, 'utf8');
  }

  /** The Redis key the generated secret lives under. */
  get secretKey(): string {
    return `${this.options.prefix}hash-secret`;
  }

  /** Loads the key; Redis being down is logged (the first hash retries), never fatal. */
  async start(): Promise<void> {
    try {
      await this.load();
    } catch (error) {
      this.options.log?.warn({ err: error instanceof Error ? error.message : String(error) }, 'argument-hash secret not loaded yet; retried on the first call');
    }
  }

  /**
   * `hmac-sha256:<hex>` of canonical argument bytes. Throws `state_store_unavailable` when the
   * secret is neither configured nor readable from Redis (fail closed: no hash, no call).
   */
  async hash(canonicalArgumentsJson: string): Promise<string> {
    const key = this.key ?? (await this.load());
    return keyedArgumentsHash(key, canonicalArgumentsJson);
  }

  private load(): Promise<Buffer> {
    if (this.key) return Promise.resolve(this.key);
    this.loading ??= this.fetchOrCreate().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async fetchOrCreate(): Promise<Buffer> {
    const { redis } = this.options;
    const fresh = randomBytes(32).toString('hex');
    // SET NX: the first replica's secret wins; everyone (that one included) then reads it back.
    const stored = await withStateStore(async () => {
      await redis.set(this.secretKey, fresh, 'NX');
      return redis.get(this.secretKey);
    });
    if (stored === null || !/^[0-9a-f]{64}$/.test(stored)) {
      throw new AirlockError(
        'state_store_unavailable',
        `The argument-hash secret ${this.secretKey} in Redis is missing or not 64 hex characters; delete the key (a new one is generated) or set AIRLOCK_HASH_SECRET.`,
        { retryAfterSec: 5 },
      );
    }
    if (stored === fresh) this.options.log?.info({ key: this.secretKey }, 'generated the argument-hash secret and stored it in Redis');
    this.key = Buffer.from(stored, 'hex');
    return this.key;
  }
}
