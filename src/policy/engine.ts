/**
 * The policy engine: the gateway's PolicyPort. It owns the loaded policy files (the default one
 * and agents' own), answers the pipeline's questions through the pure evaluate(), and keeps the
 * files current: a changed file is validated and swapped in atomically, an invalid one is
 * rejected with its problems and the last good version keeps serving.
 *
 * Which file decides for an agent: the agent's own `policy` (airlock.config.json
 * `agents.<name>.policy`) when it has one, else the config's `policy`, else a built-in
 * deny-all policy (fail closed) whose reason tells the operator to set "policy".
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { LoadedConfig } from '../config/load.js';
import type { LoadProblem } from '../errors.js';
import type { Agent } from '../identity/tokens.js';
import type { Logger } from '../log.js';
import type { CompiledPolicy } from './compiled.js';
import { evaluate, isVisible } from './evaluate.js';
import { validateInput } from './input-schema.js';
import { builtinDenyAll, loadPolicyFile, parsePolicy, policyInvalidError } from './load.js';
import { describePolicy, type PolicyFileInfo } from './policy-info.js';
import type { ConstraintViolation, Decision, SubjectKind } from './types.js';

export type ReloadTrigger = 'start' | 'watch' | 'reload';

export interface PolicyLoadedEvent {
  file: string;
  version: string;
  /** The version it replaced; undefined at start. */
  previousVersion: string | undefined;
  trigger: ReloadTrigger;
}

export interface PolicyRejectedEvent {
  file: string;
  problems: LoadProblem[];
  /** The version that keeps serving. */
  keptVersion: string | undefined;
  trigger: ReloadTrigger;
}

export interface ReloadReport {
  file: string;
  status: 'loaded' | 'unchanged' | 'rejected';
  version: string | undefined;
  problems: LoadProblem[];
}

export interface PolicyEngineOptions {
  /** Absolute path of the default policy file; undefined → the built-in deny-all policy. */
  defaultFile: string | undefined;
  /** Agent name → absolute path of its own policy file. */
  agentFiles?: Readonly<Record<string, string>>;
  /** Watch the files and reload on change (config `policyWatch`, default true). */
  watch?: boolean;
  /** Quiet time after a file event before reloading (editors write in several steps). */
  debounceMs?: number;
  log: Logger;
  /** A file's version was swapped in (also at start): the gateway audits `policy_loaded`. */
  onLoaded?: (event: PolicyLoadedEvent) => void;
  /** A changed file was refused and the last good version kept: audit `policy_rejected`. */
  onRejected?: (event: PolicyRejectedEvent) => void;
  now?: () => number;
}

/** The engine's file settings from a loaded config (paths there are already absolute). */
export function policyEngineOptionsFromConfig(config: LoadedConfig): Pick<PolicyEngineOptions, 'defaultFile' | 'agentFiles' | 'watch'> {
  const agentFiles: Record<string, string> = {};
  for (const [name, agent] of Object.entries(config.agents)) if (agent.policy !== undefined) agentFiles[name] = agent.policy;
  return { defaultFile: config.policy, agentFiles, watch: config.policyWatch };
}

interface Slot {
  policy: CompiledPolicy;
  loadedAtMs: number;
}

/** Events: `changed` after a reload swapped a new version in (tools/list may differ now). */
export interface PolicyEngineEvents {
  changed: [PolicyLoadedEvent];
}

/**
 * Lifecycle: `start()` loads every file (throws `policy_invalid` on any problem) and starts
 * watching; `close()` stops watching. Emits `changed` on every hot swap after start.
 */
