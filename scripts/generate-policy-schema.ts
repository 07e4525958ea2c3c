/**
 * Writes policies/schema.json from the policy zod schema (src/policy/schema.ts).
 *
 *   npx tsx scripts/generate-policy-schema.ts
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { policyJsonSchemaText } from '../src/policy/json-schema.js';

const target = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../policies/schema.json');
writeFileSync(target, policyJsonSchemaText());
process.stdout.write(`wrote ${path.relative(process.cwd(), target)}\n`);
