/**
 * The hash chain, in one place so the writer, `verify` and anyone re-checking an export agree on
 * the bytes. Each event's hash covers its content (every field except id, seq, prevHash, hash),
 * its position and its predecessor's hash:
 *
 *   hash = hex(SHA-256( canonicalJson(content) + "\n" + seq + "\n" + prevHash ))
 *
 * canonicalJson is RFC 8785 (JCS): keys sorted, undefined dropped, numbers and strings in one
 * spelling, and `__proto__` an ordinary name — so the hash does not depend on key order, and a
 * member injected into a stored value cannot hide from it. The first
 * event ever written has prevHash = 64 zeros. SHA-256 is computed here in Node: Redis Lua only has
 * SHA-1, which is no longer collision resistant.
 */
import { canonicalJson, engineOrderJson, sha256Hex } from '../util/canonical.js';
import type { AuditEvent, AuditEventInput } from './types.js';

/** prevHash of seq 1. */
export const genesisHash = '0'.repeat(64);

/** The fields an event's hash covers, in the order they are stored. */
export const contentFields = [
  'type',
  'time',
  'agent',
  'principal',
  'session',
  'upstream',
  'tool',
  'approvalId',
  'actor',
  'reason',
  'outcome',
  'policyVersion',
  'rule',
  'argumentsHash',
  'arguments',
  'latency',
  'details',
] as const satisfies ReadonlyArray<keyof AuditEvent>;

/** What the store hashes and keeps of an event: the writer's fields plus the time it was recorded. */
export type AuditContent = AuditEventInput & { time: string };

/** Where the chain ends: the last event's seq and hash (seq 0 and genesisHash when empty). */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** The head of a chain with no events. */
export const emptyHead: ChainHead = { seq: 0, hash: genesisHash };

/**
 * Picks the known fields of an input by name, so nothing a writer attaches beyond the contract
 * (a raw-arguments field, say) is ever stored or hashed. Absent fields stay undefined (canonical
 * JSON and the stream encoding both skip them).
 */
export function contentOf(event: AuditContent): AuditContent {
  const { type, time, agent, principal, session, upstream, tool, approvalId, actor, reason, outcome, policyVersion, rule, argumentsHash, latency, details } =
    event;
  return {
    type,
    time,
    agent,
    principal,
    session,
    upstream,
    tool,
    approvalId,
    actor,
    reason,
    outcome,
    policyVersion,
    rule,
    argumentsHash,
    arguments: event.arguments,
    latency,
    details,
  };
}

/** The chain hash of one event given the canonical JSON of its content. */
export function chainHash(contentJson: string, seq: number, prevHash: string): string {
  return sha256Hex(`${contentJson}\n${seq}\n${prevHash}`);
}

/**
 * Whether a stored event's content still matches its hash. Events written before the chain used
 * RFC 8785 differ only where a name looks like an array index ("0", "17": then listed first, in
 * numeric order); such an event is also checked against that order, so upgrading never breaks an
 * intact chain. Both forms hash every own member, `__proto__` included.
 */
export function eventMatchesHash(event: AuditEvent): boolean {
  const content = contentOf(event);
  if (chainHash(canonicalJson(content), event.seq, event.prevHash) === event.hash) return true;
  const legacy = engineOrderJson(content);
  return legacy.differs && chainHash(legacy.json, event.seq, event.prevHash) === event.hash;
}

/** The head key's text form: `"<seq> <hash>"`; the empty chain is the absent key (""). */
export function formatHead(head: ChainHead): string {
  return head.seq === 0 ? '' : `${head.seq} ${head.hash}`;
}

/** Parses the head key; undefined when it is not a head (tampered or foreign key). */
export function parseHead(text: string | null | undefined): ChainHead | undefined {
  if (text === null || text === undefined || text === '') return emptyHead;
  const match = /^(\d+) ([0-9a-f]{64})$/.exec(text);
  if (!match) return undefined;
  return { seq: Number(match[1]), hash: match[2] as string }; // group 2 always matches when the regex does
}