export class PolicyEngine extends EventEmitter<PolicyEngineEvents> {
  private readonly options: PolicyEngineOptions;
  private readonly now: () => number;
  /** Every file to load: the default one first, then agents' own (deduplicated). */
  private readonly files: string[];
  private readonly slots = new Map<string, Slot>();
  private readonly builtin: Slot;
  private readonly watchers: FSWatcher[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Per-file chain, so two reloads of one file never race and swap in an older read. */
  private readonly chains = new Map<string, Promise<ReloadReport>>();
  /** Deny-all stand-ins for agent policy files that were never loaded. */
  private readonly unloaded = new Map<string, CompiledPolicy>();
  private started = false;
  private closed = false;

  constructor(options: PolicyEngineOptions) {
    super();
    this.options = options;
    this.now = options.now ?? Date.now;
    const files = [options.defaultFile, ...Object.values(options.agentFiles ?? {})].filter((f): f is string => f !== undefined);
    this.files = [...new Set(files.map((f) => path.resolve(f)))];
    this.builtin = { policy: builtinDenyAll(), loadedAtMs: this.now() };
  }

  /** Loads every file; throws `policy_invalid` listing every problem of every file (no boot on a broken policy). */
  async start(): Promise<void> {
    const results = await Promise.all(this.files.map(async (file) => ({ file, result: await loadPolicyFile(file) })));
    const problems = results.flatMap(({ result }) => (result.ok ? [] : result.problems));
    if (problems.length > 0) throw policyInvalidError(problems);
    for (const { file, result } of results) {
      if (!result.ok) continue;
      this.slots.set(file, { policy: result.policy, loadedAtMs: this.now() });
      this.options.log.info({ file, version: result.policy.version }, 'policy loaded');
      this.warn(result.policy);
      this.notify(() => this.options.onLoaded?.({ file, version: result.policy.version, previousVersion: undefined, trigger: 'start' }));
    }
    if (this.options.defaultFile === undefined) {
      this.options.log.warn('no "policy" configured in airlock.config.json: every tool is denied (built-in deny-all policy)');
    }
    this.started = true;
    if (this.options.watch ?? true) this.watchFiles();
  }

  /** Stops watching and waits for a reload in progress; nothing is swapped in afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    for (const watcher of this.watchers.splice(0)) watcher.close();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.chains.values()]);
  }

  /** The compiled policy that decides for an agent. */
  policyFor(agent: Agent): CompiledPolicy {
    if (!this.started) throw new Error('PolicyEngine.start() must finish before policies are evaluated');
    const configured = agent.policy ?? this.options.agentFiles?.[agent.name] ?? this.options.defaultFile;
    if (configured === undefined) return this.builtin.policy;
    const file = path.resolve(configured);
    const slot = this.slots.get(file);
    if (slot) return slot.policy;
    const fallback = this.unloaded.get(file) ?? unloadedPolicy(file);
    this.unloaded.set(file, fallback);
    return fallback;
  }

  /** PolicyPort: the decision for one call, by the agent's policy file (pure evaluate()). */
  evaluate(agent: Agent, name: string, args: Record<string, unknown>, kind: SubjectKind = 'tool'): Decision {
    return evaluate(this.policyFor(agent), agent.name, name, args, kind);
  }

  /** PolicyPort: the arguments against the upstream tool's own inputSchema. */
  validateInput(definition: Tool, args: Record<string, unknown>): ConstraintViolation[] {
    return validateInput(definition, args);
  }

  /** PolicyPort: whether tools/list shows the tool to this agent (see the policy's hide_denied). */
  isVisible(agent: Agent, name: string, kind: SubjectKind = 'tool'): boolean {
    return isVisible(this.policyFor(agent), agent.name, name, kind);
  }

  /** Re-reads every file now (admin API, SIGHUP); never throws for an invalid file. */
  async reload(): Promise<ReloadReport[]> {
    return Promise.all(this.files.map((file) => this.reloadFile(file, 'reload')));
  }

  /** Every loaded policy with its tool table; the built-in one when agents fall back to it. */
  info(): PolicyFileInfo[] {
    const agentsOf = (file: string) =>
      Object.entries(this.options.agentFiles ?? {})
        .filter(([, f]) => path.resolve(f) === file)
        .map(([name]) => name);
    const defaultFile = this.options.defaultFile === undefined ? undefined : path.resolve(this.options.defaultFile);
    const out = [...this.slots.entries()].map(([file, slot]) =>
      describePolicy(slot.policy, { loadedAtMs: slot.loadedAtMs, isDefault: file === defaultFile, agents: agentsOf(file) }),
    );
    if (defaultFile === undefined) out.unshift(describePolicy(this.builtin.policy, { loadedAtMs: this.builtin.loadedAtMs, isDefault: true, agents: [] }));
    return out;
  }

  private reloadFile(file: string, trigger: ReloadTrigger): Promise<ReloadReport> {
    const previous = this.chains.get(file) ?? Promise.resolve(undefined);
    const next = previous.catch(() => undefined).then(() => this.loadAndSwap(file, trigger));
    this.chains.set(file, next);
    void next.finally(() => {
      if (this.chains.get(file) === next) this.chains.delete(file);
    });
    return next;
  }

  private async loadAndSwap(file: string, trigger: ReloadTrigger): Promise<ReloadReport> {
    const result = await loadPolicyFile(file);
    const current = this.slots.get(file);
    if (this.closed) return { file, status: 'unchanged', version: current?.policy.version, problems: [] };
    if (!result.ok) {
      for (const p of result.problems)
        this.options.log.error({ file, path: p.path, reason: p.message }, 'policy change rejected; the last good version keeps serving');
      this.notify(() => this.options.onRejected?.({ file, problems: result.problems, keptVersion: current?.policy.version, trigger }));
      return { file, status: 'rejected', version: current?.policy.version, problems: result.problems };
    }
    const version = result.policy.version;
    if (current?.policy.version === version) return { file, status: 'unchanged', version, problems: [] };
    this.slots.set(file, { policy: result.policy, loadedAtMs: this.now() });
    this.options.log.info({ file, version, previousVersion: current?.policy.version, trigger }, 'policy loaded');
    this.warn(result.policy);
    const event: PolicyLoadedEvent = { file, version, previousVersion: current?.policy.version, trigger };
    this.notify(() => this.options.onLoaded?.(event));
    this.notify(() => this.emit('changed', event));
    return { file, status: 'loaded', version, problems: [] };
  }

  /** Logs a loaded policy's warnings (patterns that would backtrack elsewhere); they never stop a load. */
  private warn(policy: CompiledPolicy): void {
    for (const w of policy.warnings) this.options.log.warn({ file: w.file, path: w.path, warning: w.message }, 'policy warning');
  }

  /** Runs a listener; its failure (say, an audit write) is logged and never undoes a swap. */
  private notify(listener: () => void): void {
    try {
      listener();
    } catch (error) {
      this.options.log.error({ err: error instanceof Error ? error.message : String(error) }, 'policy event listener failed');
    }
  }

  /**
   * Watches each file's directory (editors and Kubernetes ConfigMaps replace files by rename,
   * which a watch on the file itself would miss); any event there re-checks that directory's
   * files after a quiet period. An unchanged content hash swaps nothing.
   */
  private watchFiles(): void {
    const byDir = new Map<string, string[]>();
    for (const file of this.files) byDir.set(path.dirname(file), [...(byDir.get(path.dirname(file)) ?? []), file]);
    for (const [dir, files] of byDir) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.schedule(dir, files));
        watcher.on('error', (error) => this.options.log.warn({ dir, err: error.message }, 'policy watch failed; use reload (admin API) to apply changes'));
        this.watchers.push(watcher);
      } catch (error) {
        this.options.log.warn(
          { dir, err: error instanceof Error ? error.message : String(error) },
          'cannot watch policy directory; use reload (admin API) to apply changes',
        );
      }
    }
  }

  private schedule(dir: string, files: readonly string[]): void {
    if (this.closed) return;
    clearTimeout(this.timers.get(dir));
    const timer = setTimeout(() => {
      this.timers.delete(dir);
      for (const file of files) void this.reloadFile(file, 'watch');
    }, this.options.debounceMs ?? 100);
    timer.unref();
    this.timers.set(dir, timer);
  }
}

/** Deny-all for an agent whose policy file is not among those loaded (fail closed, say why). */
function unloadedPolicy(file: string): CompiledPolicy {
  const result = parsePolicy({
    version: '1',
    default: 'deny',
    default_reason: `This agent's policy file ${file} is not loaded by the gateway, so every tool is denied. An operator must add the agent to airlock.config.json and restart.`,
  });
  if (!result.ok) throw new Error('unreachable: the fallback policy is valid');
  return { ...result.policy, source: file };
}
