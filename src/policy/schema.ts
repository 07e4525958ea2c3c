/**
 * The shape of a policy file, parsed by zod at the edge (load time). This is the first step of a
 * policy's life: file text → JSON → this schema → compile.ts (cross-field checks, matchers) →
 * evaluate(). Every object is strict, so a misspelt key is a load problem, never a silently
 * ignored rule. `policies/schema.json` is generated from this schema for editors
 * (`npx tsx scripts/generate-policy-schema.ts`); keep descriptions here, not there.
 */
import { z } from 'zod';
import { durationHelp, parseDurationMs } from '../util/duration.js';
import { compileRegex } from './regex.js';

export const actions = ['allow', 'deny', 'approve'] as const;
export const namedWindows = { second: 1, minute: 60, hour: 3_600, day: 86_400 } as const;

const ActionSchema = z.enum(actions).describe('allow: forward; deny: refuse with the reason; approve: hold until a person decides.');
const StateErrorSchema = z
  .enum(['closed', 'open'])
  .describe('When Redis (rate limits) cannot be reached: "closed" refuses the call, "open" lets allowed calls through unchecked.');

/** A dotted argument path such as `params.job_id` (no empty segments, no spaces). */
export const argumentPath = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+)*$/, 'an argument path is dot-separated names such as "params.job_id" (no empty parts, no spaces)')
  .refine((path) => !path.split('.').includes('__proto__'), '"__proto__" cannot be part of an argument path');

const ReasonSchema = z.string().trim().min(1, 'a reason must not be empty').max(1_000, 'keep a reason under 1000 characters');

const JsonValue = z.json();
const validFlags = /^(?!.*(.).*\1)[imsu]*$/;

/** Regex flags in JavaScript spelling (`g` and `y`, which make a JavaScript RegExp stateful, mean nothing here). */
const regexFlags = z
  .string()
  .regex(validFlags, 'flags are any of "i", "m", "s", "u", each at most once ("g" and "y" are not allowed)')
  .describe(
    'Flags for "regex" and "not_regex": i (ignore case), m (^ and $ at line ends), s (. matches newlines), u (accepted; matching is always by code point).',
  );

/** Normalisations of string values before comparing, applied in this order whatever order they are listed in. */
export const normalizations = ['nfkc', 'lower', 'trim'] as const;

/** Longest string a condition with regex, not_regex or normalize checks, unless it sets max_length. */
export const defaultMaxLength = 65_536;

const operatorKeys = ['eq', 'ne', 'in', 'not_in', 'regex', 'not_regex', 'lt', 'lte', 'gt', 'gte', 'exists'] as const;
const patternText = z.string().max(10_000, 'keep a pattern under 10000 characters');
const finite = z.number().refine(Number.isFinite, 'expected a finite number');

/** One condition: every operator given must hold. Numbers and numeric strings compare as numbers. */
export const ConditionSchema = z
  .strictObject({
    eq: JsonValue.optional().describe('Equal to this JSON value.'),
    ne: JsonValue.optional().describe('Not equal to this JSON value (a missing value is not equal).'),
    in: z.array(JsonValue).min(1, '"in" needs at least one value').optional().describe('One of these values.'),
    not_in: z.array(JsonValue).min(1, '"not_in" needs at least one value').optional().describe('None of these values (a missing value passes).'),
    regex: patternText.optional().describe('A regular expression (RE2 syntax, linear time) the string value must match somewhere (anchor with ^ and $).'),
    not_regex: patternText.optional().describe('A regular expression (RE2 syntax) the string value must NOT match anywhere; a non-string value fails.'),
    flags: regexFlags.optional(),
    normalize: z
      .array(z.enum(normalizations))
      .min(1, '"normalize" needs at least one of "nfkc", "lower", "trim"')
      .refine((list) => new Set(list).size === list.length, 'list each normalisation once')
      .optional()
      .describe(
        'Normalise string values (and string operands) before eq, ne, in, not_in, regex and not_regex: nfkc (Unicode NFKC), lower (lower case), trim (surrounding white space), in that order.',
      ),
    max_length: z
      .number()
      .int()
      .min(1)
      .max(16_777_216)
      .optional()
      .describe(
        `Longest string (in UTF-16 code units) checked with regex, not_regex or normalize (default ${defaultMaxLength}); a longer value is rejected as invalid_arguments.`,
      ),
    lt: finite.optional().describe('A number (or numeric string) below this.'),
    lte: finite.optional().describe('A number (or numeric string) at most this.'),
    gt: finite.optional().describe('A number (or numeric string) above this.'),
    gte: finite.optional().describe('A number (or numeric string) at least this.'),
    exists: z.boolean().optional().describe('true: the path must be present; false: it must be absent.'),
  })
  .superRefine((condition, ctx) => {
    if (!operatorKeys.some((key) => condition[key] !== undefined)) {
      ctx.addIssue({ code: 'custom', message: `a condition needs at least one operator: ${operatorKeys.join(', ')}` });
    }
    if (condition.flags !== undefined && condition.regex === undefined && condition.not_regex === undefined) {
      ctx.addIssue({ code: 'custom', path: ['flags'], message: '"flags" only applies together with "regex" or "not_regex"' });
    }
    if (condition.max_length !== undefined && condition.regex === undefined && condition.not_regex === undefined && condition.normalize === undefined) {
      ctx.addIssue({ code: 'custom', path: ['max_length'], message: '"max_length" only applies together with "regex", "not_regex" or "normalize"' });
    }
    for (const key of ['regex', 'not_regex'] as const) {
      const pattern = condition[key];
      if (pattern === undefined) continue;
      // Bad flags are reported on their own; compile the pattern alone so one mistake is one problem.
      const compiled = compileRegex(pattern, validFlags.test(condition.flags ?? '') ? condition.flags : '');
      if (!compiled.ok) ctx.addIssue({ code: 'custom', path: [key], message: compiled.message });
    }
  })
  .describe('Operators on one value; several operators in one object must all hold.');

