/**
 * The policy language as JSON Schema, for editors (`"$schema": "./schema.json"` in a policy gives
 * completion and inline errors). Generated from the zod schema so the two cannot disagree;
 * `policies/schema.json` is this output, and a test fails when the committed file is stale.
 * Cross-field checks (quorum vs approvers, counters, regex syntax) exist only in the loader.
 */
import { z } from 'zod';
import { PolicyFileSchema } from './schema.js';

/** The command that rewrites policies/schema.json. */
export const regenerateSchemaCommand = 'npx tsx scripts/generate-policy-schema.ts';

/** The JSON Schema text as committed (2-space indent, trailing newline). */
export function policyJsonSchemaText(): string {
  const generated = z.toJSONSchema(PolicyFileSchema, { io: 'input', target: 'draft-2020-12' });
  const schema = {
    ...generated,
    title: 'Airlock policy',
    $comment: `Generated from src/policy/schema.ts by \`${regenerateSchemaCommand}\`; do not edit by hand.`,
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}
