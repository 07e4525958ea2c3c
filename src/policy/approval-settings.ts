/**
 * Approval settings as a policy writes them (every field optional, in three layers: top-level
 * defaults ← tool ← rule) merged into the ApprovalSettings a held call carries. Part of compile:
 * runs once per outcome at load, never per call.
 */
import type { LoadProblem } from '../errors.js';
import { jsonPath } from '../errors.js';
import { parseDurationMs } from '../util/duration.js';
import { frozen } from './compiled.js';
import type { ApprovalSpec, ContextItemSpec } from './schema.js';
import { anyApprover, type ApprovalSettings, type ContextCall } from './types.js';

/** One layer and where it sits in the file (for problems). */
export interface ApprovalLayer {
  spec: ApprovalSpec | undefined;
  path: readonly PropertyKey[];
}

/** Field-wise merge, later layers winning; `redact` is not part of the settings (see redactOf). */
export function mergeApproval(layers: readonly ApprovalLayer[]): ApprovalSettings {
  const merged: ApprovalSpec = {};
  for (const layer of layers) {
    if (layer.spec === undefined) continue;
    for (const [key, value] of Object.entries(layer.spec)) {
      if (value !== undefined) Object.assign(merged, { [key]: value });
    }
  }
  const timeoutMs = merged.timeout === undefined ? undefined : parseDurationMs(merged.timeout);
  return {
    approvers: frozen(merged.approvers === undefined ? [anyApprover] : [...merged.approvers]),
    quorum: merged.quorum ?? 1,
    timeoutMs,
    channel: merged.channel,
    show: frozen([...(merged.show ?? [])]),
    allowSelfApproval: merged.allow_self_approval ?? false,
    grants:
      merged.grants === undefined || !merged.grants.allowed
        ? undefined
        : { pin: frozen([...merged.grants.pin]), maxDurationMs: parseDurationMs(merged.grants.max_duration) ?? 0 },
    context: frozen((merged.context ?? []).map(contextCall)),
    askClient: merged.client ?? false,
    ...(merged.direct_message ? { directMessage: true } : {}),
    ...(merged.editable ? { editable: frozen([...merged.editable]) } : {}),
    ...(merged.remind ? { remind: frozen([...merged.remind].sort((a, b) => a - b)) } : {}),
    ...(merged.escalate
      ? {
          escalate: frozen(
            merged.escalate.map((step) => ({
              afterMs: parseDurationMs(step.after) ?? 0, // the schema checked it parses
              ...(step.channel ? { channel: step.channel } : {}),
              approvers: [...(step.approvers ?? [])],
            })),
          ),
        }
      : {}),
  };
}

function contextCall(spec: ContextItemSpec): ContextCall {
  return {
    label: spec.label,
    tool: spec.tool,
    arguments: spec.arguments,
    from: Object.entries(spec.from ?? {}),
    find: spec.find === undefined ? undefined : { in: spec.find.in, match: Object.entries(spec.find.match) },
    redact: [...(spec.redact ?? [])],
    timeoutMs: spec.timeout === undefined ? 2_000 : (parseDurationMs(spec.timeout) ?? 2_000),
    maxBytes: spec.max_bytes ?? 2_048,
  };
}

/**
 * A grant skips every later approval, so it must not let one approver stand in for a quorum:
 * grants with `quorum` above 1 are a load problem.
 */
export function grantsProblem(settings: ApprovalSettings, layers: readonly ApprovalLayer[], file: string | undefined): LoadProblem | undefined {
  if (settings.grants === undefined || settings.quorum <= 1) return undefined;
  const where = [...layers].reverse().find((layer) => layer.spec?.grants !== undefined) ?? layers.at(-1);
  const path = jsonPath([...(where?.path ?? []), 'grants']);
  const message = `grants cannot be combined with quorum ${settings.quorum}: a grant given by one approver would skip the other approvals every later call needs; set "grants": {"allowed": false} here or lower the quorum to 1`;
  return file === undefined ? { path, message } : { file, path, message };
}

/** An escalation step at or after the timeout never happens: a load problem, naming the step. */
export function escalationProblem(settings: ApprovalSettings, layers: readonly ApprovalLayer[], file: string | undefined): LoadProblem | undefined {
  const { timeoutMs, escalate } = settings;
  if (timeoutMs === undefined || !escalate) return undefined;
  const index = escalate.findIndex((step) => step.afterMs >= timeoutMs);
  if (index < 0) return undefined;
  const where = [...layers].reverse().find((layer) => layer.spec?.escalate !== undefined) ?? layers.at(-1);
  const path = jsonPath([...(where?.path ?? []), 'escalate', index, 'after']);
  const message = `this escalation step comes at or after the approval timeout (${timeoutMs / 1_000}s), so it would never happen; make "after" shorter than the timeout`;
  return file === undefined ? { path, message } : { file, path, message };
}

/**
 * A quorum that can never be reached is a load problem: with only user IDs (no groups, which may
 * hold any number of people) there must be at least `quorum` approvers. An empty list is valid:
 * then only admins (admin token: API, CLI, dashboard) decide; no list at all lets anyone decide.
 */
export function quorumProblem(settings: ApprovalSettings, layers: readonly ApprovalLayer[], file: string | undefined): LoadProblem | undefined {
  const { approvers, quorum } = settings;
  if (approvers.length === 0 || approvers.some((id) => id.startsWith('S') || id === anyApprover) || quorum <= approvers.length) return undefined;
  const where = [...layers].reverse().find((layer) => layer.spec?.quorum !== undefined) ?? layers.at(-1);
  const path = jsonPath([...(where?.path ?? []), 'quorum']);
  const message = `quorum ${quorum} can never be reached: only ${approvers.length} approver${approvers.length === 1 ? '' : 's'} (${approvers.join(', ')}) may decide; lower the quorum or add approvers or a user group (S…)`;
  return file === undefined ? { path, message } : { file, path, message };
}

/** Every redact path an outcome carries: file-wide, the approval layers' and the entry's own. */
export function redactOf(lists: ReadonlyArray<readonly string[] | undefined>): string[] {
  const out = new Set<string>();
  for (const list of lists) for (const path of list ?? []) out.add(path);
  return frozen([...out]);
}