const ConditionsSchema = z.record(argumentPath, ConditionSchema);

const approverId = z.string().regex(/^[UWS][A-Z0-9]{2,}$/, 'an approver is a Slack user ID (U… or W…) or user-group ID (S…), e.g. U012ABCDEF');

const DurationSchema = z
  .union([z.string(), z.number()])
  .refine((value) => (parseDurationMs(value) ?? 0) >= 1_000, `expected ${durationHelp}, at least 1 second`)
  .describe('A duration such as "15m", "1h", "30s", or a number of seconds.');

/**
 * Standing grants: what an approver may turn one approval into — "yes to this agent, this tool,
 * these pinned values, for a while". Leaving `grants` out (or `allowed: false`) means approve-once only.
 */
export const GrantsSchema = z
  .strictObject({
    allowed: z.boolean().default(true).describe('Whether approvers may grant at all (false turns off grants inherited from a wider layer).'),
    pin: z
      .array(argumentPath)
      .default([])
      .describe(
        'Argument paths an approver may pin: a grant covers only calls whose values at the pinned paths equal the approved call\'s (e.g. "params.job_id"). The approver pins all of them unless they choose fewer.',
      ),
    max_duration: DurationSchema.describe('The longest grant an approver may give, e.g. "1h".'),
  })
  .describe('Standing grants approvers may give when approving a call of this tool.');

/**
 * Context for approvers: a read-only upstream call made when a call is held, whose answer is shown
 * with the request. Never blocks nor fails the hold: a slow or failing call shows "unavailable".
 */
export const ContextItemSchema = z
  .strictObject({
    label: z.string().trim().min(1).max(60).describe('What the approver sees it as, e.g. "Job".'),
    tool: z
      .string()
      .regex(/^[A-Za-z0-9_.\-/]{1,128}$/, 'a tool name as agents see it, e.g. "list_jobs"')
      .describe('The read-only tool to call (as agents see it).'),
    arguments: z.record(z.string(), JsonValue).default({}).describe('Fixed arguments of the call.'),
    from: z
      .record(argumentPath, argumentPath)
      .optional()
      .describe('Arguments taken from the held call: {"<path in this call>": "<path in the held call>"}, e.g. {"params.job_id": "params.job_id"}.'),
    find: z
      .strictObject({
        in: argumentPath.optional().describe('Path of the list in the answer (its JSON text), e.g. "jobs"; the answer itself when left out.'),
        match: z.record(argumentPath, argumentPath).describe('{"<path in an item>": "<path in the held call>"}: the first item whose values equal is shown.'),
      })
      .optional()
      .describe('Show one item of a list answer, e.g. the job the held call runs from list_jobs.'),
    redact: z.array(argumentPath).optional().describe('Paths of the shown answer never shown.'),
    timeout: z
      .union([z.string(), z.number()])
      .refine((value) => {
        const ms = parseDurationMs(value);
        return ms !== undefined && ms >= 50 && ms <= 30_000;
      }, `expected ${durationHelp}, from 50ms to 30s`)
      .optional()
      .describe('Give up after this long (default 2s, at most 30s); the approver sees "context unavailable".'),
    max_bytes: z.number().int().min(64).max(16_384).optional().describe('Longest shown answer as JSON (default 2048 bytes); longer is cut.'),
  })
  .describe('A read-only call whose answer approvers see with the held call.');
