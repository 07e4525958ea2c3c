/**
 * What an approver's edit would change: each path must be one the policy lists in
 * `approval.editable` and must exist in the call (an edit replaces a value, it never adds a new
 * argument); values equal to the asked ones are no change. Pure; the service checks the edited
 * call against the policy (EditCheck) before recording it.
 */
import { isDeepStrictEqual } from 'node:util';
import { getPath, parsePath } from '../util/paths.js';
import type { ApprovalRecord, Edit } from './types.js';

export type EditPlan = { ok: true; changes: Edit['changes']; edited: Record<string, unknown> } | { ok: false; why: string };

/** Most paths one edit may change. */
const maxChangedPaths = 32;

export function planEdit(record: ApprovalRecord, edits: Record<string, unknown>): EditPlan {
  const editable = record.settings.editable ?? [];
  const paths = Object.keys(edits);
  if (paths.length === 0) return { ok: false, why: 'the edit changes no argument: send at least one editable path with its new value' };
  if (paths.length > maxChangedPaths) return { ok: false, why: `an edit changes at most ${maxChangedPaths} paths` };
  const refused = paths.filter((path) => !editable.includes(path));
  if (refused.length > 0) {
    const allowed = editable.length === 0 ? 'this policy lets approvers edit nothing' : `editable paths: ${editable.join(', ')}`;
    return { ok: false, why: `${refused.map((p) => JSON.stringify(p)).join(', ')} ${refused.length === 1 ? 'is' : 'are'} not editable (${allowed})` };
  }
  const edited = structuredClone(record.displayArguments) as Record<string, unknown>; // held arguments are always a JSON object
  const changes: Edit['changes'] = [];
  for (const path of paths) {
    const segments = parsePath(path);
    const before = getPath(edited, segments);
    const parent = getPath(edited, segments.slice(0, -1));
    const last = segments.at(-1);
    if (before === undefined || last === undefined || parent === null || typeof parent !== 'object' || Array.isArray(parent)) {
      return { ok: false, why: `"${path}" is not in this call's arguments; an edit changes a value the agent sent, it does not add one` };
    }
    const after = edits[path];
    if (isDeepStrictEqual(before, after)) continue;
    (parent as Record<string, unknown>)[last] = after;
    changes.push({ path, before, after });
  }
  return { ok: true, changes, edited };
}

/** The edit as the audit records it: who, what changed (before → after), and the arguments that run. */
export function editDetails(edit: Edit): Record<string, unknown> {
  return { editor: edit.editor, changes: edit.changes, arguments: edit.displayArguments };
}
