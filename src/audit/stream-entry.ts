/**
 * The storage layout of the audit history and the edge where its entries are read back. Each
 * event is one stream entry whose fields are the event's fields: text as is, structured values
 * (actor, arguments, latency, details) as canonical JSON, so a stored value re-hashes to the same
 * bytes. Everything read from Redis goes through `decodeEntry` (zod) before anyone trusts it.
 */
import { z } from 'zod';
import { canonicalJson } from '../util/canonical.js';
import { contentFields, type AuditContent } from './chain.js';
import { auditEventTypes, type AuditEvent } from './types.js';

/** Redis keys of one deployment's audit history. */
export interface AuditKeys {
  /** The append-only stream of events. */
  stream: string;
  /** `"<seq> <hash>"` of the last event: what an append must extend. */
  head: string;
  /** Stream ids of one held call's events, in order (the index behind `story`). */
  approval(id: string): string;
}

/** The keys under a deployment's prefix. */
export function auditKeys(prefix: string): AuditKeys {
  return {
    stream: `${prefix}audit`,
    head: `${prefix}audit:head`,
    approval: (id) => `${prefix}audit:approval:${id}`,
  };
}

const structuredFields = new Set<string>(['actor', 'arguments', 'latency', 'details']);

/** Flat XADD field list of a sealed event: content fields, then seq, prevHash, hash. */
export function encodeFields(content: AuditContent, seq: number, prevHash: string, hash: string): string[] {
  const out: string[] = [];
  for (const field of contentFields) {
    const value = content[field];
    if (value === undefined) continue;
    out.push(field, structuredFields.has(field) || typeof value === 'object' ? canonicalJson(value) : `${value as string | number}`);
  }
  out.push('seq', String(seq), 'prevHash', prevHash, 'hash', hash);
  return out;
}

/** One field of a raw entry without decoding the rest (cheap pre-filtering while scanning). */
export function rawField(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length - 1; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** A stream entry as ioredis returns it from XRANGE / XREVRANGE. */
export type RawEntry = [id: string, fields: string[]];

/** Parses an XRANGE / XREVRANGE reply's shape. */
export const RawEntriesSchema = z.array(z.tuple([z.string(), z.array(z.string())]));

/**
 * A structured field: JSON text whose value must fit `schema`. The value is kept exactly as
 * parsed, not zod's copy: a copy would drop a `"__proto__"` member, and verify must hash what is
 * stored — an injected member has to change the hash, not vanish before it is computed.
 */
const jsonText = <T extends z.ZodType>(schema: T) =>
  z.string().transform((text, ctx): z.output<T> => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
      return z.NEVER;
    }
    const checked = schema.safeParse(value);
    if (!checked.success) {
      for (const issue of checked.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    }
    return value as z.output<T>; // the schemas here check shapes and never transform, so the parsed value is what they accept
  });

// Loose objects: a stored value keeps every key it was hashed with, or verify would see an edit.
const ActorSchema = z.looseObject({ kind: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/), id: z.string(), name: z.string().optional() });
const LatencySchema = z.looseObject({
  heldMs: z.number().optional(),
  decisionMs: z.number().optional(),
  upstreamMs: z.number().optional(),
  totalMs: z.number().optional(),
});
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** The fields of a stored entry. Strict: a field the hash does not cover is a tampering vector. */
const StoredFieldsSchema = z.strictObject({
  type: z.enum(auditEventTypes),
  time: z.string(),
  agent: z.string().optional(),
  principal: z.string().optional(),
  session: z.string().optional(),
  upstream: z.string().optional(),
  tool: z.string().optional(),
  approvalId: z.string().optional(),
  actor: jsonText(ActorSchema).optional(),
  reason: z.string().optional(),
  outcome: z.enum(['success', 'tool_error', 'upstream_failure']).optional(),
  policyVersion: z.string().optional(),
  rule: z.string().optional(),
  argumentsHash: z.string().optional(),
  arguments: jsonText(z.unknown()).optional(),
  latency: jsonText(LatencySchema).optional(),
  details: jsonText(z.record(z.string(), z.unknown())).optional(),
  seq: z
    .string()
    .regex(/^[1-9]\d{0,15}$/, 'seq is a positive integer')
    .transform(Number),
  prevHash: hex64,
  hash: hex64,
});

/** A decoded event, or why the entry is not one (with its seq when that much is readable). */
export type DecodedEntry = { ok: true; event: AuditEvent } | { ok: false; id: string; seq: number | undefined; problem: string };

/** Decodes one raw entry; a malformed one is a value (verify reports it), not an exception. */
export function decodeEntry([id, fields]: RawEntry): DecodedEntry {
  const record: Record<string, string> = {};
  for (let i = 0; i < fields.length - 1; i += 2) record[fields[i] as string] = fields[i + 1] as string; // i + 1 < length
  const parsed = StoredFieldsSchema.safeParse(record);
  if (!parsed.success) {
    const seq = Number(record['seq']);
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      id,
      seq: Number.isSafeInteger(seq) ? seq : undefined,
      problem: issue ? `${issue.path.join('.') || 'entry'}: ${issue.message}` : 'malformed',
    };
  }
  const { seq, prevHash, hash, ...content } = parsed.data;
  return { ok: true, event: { id, ...content, seq, prevHash, hash } };
}

/** Decodes entries a reader trusts to be well-formed; a malformed entry is skipped, not fatal. */
export function decodeEntries(raw: unknown): { events: AuditEvent[]; lastId: string | undefined; count: number } {
  const entries = RawEntriesSchema.parse(raw);
  const events: AuditEvent[] = [];
  for (const entry of entries) {
    const decoded = decodeEntry(entry);
    if (decoded.ok) events.push(decoded.event);
  }
  return { events, lastId: entries.at(-1)?.[0], count: entries.length };
}

/** Compares stream ids (`<ms>-<seq>`) numerically. */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/** Stream ids are `<ms>-<seq>`; cursors are stream ids. */
export const streamIdPattern = /^\d{1,15}-\d{1,15}$/;