const approvalChannel = z.string().regex(/^#?[\w.-]{1,80}$/, 'a channel is a Slack channel ID (C…) or name (#approvals)');

const EscalationStepSchema = z
  .strictObject({
    after: DurationSchema.describe('How long after the request this step is taken (it must come before the timeout).'),
    channel: approvalChannel.optional().describe('Post the pending call to this channel too.'),
    approvers: z.array(approverId).min(1).optional().describe('Slack user IDs or user-group IDs who may decide from this step on, besides the approvers.'),
  })
  .refine((step) => step.channel !== undefined || step.approvers !== undefined, 'an escalation step needs "channel", "approvers" or both')
  .describe('One escalation step.');

/** Approval settings; every field is optional so tool and rule settings merge over the defaults. */
export const ApprovalSchema = z
  .strictObject({
    approvers: z
      .array(approverId)
      .optional()
      .describe(
        'Slack user IDs (U…/W…) and user-group IDs (S…) who may decide. Empty: only admins (admin token: API, CLI, dashboard). Left out everywhere: any signed-in approver (the gateway warns at start).',
      ),
    quorum: z.number().int().min(1, 'quorum is at least 1').optional().describe('Distinct approvals needed; one deny decides.'),
    timeout: DurationSchema.optional().describe("Auto-deny as expired after this long; default: the config's approvals.defaultTimeout."),
    channel: approvalChannel.optional(),
    show: z.array(argumentPath).optional().describe('Argument paths that lead the approval message; all arguments stay viewable.'),
    redact: z.array(argumentPath).optional().describe('Argument paths never shown to approvers nor written to the audit log.'),
    allow_self_approval: z.boolean().optional().describe("Whether the agent's owner may approve its own agent's calls (default false)."),
    grants: GrantsSchema.optional(),
    client: z
      .boolean()
      .optional()
      .describe(
        "Also ask the agent's own client (MCP elicitation), when it declared the capability; its answer is a vote by the agent's owner, under the same approvers, allow_self_approval and quorum rules (default false).",
      ),
    context: z.array(ContextItemSchema).max(5, 'at most 5 context calls').optional().describe('Read-only upstream calls whose answers approvers see.'),
    editable: z
      .array(argumentPath)
      .optional()
      .describe('Argument paths an approver may change before approving ("Edit & approve"); the changed call is checked again and runs once.'),
    direct_message: z
      .boolean()
      .optional()
      .describe('Also send the request to each approver named by Slack user ID as a direct message, kept up to date like the channel message (default false).'),
    remind: z
      .array(z.number().gt(0, 'a reminder is a fraction of the timeout above 0').lt(1, 'a reminder is a fraction of the timeout below 1 (0.5 = halfway)'))
      .max(10, 'at most 10 reminders')
      .refine((list) => new Set(list).size === list.length, 'each reminder fraction once')
      .optional()
      .describe('Fractions of the timeout at which a still-pending call reminds its approvers, e.g. [0.5, 0.9] (Slack: a thread reply mentioning them).'),
    escalate: z
      .array(EscalationStepSchema)
      .max(5, 'at most 5 escalation steps')
      .optional()
      .describe('Steps taken while the call is still pending: after a duration, post it to another channel and/or let more approvers decide.'),
  })
  .describe('How a held call is decided.');

const windowSchema = z
  .union([z.enum(['second', 'minute', 'hour', 'day']), z.number().int().min(1)], {
    error: 'window is "second", "minute", "hour", "day" or a whole number of seconds (≥ 1)',
  })
  .describe('"second", "minute", "hour", "day" or a number of seconds.');

export const LimitSchema = z.strictObject({
  counter: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a counter name uses letters, digits, "_", "." and "-" (at most 64)')
    .describe('Counter name; tools naming the same counter share one count.'),
  window: windowSchema,
  max: z.number().int().min(1, 'max is at least 1').describe('Calls admitted per window.'),
  scope: z
    .enum(['global', 'grant', 'session'])
    .default('grant')
    .describe('global: one count for everyone; grant: one per agent (default); session: one per MCP session.'),
});

export const RuleSchema = z.strictObject({
  description: z.string().optional(),
  agent: ConditionSchema.optional().describe('Condition on the calling agent\'s name, e.g. {"in": ["analytics-bot"]}.'),
  when: ConditionsSchema.optional().describe('Conditions on argument paths; all must hold.'),
  action: ActionSchema,
  reason: ReasonSchema.optional(),
  approval: ApprovalSchema.optional(),
  mode: z
    .enum(['enforce', 'shadow'])
    .default('enforce')
    .describe(
      'enforce (default): the rule decides when it matches. shadow: the rule is evaluated but never decides; when it would have decided a call, a `would_have` audit event records what it would have done.',
    ),
});

export const ToolEntrySchema = z
  .strictObject({
    description: z.string().optional(),
    action: ActionSchema.optional().describe('What happens when no rule matches; omitted means allow.'),
    reason: ReasonSchema.optional().describe('Told to the agent when denied; shown to approvers when held.'),
    limits: z.array(LimitSchema).default([]),
    constraints: ConditionsSchema.optional().describe('Argument conditions every call must meet; a violating call is rejected first.'),
    rules: z.array(RuleSchema).default([]).describe('Checked in order; the first whose conditions all hold decides.'),
    approval: ApprovalSchema.optional(),
    redact: z.array(argumentPath).optional(),
    on_state_error: StateErrorSchema.optional(),
  })
  .describe('One tool, or every tool a glob matches.');

/** A resource URI or URI glob, e.g. `file:///reports/*`, `db://warehouse/*`. */
const resourceKey = z
  .string()
  .regex(/^\S{1,512}$/, 'a resource key is a URI or a URI glob with "*", without spaces (at most 512 characters)')
  .refine((key) => !key.includes('**'), 'write one "*": it already matches any run of characters')
  .refine((key) => key !== '__proto__', '"__proto__" cannot be a resource key');

const toolKey = z
  .string()
  .regex(/^[A-Za-z0-9_.\-/*]{1,128}$/, 'a tool key is a tool name or a glob of letters, digits, "_", ".", "-", "/" and "*"')
  .refine((key) => !key.includes('**'), 'write one "*": it already matches any run of characters')
  .refine((key) => key !== '__proto__', '"__proto__" cannot be a tool key');

export const PolicyFileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.literal('1', { error: 'version must be "1" (the only policy language version)' }).optional(),
    description: z.string().optional(),
    default: ActionSchema.default('deny').describe('Action for tools, resources and prompts no entry matches (default deny).'),
    default_reason: ReasonSchema.optional().describe('Reason given when the default denies or holds a call.'),
    hide_denied: z.boolean().default(true).describe('tools/list hides tools the agent can never call (default true).'),
    on_state_error: StateErrorSchema.default('closed'),
    approval: ApprovalSchema.optional().describe("Defaults merged under every tool's and rule's approval settings."),
    redact: z.array(argumentPath).optional().describe('Argument paths redacted for every tool.'),
    tools: z.record(toolKey, ToolEntrySchema).default({}).describe('Tool names or globs; the most specific entry wins.'),
    resources: z
      .record(resourceKey, ToolEntrySchema)
      .default({})
      .describe(
        'Resource URIs or URI globs (resources/read, resources/subscribe); conditions see "uri" and "operation" ("read" or "subscribe"). Entries not matched fall to "default".',
      ),
    prompts: z
      .record(toolKey, ToolEntrySchema)
      .default({})
      .describe('Prompt names or globs (prompts/get); conditions see the prompt\'s arguments. Entries not matched fall to "default".'),
  })
  .describe('An Airlock policy (PolicyLayer-compatible, extended).');

export type PolicyFile = z.output<typeof PolicyFileSchema>;
export type ToolEntry = z.output<typeof ToolEntrySchema>;
export type RuleSpec = z.output<typeof RuleSchema>;
export type ConditionSpec = z.output<typeof ConditionSchema>;
export type ApprovalSpec = z.output<typeof ApprovalSchema>;
export type GrantsSpec = z.output<typeof GrantsSchema>;
export type ContextItemSpec = z.output<typeof ContextItemSchema>;
export type LimitSpecInput = z.output<typeof LimitSchema>;
